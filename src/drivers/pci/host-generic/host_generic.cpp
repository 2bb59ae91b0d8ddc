// pci-host-generic: drives an ECAM host bridge ("pci-host-ecam-generic")
// the way drivers/pci/controller/pci-host-generic.c and the PCI core's
// probe.c do: read configuration space function by function, follow
// bridges to their secondary buses, size BARs, read the PCIe port type and
// ACS, and add a PCI device for each function (its device-tree node, when
// the tree describes it, as fwnode). rescan() serves hotplug; removing the
// bridge removes every device below it first.
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/device.h"
#include "core/pci.h"
#include "kernel/driver_module.h"
#include "kernel/driver_context.h"
#include "module/module.h"
#include "uapi/pci_regs.h"

namespace modiommu::pci_host_generic {
namespace {

namespace regs = uapi::pci;

class EcamHost : public PciHost {
 public:
  EcamHost(DriverContext& ctx, Device& dev) : ctx_(ctx), dev_(dev) {}
  Device& device() override { return dev_; }

  Status probe() {
    ecam_ = TRY(ctx_.ioremap(dev_, 0));
    first_ = 0;
    last_ = static_cast<unsigned>(std::min<uint64_t>(ecam_.size() >> 20, 256)) - 1;
    if (const of::Property* br = dev_.fwnode()->prop("bus-range")) {
      auto c = TRY(br->cells());
      if (c.size() == 2 && c[0] <= c[1]) {
        first_ = c[0];
        last_ = std::min<unsigned>(c[1], first_ + last_);
      }
    }
    // Registered before the first scan: drivers probed for the functions it
    // finds may already use its configuration access.
    ctx_.pci().register_host(this);
    registered_ = true;
    TRY(rescan());
    return {};
  }

  void remove() {
    if (registered_) ctx_.pci().unregister_host(this);
    registered_ = false;
    // Children first: the driver core unbinds each device's driver (its DMA
    // stops, its IOMMU is released) before the device goes.
    for (auto it = devs_.rbegin(); it != devs_.rend(); ++it) ctx_.core().remove_device(*it->second);
    devs_.clear();
  }

  Status remove_function(uint16_t rid) override {
    auto it = devs_.find(rid);
    if (it == devs_.end()) return make_error(Errc::noent, fmt::format("{}: no PCI device {:#06x}", dev_.name(), rid));
    Device* gone = it->second;
    ctx_.core().remove_device(*gone);
    // Anything below it (a bridge's subtree) went with it.
    std::erase_if(devs_, [&](auto& e) {
      for (Device* d = e.second; d; d = d->parent())
        if (d == gone) return true;
      return false;
    });
    return {};
  }

  // Driver configuration access over ECAM (PCIe 4.0 7.2.2: 1/2/4-byte
  // naturally aligned accesses).
  Result<uint32_t> config_read(uint16_t rid, uint32_t off, unsigned size) override {
    TRY(check_access(rid, off, size));
    const uint64_t at = off_of(rid, off);
    return size == 1 ? ecam_.readb(at) : size == 2 ? ecam_.readw(at) : ecam_.readl(at);
  }
  Status config_write(uint16_t rid, uint32_t off, uint32_t value, unsigned size) override {
    TRY(check_access(rid, off, size));
    const uint64_t at = off_of(rid, off);
    if (size == 1) ecam_.writeb(at, static_cast<uint8_t>(value));
    else if (size == 2) ecam_.writew(at, static_cast<uint16_t>(value));
    else ecam_.writel(at, value);
    return {};
  }

  // Enumerate; add devices for new functions, remove those that are gone.
  Status rescan() override {
    std::map<uint16_t, PciInfo> found;
    // rid -> upstream bridge rid; none on the root bus (every 16-bit value,
    // 0xffff included, is a valid requester ID).
    std::map<uint16_t, std::optional<uint16_t>> parent;
    scan_bus(static_cast<uint8_t>(first_), std::nullopt, found, parent, 0);
    std::vector<uint16_t> gone;
    for (auto& [rid, d] : devs_)
      if (!found.count(rid)) gone.push_back(rid);
    for (auto it = gone.rbegin(); it != gone.rend(); ++it) {
      ctx_.log().info(dev_.name(), "{}: function gone (hot removal)", devs_[*it]->name());
      ctx_.core().remove_device(*devs_[*it]);
      devs_.erase(*it);
    }
    ctx_.core().hold_probes();
    for (auto& [rid, info] : found) {
      if (devs_.count(rid)) continue;
      PciDevice* up = nullptr;
      if (const std::optional<uint16_t> p = parent[rid]; p && devs_.count(*p)) up = static_cast<PciDevice*>(devs_[*p]);
      const of::Node* node = find_node(info, up);
      auto d = std::make_shared<PciDevice>(info, &ctx_.pci().bus(), node, &dev_, up);
      Device* added = ctx_.core().add_device(d);
      devs_[rid] = added;
      ctx_.log().info(added->name(), "PCI function {:04x}:{:04x} class {:06x}{}", info.vendor, info.device,
                    info.class_code, info.bridge ? " (bridge)" : "");
    }
    ctx_.core().release_probes();
    return {};
  }

