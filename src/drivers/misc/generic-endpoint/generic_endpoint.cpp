// The generic DMA endpoint driver (--generic-endpoints): binds every DMA
// master firmware describes (`iommus`, a legacy SMMU's `mmu-masters`) or
// that sits on a PCI bus, when no other driver exists for it. Its probe goes
// through the normal dma_configure step, so it defers on, attaches to, or
// falls back without its IOMMU exactly as a real consumer driver would:
// `modiommu check` uses it to boot whole real boards.
//
// Matching: the driver core matches by compatible, so at init the driver
// lists the first compatible of every candidate device. A device that shares
// such a string but is not a candidate (no IOMMU description, or another
// driver appeared since) gets ENODEV from probe: "not mine", and the core
// moves on to the next driver.
//
// Locking: probe/remove run under the driver-model lock like any driver's.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "core/driver.h"
#include "core/of_platform.h"
#include "core/pci.h"
#include "kernel/driver_context.h"
#include "module/module.h"
#include "of/tree.h"

namespace modiommu {
namespace {

constexpr const char* kName = "generic-endpoint";

class GenericEndpoint : public Driver {
 public:
  GenericEndpoint(DriverContext& ctx, Module& m, Bus* on) : ctx_(ctx) {
    name = on == &ctx.platform_bus() ? std::string(kName) : std::string(kName) + "-" + on->name();
    bus = on;
    owner = &m;
    // As the real parent drivers would (venus's video-firmware, a
    // remoteproc's glink-edge): compatible-less children that do DMA.
    makes_firmware_children = true;
  }

  // A DMA master by firmware description (or by bus), or the parent of one
  // (it populates its children as their real parent driver would), with no
  // other driver registered or available as a module.
  bool candidate(const Device& dev) const {
    if (!dma_master(dev) && !(dev.fwnode() && master_below(*dev.fwnode()))) return false;
    if (dev.bus())
      for (Driver* d : ctx_.core().drivers())
        if (d != this && d->bus == dev.bus() && dev.bus()->match(dev, *d)) return false;
    if (ctx_.core().hooks().module_for && !ctx_.core().hooks().module_for(dev).empty()) return false;
    return true;
  }

  static bool dma_master(const Device& dev) {
    // PCI functions are masters; bridges are not (pcieport drives them).
    if (const PciDevice* pd = to_pci(&dev)) return !pd->info().bridge;
    if (dev.bus() && dev.bus()->name() == "pci") return true;
    return dev.fwnode() && of_dma_master(*dev.fwnode());
  }

  // A DMA master among the nodes that populating `n`'s children would
  // create (children that are devices already, a bus's, do not count).
  bool master_below(const of::Node& n) const {
    for (const auto& c : n.children())
      if (c->available() && !ctx_.core().find_device_by_fwnode(c.get()) && (of_dma_master(*c) || master_below(*c)))
        return true;
    return false;
  }

  // A node some other driver (registered, or a module's alias) will take.
  bool served_elsewhere(const of::Node& n) const {
    for (const auto& c : n.compatible()) {
      for (Driver* d : ctx_.core().drivers())
        if (d != this && d->bus == bus && std::find(d->of_match.begin(), d->of_match.end(), c) != d->of_match.end())
          return true;
      if (!ctx_.modules_for_alias("of:" + c).empty()) return true;
    }
    return false;
  }

  Status probe(Device& dev) override {
    if (!candidate(dev)) return make_error(Errc::nodev, dev.name() + ": not a driverless DMA master");
    dev.dma_mask = ~uint64_t{0};
    // One page through the DMA API shows the domain it got works: a real
    // driver's first dma_map_single() would fail the same way.
    auto pa = ctx_.pages().alloc(kPageBytes);
    if (!pa.ok()) {
      ctx_.log().debug(dev.name(), "no kernel memory for the DMA API check: {}", pa.error().message);
      return {};
    }
    auto iova = ctx_.dma().map_single(dev, *pa, kPageBytes, iommu::DmaDirection::bidirectional);
    Status st;
    if (!iova.ok()) st = make_error(Errc::io, "dma_map_single of one page failed: " + iova.error().message);
    else st = ctx_.dma().unmap_single(dev, *iova, kPageBytes, iommu::DmaDirection::bidirectional);
    (void)ctx_.pages().free(*pa);
    return st;
  }

  void remove(Device&) override {}

 private:
  static constexpr size_t kPageBytes = 4096;
  DriverContext& ctx_;
};

// One driver per bus with candidates (platform; PCI functions enumerated
// by then). Devices that appear later (hotplug) are not covered.
struct Drivers {
  std::vector<std::unique_ptr<GenericEndpoint>> per_bus;
};

Status generic_endpoint_init(DriverContext& ctx, Module& m) {
  if (!ctx.generic_endpoints()) return {};  // built in everywhere; active only when asked
  auto all = std::make_unique<Drivers>();
  std::map<Bus*, std::set<std::string>> compat;
  for (Device* d : ctx.core().devices())
    if (d->bus() && !d->compatible().empty()) compat[d->bus()];
  size_t kinds = 0;
  if (ctx.populate_policy() == PopulatePolicy::drivers && ctx.tree()) compat[&ctx.platform_bus()];
  for (auto& [bus, names] : compat) {
    auto drv = std::make_unique<GenericEndpoint>(ctx, m, bus);
    for (Device* d : ctx.core().devices())
      if (d->bus() == bus && !d->compatible().empty() && drv->candidate(*d)) names.insert(d->compatible().front());
    // Nodes that become devices only once their parent binds: their
    // compatibles too (probe still checks each device).
    if (bus == &ctx.platform_bus() && ctx.populate_policy() == PopulatePolicy::drivers && ctx.tree())
      for (const of::Node* n : ctx.tree()->nodes())
        if (n->parent() && n->available() && !n->compatible().empty() && !ctx.core().find_device_by_fwnode(n) &&
            (of_dma_master(*n) || drv->master_below(*n)) && !drv->served_elsewhere(*n))
          names.insert(n->compatible().front());
    if (names.empty()) continue;
    drv->of_match.assign(names.begin(), names.end());
    kinds += names.size();
    all->per_bus.push_back(std::move(drv));
  }
  ctx.log().info("", "{}: {} kinds of driverless DMA masters to bind", kName, kinds);
  for (auto& drv : all->per_bus) {
    Status st = ctx.core().register_driver(drv.get());
    if (!st.ok()) {
      for (auto& done : all->per_bus) {
        if (done == drv) break;
        ctx.core().unregister_driver(done.get());
      }
      return st;
    }
  }
  m.set_private(all.release());
  return {};
}

void generic_endpoint_exit(DriverContext& ctx, Module& m) {
  auto* all = static_cast<Drivers*>(m.private_data());
  if (!all) return;
  for (auto it = all->per_bus.rbegin(); it != all->per_bus.rend(); ++it) ctx.core().unregister_driver(it->get());
  delete all;
}

}  // namespace
}  // namespace modiommu

MODIOMMU_MODULE(generic_endpoint, .version = "1.0", .license = "GPL-2.0",
                .description = "generic DMA endpoint: binds driverless DMA masters through the normal IOMMU path",
                .init = modiommu::generic_endpoint_init, .exit = modiommu::generic_endpoint_exit);
