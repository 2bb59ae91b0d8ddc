#include "board/pci_model.h"

#include <fmt/format.h>

#include "hw/dmatest.h"
#include "hw/machine.h"
#include "hw/virtio/virtio_iommu.h"
#include "hw/virtio/virtio_pci.h"
#include "board/model_virtio.h"
#include "board/platform.h"

namespace modiommu {

namespace {

// PCI bus binding (IEEE 1275 PCI / Linux pci.txt): phys.hi = npt000ss
// bbbbbbbb dddddfff rrrrrrrr. Bus in [23:16], devfn in [15:8], space in [25:24].
struct PciAddr {
  uint8_t bus = 0, devfn = 0;
};
Result<PciAddr> child_addr(const of::Node& n) {
  const of::Property* reg = n.prop("reg");
  if (!reg) return make_error(Errc::inval, n.path() + ": a PCI function node needs reg (bus/device/function)");
  auto cells = TRY(reg->cells());
  if (cells.empty()) return make_error(Errc::inval, n.path() + ": empty reg");
  return PciAddr{static_cast<uint8_t>(cells[0] >> 16), static_cast<uint8_t>(cells[0] >> 8)};
}

std::string bdf(uint8_t bus, uint8_t devfn) { return fmt::format("{:02x}:{:02x}.{}", bus, devfn >> 3, devfn & 7); }

}  // namespace

uint8_t pci_swizzle_pin(uint8_t pin, uint8_t devfn) {
  return static_cast<uint8_t>((pin - 1u + (devfn >> 3)) % 4 + 1);
}

Result<unsigned> pci_intx_irq(const of::Node& host, uint16_t rid, uint8_t pin, const std::vector<uint16_t>& bridges) {
  const std::string who = fmt::format("{} {} INT{}", host.path(), bdf(uint8_t(rid >> 8), uint8_t(rid)),
                                      pin >= 1 && pin <= 4 ? char('A' + pin - 1) : '?');
  if (pin < 1 || pin > 4) return make_error(Errc::inval, who + ": interrupt pin must be 1..4");
  // Each bridge on the way up swizzles by the device number below it.
  uint16_t at = rid;
  for (uint16_t b : bridges) {
    pin = pci_swizzle_pin(pin, static_cast<uint8_t>(at));
    at = b;
  }
  const of::Property* map = host.prop("interrupt-map");
  if (!map) return make_error(Errc::noent, who + ": the host bridge has no interrupt-map");
  if (host.address_cells() != 3 || host.u32("#interrupt-cells").value_or(1) != 1)
    return make_error(Errc::inval, who + ": interrupt-map needs #address-cells = 3 and #interrupt-cells = 1");
  auto cells = TRY(map->cells());
  const uint32_t child[4] = {uint32_t{at} << 8, 0, 0, pin};  // phys.hi: bus [23:16], devfn [15:8]
  uint32_t mask[4] = {~0u, ~0u, ~0u, ~0u};
  if (const of::Property* mp = host.prop("interrupt-map-mask")) {
    auto m = TRY(mp->cells());
    if (m.size() != 4) return make_error(Errc::inval, who + ": interrupt-map-mask must have 4 cells");
    std::copy(m.begin(), m.end(), mask);
  }
  for (size_t i = 0, entry = 0; i < cells.size(); ++entry) {
    if (i + 5 > cells.size()) return make_error(Errc::inval, fmt::format("{}: interrupt-map entry {} is truncated", who, entry));
    const of::Node* parent = host.tree().by_phandle(cells[i + 4]);
    if (!parent)
      return make_error(Errc::inval, fmt::format("{}: interrupt-map entry {}: phandle {:#x} names no node", who, entry, cells[i + 4]));
    const uint32_t pac = parent->u32("#address-cells").value_or(0);
    const auto pic = parent->u32("#interrupt-cells");
    if (!pic) return make_error(Errc::inval, fmt::format("{}: interrupt-map entry {}: {} has no #interrupt-cells", who, entry, parent->path()));
    if (i + 5 + pac + *pic > cells.size())
      return make_error(Errc::inval, fmt::format("{}: interrupt-map entry {} is truncated", who, entry));
    bool match = true;
    for (unsigned c = 0; c < 4; ++c) match = match && ((cells[i + c] ^ child[c]) & mask[c]) == 0;
    if (match) {
      if (!parent->has("interrupt-controller") || *pic < 2)
        return make_error(Errc::notsup, fmt::format("{}: interrupt-map points at {}, which is not a GIC-style interrupt controller", who, parent->path()));
      return gic_interrupt_id(cells[i + 5 + pac], cells[i + 6 + pac]);
    }
    i += 5 + pac + *pic;
  }
  return make_error(Errc::noent, who + ": no interrupt-map entry matches");
}

PciHostModel::PciHostModel(const of::Node& host, std::shared_ptr<hw::pci::PciEcam> ecam, Platform& p)
    : host_(host), ecam_(std::move(ecam)), p_(p) {
  next_bus_ = static_cast<uint8_t>(ecam_->bus_first() + 1);
}

PciHostModel::~PciHostModel() { stop(); }

void PciHostModel::stop() {
  // Stop DMA masters before the models they talk to go away.
  for (auto& [rid, f] : fns_)
    if (auto dt = std::dynamic_pointer_cast<hw::DmaTest>(f.fn->bar0_device)) dt->stop();
}

// The first 32-bit (else 64-bit) memory window of `ranges` (PCI binding:
// child address 3 cells, parent address per the parent, size 2 cells).
Status PciHostModel::populate() {
  const of::Property* ranges = host_.prop("ranges");
  if (ranges) {
    auto cells = TRY(ranges->cells());
    const unsigned pac = host_.parent() ? host_.parent()->address_cells() : 2;
    const unsigned entry = 3 + pac + 2;
    for (size_t i = 0; i + entry <= cells.size(); i += entry) {
      const unsigned space = (cells[i] >> 24) & 3;
      if (space != 2 && space != 3) continue;
      const uint64_t pci = uint64_t{cells[i + 1]} << 32 | cells[i + 2];
      uint64_t cpu = 0;
      for (unsigned c = 0; c < pac; ++c) cpu = cpu << 32 | cells[i + 3 + c];
      const uint64_t size = uint64_t{cells[i + 3 + pac]} << 32 | cells[i + 4 + pac];
      if (pci != cpu) continue;  // this model assigns BARs 1:1 (as QEMU virt's windows are)
      mem_next_ = cpu;
      mem_end_ = cpu + size;
      if (space == 2) break;
    }
  }
  // BARs are MMIO: a window over RAM would put registers where DMA and the
  // CPU see memory, so it is refused like any model overlapping RAM.
  bool over_ram = false;
  for (const auto& r : p_.machine().memory().regions())
    if (!over_ram && mem_end_ > mem_next_ && mem_next_ < r.base + r.size && r.base < mem_end_) {
      p_.log().err("", "{}: PCI memory window [{:#x}, {:#x}) overlaps RAM [{:#x}, +{:#x}) of {}: PCI functions get no BARs",
                   host_.path(), mem_next_, mem_end_, r.base, r.size, r.name);
      over_ram = true;
      mem_end_ = mem_next_;
    }
  if (mem_end_ == mem_next_ && !over_ram)
    p_.log().warn("", "{}: no identity-mapped memory window in ranges: PCI functions get no BARs", host_.path());
  return walk(host_, static_cast<uint8_t>(ecam_->bus_first()), std::nullopt);
}

Result<uint64_t> PciHostModel::alloc_bar(uint64_t size) {
  const uint64_t at = (mem_next_ + size - 1) & ~(size - 1);
  if (mem_end_ <= mem_next_ || at + size > mem_end_)
    return make_error(Errc::nomem, fmt::format("{}: the memory window has no room for a {:#x}-byte BAR", host_.path(), size));
  mem_next_ = at + size;
  return at;
}

Status PciHostModel::add_function(uint8_t bus, uint8_t devfn, const of::Node* node, const std::string& kind,
                                  std::optional<uint16_t> alias, uint8_t secondary) {
  const std::string name = node ? node->path() : fmt::format("{} {}", host_.path(), bdf(bus, devfn));
  Function f;
  f.rid = static_cast<uint16_t>(bus << 8 | devfn);
  f.dma_rid = alias.value_or(f.rid);
  f.node = node;
  f.kind = kind;
  hw::Machine& m = p_.machine();
  std::shared_ptr<hw::DmaTranslator> translator;  // an IOMMU model this function is
  if (kind == "dmatest") {
    auto dt = std::make_shared<hw::DmaTest>(name, m.memory(), 1 << 20, nullptr);
    f.port = &dt->port();
    f.fn = hw::pci::make_endpoint(name, hw::pci::kDmaTestVendor, hw::pci::kDmaTestDevice, hw::pci::kDmaTestClass, dt);
    f.bar = TRY(alloc_bar(0x1000));
    f.fn->set_bar_address(0, *f.bar);
    TRY(m.add_device(*f.bar, 0x1000, dt));
  } else if (kind == "virtio-iommu") {
    // A virtio-iommu behind a virtio-pci function; the functions the host
    // bridge's iommu-map sends to this node translate through it.
    auto viommu = std::make_shared<hw::virtio::VirtioIommu>(
        name, m.memory(), node ? virtio_iommu_options(*node) : hw::virtio::VirtioIommuOptions{});
    hw::IrqLine* irq = nullptr;
    if (auto num = intx_irq(bus, devfn, 1); num.ok()) {
      f.irq = *num;
      irq = &m.irq(*num);
    } else {
      p_.log().warn("", "{}: INTx not wired: {}", name, num.error().message);
    }
    auto vp = std::make_shared<hw::virtio::VirtioPci>(name, m.memory(), viommu, irq);
    f.fn = vp;
    f.bar = TRY(alloc_bar(hw::virtio::VirtioPci::kBarSize));
    vp->set_bar_address(hw::virtio::VirtioPci::kBar, *f.bar);
    TRY(m.add_device(*f.bar, hw::virtio::VirtioPci::kBarSize, vp));
    translator = viommu;
  } else if (kind == "root-port" || kind == "pcie-to-pci-bridge") {
    f.fn = kind == "root-port" ? hw::pci::make_root_port(name, node && node->has("modiommu,acs"))
                               : hw::pci::make_pcie_to_pci_bridge(name);
    f.fn->set_bus_numbers(bus, secondary, secondary);
  } else {
    return make_error(Errc::notsup, name + ": no PCI model of kind " + kind);
  }
  Status s = ecam_->plug(bus, devfn, f.fn);
  if (!s.ok()) {
    if (f.bar) (void)m.remove_device(*f.bar);
    return s;
  }
  if (translator && node) p_.add_translator(node, std::move(translator));
  std::lock_guard g(lock_);
  const uint16_t rid = f.rid;
  fns_[rid] = std::move(f);
  // Two or more functions in one slot make a multi-function device (QEMU's
  // multifunction=on): each says so in its header.
  std::vector<hw::pci::PciFunction*> slot;
  for (auto& [r, sf] : fns_)
    if ((r >> 3) == (rid >> 3)) slot.push_back(sf.fn.get());
  if (slot.size() > 1)
    for (auto* sf : slot) sf->set_multifunction(true);
  return {};
}

Status PciHostModel::walk(const of::Node& parent, uint8_t bus, std::optional<uint16_t> alias) {
  for (const auto& child : parent.children()) {
    const of::Node& n = *child;
    if (!n.available() || !n.has("compatible")) continue;
    auto a = child_addr(n);
    if (!a.ok()) {
      p_.log().err("", "{}", a.error().message);
      continue;
    }
    if (a->bus != bus)
      p_.log().warn("", "{}: reg says bus {:02x} but it sits on bus {:02x}: using {:02x}", n.path(), a->bus, bus, a->bus);
    Status s;
    if (n.is_compatible("modiommu,dmatest-pci")) {
      s = add_function(a->bus, a->devfn, &n, "dmatest", alias, 0);
    } else if (n.is_compatible("virtio,pci-iommu") || n.is_compatible("pci1af4,1057")) {
      s = add_function(a->bus, a->devfn, &n, "virtio-iommu", alias, 0);
    } else if (n.is_compatible("pciclass,0604") || n.is_compatible("modiommu,pcie-to-pci-bridge")) {
      const bool p2p = n.is_compatible("modiommu,pcie-to-pci-bridge");
      // Its secondary bus is where its children say they are.
      uint8_t secondary = next_bus_;
      for (const auto& c : n.children())
        if (auto ca = child_addr(*c); ca.ok()) {
          secondary = ca->bus;
          break;
        }
      next_bus_ = static_cast<uint8_t>(std::max<unsigned>(next_bus_, secondary + 1u));
      s = add_function(a->bus, a->devfn, &n, p2p ? "pcie-to-pci-bridge" : "root-port", alias, secondary);
      // Below a PCIe-to-PCI bridge, DMA carries the bridge's secondary bus
      // with devfn 0 (the topmost such bridge wins).
      std::optional<uint16_t> below = alias;
      if (!below && p2p) below = static_cast<uint16_t>(secondary << 8);
      if (s.ok()) s = walk(n, secondary, below);
    } else {
      p_.log().info("", "{}: PCI function {} has no model here (compatible {})", n.path(), bdf(a->bus, a->devfn),
                    n.compatible().empty() ? "?" : n.compatible().front());
      continue;
    }
    if (!s.ok()) p_.log().err("", "{}: {}", n.path(), s.error().message);
  }
  return {};
}

void PciHostModel::wire(Function& f) {
  if (!f.port) {
    // A bridge does no DMA of its own, but the IOMMU knows it as an endpoint
    // all the same (QEMU's virtio-iommu knows every function on the buses it
    // translates), so the OS can put it in its group.
    if (!f.fn->is_bridge()) return;
    auto mapped = of::map_id(host_, f.dma_rid);
    if (!mapped.ok() || mapped->kind != of::MappedId::Kind::mapped || !mapped->iommu->available()) return;
    if (auto t = p_.translator(mapped->iommu)) t->declare_stream(mapped->id);
    return;
  }
  f.port->set_direct();
  auto mapped = of::map_id(host_, f.dma_rid);
  if (!mapped.ok()) {
    p_.log().err("", "{}: requester ID {:#06x}: {}", host_.path(), f.dma_rid, mapped.error().message);
    return;
  }
  if (mapped->kind != of::MappedId::Kind::mapped || !mapped->iommu->available()) return;
  auto t = p_.translator(mapped->iommu);
  if (!t) {
    p_.log().info("", "{}: requester ID {:#06x}'s IOMMU {} has no model here: DMA goes straight to memory",
                  host_.path(), f.dma_rid, mapped->iommu->path());
    return;
  }
  f.port->set_translator(std::move(t), mapped->id);
}

void PciHostModel::wire_all() {
  std::lock_guard g(lock_);
  for (auto& [rid, f] : fns_) wire(f);
}

Result<unsigned> PciHostModel::intx_irq(uint8_t bus, uint8_t devfn, uint8_t pin) const {
  std::vector<uint16_t> bridges;
  {
    std::lock_guard g(lock_);
    for (unsigned cur = bus, hops = 0; cur != ecam_->bus_first() && hops < 256; ++hops) {
      const Function* up = nullptr;
      for (auto& [rid, f] : fns_)
        if (f.fn->is_bridge() && f.fn->config_read(modiommu::uapi::pci::SECONDARY_BUS, 1) == cur) up = &f;
      if (!up) return make_error(Errc::noent, fmt::format("{}: no bridge leads to bus {:02x}", host_.path(), cur));
      bridges.push_back(up->rid);
      cur = up->rid >> 8;
    }
  }
  return pci_intx_irq(host_, static_cast<uint16_t>(bus << 8 | devfn), pin, bridges);
}

hw::UpstreamPort* PciHostModel::port(uint16_t rid) const {
  std::lock_guard g(lock_);
  auto it = fns_.find(rid);
  return it == fns_.end() ? nullptr : it->second.port;
}

const PciHostModel::Function* PciHostModel::function(uint16_t rid) const {
  std::lock_guard g(lock_);
  auto it = fns_.find(rid);
  return it == fns_.end() ? nullptr : &it->second;
}

Status PciHostModel::hotplug_add(uint8_t bus, uint8_t devfn, const std::string& kind) {
  if (kind != "dmatest")
    return make_error(Errc::notsup, "hotplug add: unknown kind '" + kind + "' (known: dmatest)");
  std::optional<uint16_t> alias;
  bool bus_exists = bus == ecam_->bus_first();
  {
    std::lock_guard g(lock_);
    for (auto& [rid, f] : fns_) {
      if (!f.fn->is_bridge() || f.fn->config_read(modiommu::uapi::pci::SECONDARY_BUS, 1) != bus) continue;
      bus_exists = true;
      if (f.kind == "pcie-to-pci-bridge") alias = f.dma_rid != f.rid ? f.dma_rid : static_cast<uint16_t>(bus << 8);
      else if (f.dma_rid != f.rid) alias = f.dma_rid;
    }
  }
  if (!bus_exists)
    return make_error(Errc::noent, fmt::format("hotplug add: no bridge of {} leads to bus {:02x}", host_.path(), bus));
  TRY(add_function(bus, devfn, nullptr, kind, alias, 0));
  std::lock_guard g(lock_);
  wire(fns_[static_cast<uint16_t>(bus << 8 | devfn)]);
  return {};
}

Status PciHostModel::hotplug_remove(uint16_t rid) {
  Function f;
  {
    std::lock_guard g(lock_);
    auto it = fns_.find(rid);
    if (it == fns_.end()) return make_error(Errc::noent, fmt::format("no PCI function {} on {}", bdf(uint8_t(rid >> 8), uint8_t(rid)), host_.path()));
    if (it->second.fn->is_bridge()) return make_error(Errc::notsup, "hotplug remove of a bridge is not supported");
    f = std::move(it->second);
    fns_.erase(it);
  }
  (void)ecam_->unplug(rid >> 8, rid & 0xff);
  if (auto dt = std::dynamic_pointer_cast<hw::DmaTest>(f.fn->bar0_device)) {
    dt->stop();
    std::lock_guard g(lock_);
    retired_.escapes += dt->port().stats().escapes;
    retired_.transfers += dt->read(hw::DmaTest::kXFER_COUNT, 8);
  }
  if (f.bar) (void)p_.machine().bus().unmap(*f.bar);
  return {};
}

}  // namespace modiommu