 private:
  Status check_access(uint16_t rid, uint32_t off, unsigned size) const {
    if ((size != 1 && size != 2 && size != 4) || off % size || off + size > 4096)
      return make_error(Errc::inval, fmt::format("{}: bad configuration access ({} bytes at {:#x})", dev_.name(), size, off));
    if ((rid >> 8) < first_ || (rid >> 8) > last_)
      return make_error(Errc::range, fmt::format("{}: bus {:02x} is outside the bus range", dev_.name(), rid >> 8));
    return {};
  }
  uint64_t off_of(uint16_t rid, uint32_t reg) const { return off(static_cast<uint8_t>(rid >> 8), static_cast<uint8_t>(rid), reg); }
  uint64_t off(uint8_t bus, uint8_t devfn, uint32_t reg) const {
    return uint64_t(bus - first_) << 20 | uint64_t{devfn} << 12 | reg;
  }
  uint32_t rd32(uint8_t bus, uint8_t devfn, uint32_t reg) const { return ecam_.readl(off(bus, devfn, reg & ~3u)); }
  uint32_t rd(uint8_t bus, uint8_t devfn, uint32_t reg, unsigned size) const {
    const uint32_t v = rd32(bus, devfn, reg) >> (8 * (reg & 3));
    return size == 4 ? v : v & ((1u << (8 * size)) - 1);
  }

  void scan_bus(uint8_t bus, std::optional<uint16_t> upstream, std::map<uint16_t, PciInfo>& found,
                std::map<uint16_t, std::optional<uint16_t>>& parent, int depth) {
    if (bus < first_ || bus > last_ || depth > 16) return;
    for (unsigned dev = 0; dev < 32; ++dev) {
      for (unsigned fn = 0; fn < 8; ++fn) {
        const uint8_t devfn = static_cast<uint8_t>(dev << 3 | fn);
        const uint32_t id = rd32(bus, devfn, regs::VENDOR_ID);
        if ((id & 0xffff) == 0xffff) {
          if (fn == 0) break;  // no function 0: the slot is empty
          continue;
        }
        const uint8_t header = static_cast<uint8_t>(rd(bus, devfn, regs::HEADER_TYPE, 1));
        PciInfo i;
        i.bus = bus;
        i.devfn = devfn;
        i.vendor = static_cast<uint16_t>(id);
        i.device = static_cast<uint16_t>(id >> 16);
        i.class_code = regs::CLASS_REVISION_CLASS::get(rd32(bus, devfn, regs::REVISION));
        i.bridge = regs::HEADER_TYPE_LAYOUT::get(header) == regs::HEADER_TYPE_BRIDGE;
        i.irq_pin = static_cast<uint8_t>(rd(bus, devfn, regs::INTERRUPT_PIN, 1));
        if (!i.bridge) {
          const uint32_t sub = rd32(bus, devfn, regs::SUBSYSTEM_VENDOR_ID);
          i.subsystem_vendor = static_cast<uint16_t>(sub);
          i.subsystem_device = static_cast<uint16_t>(regs::SUBSYSTEM_ID::get(sub));
        }
        read_caps(i);
        size_bars(i);
        if (i.bridge) {
          const uint32_t buses = rd32(bus, devfn, regs::PRIMARY_BUS);
          i.secondary = static_cast<uint8_t>(regs::BUSES_SECONDARY::get(buses));
          i.subordinate = static_cast<uint8_t>(regs::BUSES_SUBORDINATE::get(buses));
        }
        found[i.rid()] = i;
        parent[i.rid()] = upstream;
        if (i.bridge && i.secondary > bus) scan_bus(i.secondary, i.rid(), found, parent, depth + 1);
        if (fn == 0 && !(header & regs::HEADER_TYPE_MULTI)) break;  // single-function device
      }
    }
  }

  // PCIe capability (port type) and the ACS extended capability.
  void read_caps(PciInfo& i) const {
    if (rd(i.bus, i.devfn, regs::STATUS, 2) & regs::STATUS_CAP_LIST) {
      uint32_t at = rd(i.bus, i.devfn, regs::CAPABILITY_LIST, 1) & ~3u;
      for (int guard = 0; at >= regs::CAP_LIST_START && guard < 48; ++guard) {
        const uint32_t h = rd32(i.bus, i.devfn, at);
        if (regs::CAP_ID::get(h) == regs::CAP_ID_EXP)
          i.port = static_cast<PciPortType>(
              regs::EXP_FLAGS_TYPE::get(static_cast<uint16_t>(rd(i.bus, i.devfn, at + regs::EXP_FLAGS, 2))));
        at = regs::CAP_NEXT::get(h) & ~3u;
      }
    }
    uint32_t at = regs::EXT_CAP_START;
    for (int guard = 0; at >= regs::EXT_CAP_START && guard < 64; ++guard) {
      const uint32_t h = rd32(i.bus, i.devfn, at);
      if (h == 0 || h == 0xffffffffu) break;
      if (regs::EXT_CAP_ID::get(h) == regs::EXT_CAP_ID_ACS)
        i.acs_ctrl = static_cast<uint16_t>(rd(i.bus, i.devfn, at + regs::ACS_CTRL, 2));
      at = regs::EXT_CAP_NEXT::get(h) & ~3u;
    }
  }

  // PCI Local Bus 6.2.5.1: write ones, read the mask, restore. Firmware
  // assigned the addresses; this OS keeps them (probe-only).
  void size_bars(PciInfo& i) const {
    const unsigned n = i.bridge ? regs::kBarsType1 : regs::kBarsType0;
    const uint16_t cmd = static_cast<uint16_t>(rd(i.bus, i.devfn, regs::COMMAND, 2));
    for (unsigned b = 0; b < n; ++b) {
      const uint64_t reg = off(i.bus, i.devfn, regs::BAR0 + 4 * b);
      const uint32_t lo = ecam_.readl(reg);
      if (lo & regs::BAR_SPACE_IO) continue;  // I/O BAR: not used here
      const bool is64 = (lo & regs::BAR_MEM_TYPE_MASK) == regs::BAR_MEM_TYPE_64 && b + 1 < n;
      const uint32_t hi = is64 ? ecam_.readl(reg + 4) : 0;
      ecam_.writel(reg, 0xffffffffu);
      if (is64) ecam_.writel(reg + 4, 0xffffffffu);
      const uint64_t mask =
          ((uint64_t{is64 ? ecam_.readl(reg + 4) : 0xffffffffu} << 32) | ecam_.readl(reg)) & regs::BAR_MEM_ADDR_MASK;
      ecam_.writel(reg, lo);
      if (is64) ecam_.writel(reg + 4, hi);
      if ((mask & 0xffffffffu) != 0) {
        i.bars[b].size = ~mask + 1;
        i.bars[b].addr = (uint64_t{hi} << 32 | lo) & regs::BAR_MEM_ADDR_MASK;
      }
      if (is64) ++b;
    }
    // Memory decoding and bus mastering on: the OS's pci_enable_device().
    ecam_.writel(off(i.bus, i.devfn, regs::COMMAND), cmd | regs::COMMAND_MEMORY | regs::COMMAND_MASTER);
  }

  // The device-tree node for a function: a child of the host bridge (or of
  // the bridge node above it) whose reg names the same bus and devfn.
  const of::Node* find_node(const PciInfo& i, PciDevice* up) const {
    const of::Node* parent = up ? up->fwnode() : dev_.fwnode();
    if (!parent) return nullptr;
    for (const auto& c : parent->children()) {
      const of::Property* reg = c->prop("reg");
      if (!reg) continue;
      auto cells = reg->cells();
      if (!cells.ok() || cells->empty()) continue;
      if (((*cells)[0] >> 8 & 0xffff) == i.rid()) return c.get();
    }
    return nullptr;
  }

  DriverContext& ctx_;
  Device& dev_;
  IoMem ecam_;
  unsigned first_ = 0, last_ = 0;
  bool registered_ = false;
  std::map<uint16_t, Device*> devs_;  // by requester ID
};

class HostDriver : public Driver {
 public:
  explicit HostDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "pci-host-generic";
    bus = &ctx.platform_bus();
    of_match = {"pci-host-ecam-generic"};
    populates_children = false;  // its child nodes are PCI functions: enumeration makes those
  }
  Status probe(Device& dev) override {
    auto h = std::make_shared<EcamHost>(ctx_, dev);
    Status s = h->probe();
    if (!s.ok()) {
      h->remove();
      return s;
    }
    dev.set_drvdata(h);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* h = dev.drvdata<EcamHost>()) h->remove();
    dev.set_drvdata(nullptr);
  }

 private:
  DriverContext& ctx_;
};

}  // namespace
}  // namespace modiommu::pci_host_generic

MODIOMMU_MODULE(pci_host_generic, .version = "1.0", .license = "GPL-2.0",
                .description = "Generic PCIe ECAM host bridge: enumerates PCI functions",
                .aliases = {"of:pci-host-ecam-generic"}, .init = modiommu::driver_module_init<modiommu::pci_host_generic::HostDriver>,
                .exit = modiommu::driver_module_exit<modiommu::pci_host_generic::HostDriver>);
