// virtio_pci: the virtio-pci transport driver, modern interface only
// (drivers/virtio/virtio_pci_modern.c; virtio 1.2 4.1). Binds to PCI
// functions of vendor 0x1af4: device IDs 0x1040..0x107f are modern devices
// (virtio device ID = PCI device ID - 0x1040, 4.1.2); 0x1000..0x103f are
// transitional devices, whose legacy interface this driver does not speak,
// so they are refused with a message. The vendor capabilities (4.1.4) give
// the common, notify, ISR and device regions inside the BARs; interrupts are
// INTx (the ISR byte says which, 4.1.4.5).
//
// Locking: lock_ serialises queue_select sequences and feature selectors.
// Notifications and the interrupt handler take no lock: a notification may
// complete requests and raise INTx on the same thread. Notify addresses are
// atomics, set when a queue is activated.
#include <atomic>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "core/device.h"
#include "core/pci.h"
#include "drivers/virtio/virtio.h"
#include "kernel/driver_module.h"
#include "kernel/driver_context.h"
#include "module/module.h"
#include "uapi/pci_regs.h"
#include "uapi/virtio_config.h"
#include "uapi/virtio_pci.h"

namespace modiommu::virtio_pci {
namespace vp = uapi::virtio_pci;
namespace pcir = uapi::pci;
using virtio::VirtioDevice;

// A region a capability points at: part of a BAR.
struct Region {
  IoMem bar;
  uint64_t off = 0;
  uint32_t len = 0;
  bool present() const { return bar.valid(); }
};

class PciTransport : public virtio::VirtioConfigOps {
 public:
  PciTransport(DriverContext& ctx, PciDevice& dev) : ctx_(ctx), dev_(dev) {}

  Status probe() {
    const PciInfo& i = dev_.info();
    if (i.vendor != vp::kVendor) return make_error(Errc::nodev, dev_.name() + ": not a virtio device");
    if (i.device >= vp::kDeviceLegacyFirst && i.device <= vp::kDeviceLegacyLast)
      return make_error(Errc::nodev, fmt::format("{}: transitional virtio-pci device {:04x}:{:04x}: its legacy "
                                                 "interface is not supported (modern devices are 1040-107f)",
                                                 dev_.name(), i.vendor, i.device));
    if (i.device < vp::kDeviceModernBase || i.device > vp::kDeviceModernLast)
      return make_error(Errc::nodev, fmt::format("{}: {:04x}:{:04x} is not a virtio device ID", dev_.name(), i.vendor, i.device));
    TRY(find_regions());
    num_queues_ = common_.bar.readw(common_.off + vp::kNumQueues);
    notify_addr_ = std::make_unique<std::atomic<uint64_t>[]>(num_queues_ + 1u);
    // Device ID from the PCI device ID; vendor from the subsystem vendor (4.1.2).
    vdev_ = std::make_shared<VirtioDevice>(ctx_, virtio::virtio_next_name(ctx_), dev_, *this,
                                           i.device - vp::kDeviceModernBase, i.subsystem_vendor);
    VirtioDevice* vdev = vdev_.get();
    auto irq = ctx_.request_irq(dev_, "0", [this, vdev] { interrupt(*vdev); });
    if (irq.ok()) irq_ = std::move(irq).value();
    else ctx_.log().warn(dev_.name(), "no INTx ({}): queue callbacks will not run", irq.error().message);
    auto r = virtio::register_virtio_device(ctx_, vdev_);
    if (!r.ok()) {
      irq_.free();
      vdev_.reset();
      return std::move(r).error();
    }
    ctx_.log().info(dev_.name(), "virtio-pci: {} device, {} queue(s), registered as {}",
                  virtio::virtio_device_name(vdev->device_id()), num_queues_, vdev->name());
    return {};
  }

  // The virtio device (and whatever consumers it supplies) goes first.
  void remove() {
    if (vdev_) virtio::unregister_virtio_device(ctx_, *vdev_);
    irq_.free();
    if (common_.present()) common_.bar.writeb(common_.off + vp::kDeviceStatus, 0);
    vdev_.reset();
  }

  // VirtioConfigOps
  uint8_t get_status() override { return common_.bar.readb(common_.off + vp::kDeviceStatus); }
  void set_status(uint8_t status) override { common_.bar.writeb(common_.off + vp::kDeviceStatus, status); }
  uint64_t get_features() override {
    std::lock_guard g(lock_);
    wr32(vp::kDeviceFeatureSelect, 0);
    uint64_t f = rd32(vp::kDeviceFeature);
    wr32(vp::kDeviceFeatureSelect, 1);
    return f | uint64_t{rd32(vp::kDeviceFeature)} << 32;
  }
  void set_features(uint64_t features) override {
    std::lock_guard g(lock_);
    wr32(vp::kDriverFeatureSelect, 0);
    wr32(vp::kDriverFeature, static_cast<uint32_t>(features));
    wr32(vp::kDriverFeatureSelect, 1);
    wr32(vp::kDriverFeature, static_cast<uint32_t>(features >> 32));
  }
  // 4.1.3.1: 64-bit fields as two 32-bit accesses. Outside the region: 0.
  uint64_t config_read(uint32_t offset, unsigned size) override {
    if (!device_.present() || uint64_t{offset} + size > device_.len) return 0;
    const uint64_t at = device_.off + offset;
    switch (size) {
      case 1: return device_.bar.readb(at);
      case 2: return device_.bar.readw(at);
      case 4: return device_.bar.readl(at);
      default: return device_.bar.readl(at) | uint64_t{device_.bar.readl(at + 4)} << 32;
    }
  }
  void config_write(uint32_t offset, uint64_t value, unsigned size) override {
    if (!device_.present() || uint64_t{offset} + size > device_.len) return;
    const uint64_t at = device_.off + offset;
    switch (size) {
      case 1: device_.bar.writeb(at, static_cast<uint8_t>(value)); break;
      case 2: device_.bar.writew(at, static_cast<uint16_t>(value)); break;
      case 4: device_.bar.writel(at, static_cast<uint32_t>(value)); break;
      default:
        device_.bar.writel(at, static_cast<uint32_t>(value));
        device_.bar.writel(at + 4, static_cast<uint32_t>(value >> 32));
        break;
    }
  }
  uint32_t config_generation() override { return common_.bar.readb(common_.off + vp::kConfigGeneration); }
  uint32_t queue_max_size(unsigned index) override {
    if (index >= num_queues_) return 0;
    std::lock_guard g(lock_);
    wr16(vp::kQueueSelect, static_cast<uint16_t>(index));
    if (rd16(vp::kQueueEnable)) return 0;  // already in use: not ours to set up
    return rd16(vp::kQueueSize);  // after reset: the maximum (4.1.4.3)
  }
  // 4.1.5.1.3: size, the three addresses, then queue_enable.
  Status activate_queue(unsigned index, const virtio::VirtqAddrs& a) override {
    if (index >= num_queues_) return make_error(Errc::inval, fmt::format("{}: no queue {}", dev_.name(), index));
    std::lock_guard g(lock_);
    wr16(vp::kQueueSelect, static_cast<uint16_t>(index));
    if (rd16(vp::kQueueEnable)) return make_error(Errc::busy, fmt::format("{}: queue {} is already live", dev_.name(), index));
    // 4.1.4.4: the notify address must lie inside the notify region.
    const uint64_t noff = uint64_t{rd16(vp::kQueueNotifyOff)} * notify_mult_;
    if (noff + 2 > notify_.len)
      return make_error(Errc::io, fmt::format("{}: queue {}'s notify offset {:#x} is outside the notify region ({:#x} bytes)",
                                              dev_.name(), index, noff, notify_.len));
    wr16(vp::kQueueSize, static_cast<uint16_t>(a.num));
    wr64(vp::kQueueDesc, a.desc);
    wr64(vp::kQueueDriver, a.avail);
    wr64(vp::kQueueDevice, a.used);
    wr16(vp::kQueueEnable, 1);
    if (rd16(vp::kQueueEnable) != 1 || (get_status() & uapi::virtio::kStatusNeedsReset))
      return make_error(Errc::io, fmt::format("{}: the device rejected the layout of queue {}", dev_.name(), index));
    notify_addr_[index].store(notify_.off + noff + 1, std::memory_order_release);  // +1: 0 means "none"
    return {};
  }
  // Without VIRTIO_F_RING_RESET a queue leaves service only by a device
  // reset (which the core did first): forget its notify address.
  void deactivate_queue(unsigned index) override {
    if (index < num_queues_) notify_addr_[index].store(0, std::memory_order_release);
  }
  // 4.1.5.2: the queue index, 16 bits, at the queue's notify address.
  void notify(unsigned index) override {
    if (index >= num_queues_) return;
    const uint64_t at = notify_addr_[index].load(std::memory_order_acquire);
    if (at) notify_.bar.writew(at - 1, static_cast<uint16_t>(index));
  }
  Device& dma_device() override { return dev_; }
  std::string transport_name() const override { return "virtio-pci " + dev_.name(); }

 private:
  uint32_t cfg(uint32_t off, unsigned size) {
    auto v = ctx_.pci().read_config(dev_, off, size);
    return v.ok() ? *v : 0xffffffffu;
  }

  // 4.1.4: walk the vendor capabilities; the first usable one of each type
  // wins (4.1.4.1: the driver uses the first it can use).
  Status find_regions() {
    if (!(cfg(pcir::STATUS, 2) & pcir::STATUS_CAP_LIST))
      return make_error(Errc::nodev, dev_.name() + ": no capability list: not a modern virtio-pci device");
    uint32_t at = cfg(pcir::CAPABILITY_LIST, 1) & ~3u;  // PCI Local Bus 3.0 6.7: dword aligned
    for (int guard = 0; at >= pcir::CAP_LIST_START && at < pcir::EXT_CAP_START && guard < 48; ++guard) {
      const uint32_t head = cfg(at, 4);
      if (pcir::CAP_ID::get(head) == vp::kCapVendor) use_cap(at);
      at = pcir::CAP_NEXT::get(head) & ~3u;
    }
    if (!common_.present() || common_.len < vp::kQueueNotifyData)
      return make_error(Errc::nodev, dev_.name() + ": no usable common configuration capability (4.1.4.3)");
    if (!isr_.present()) return make_error(Errc::nodev, dev_.name() + ": no usable ISR capability (4.1.4.5)");
    if (!notify_.present() || notify_.len < 2)
      return make_error(Errc::nodev, dev_.name() + ": no usable notification capability (4.1.4.4)");
    return {};
  }

  void use_cap(uint32_t at) {
    const uint8_t len = static_cast<uint8_t>(cfg(at + vp::kCapLen, 1));
    const uint8_t type = static_cast<uint8_t>(cfg(at + vp::kCapCfgType, 1));
    const uint8_t bar = static_cast<uint8_t>(cfg(at + vp::kCapBar, 1));
    const uint32_t off = cfg(at + vp::kCapOffset, 4), length = cfg(at + vp::kCapLength, 4);
    Region* r = region(type);
    if (!r || r->present() || len < vp::kCapSize) return;  // unknown type, PCI_CFG, duplicate, short
    if (type == vp::kCfgNotify && len < vp::kNotifyCapSize) return;
    const PciInfo::Bar* b = bar < 6 ? &dev_.info().bars[bar] : nullptr;
    if (!b || !b->size || uint64_t{off} + length > b->size) {
      ctx_.log().warn(dev_.name(), "virtio capability type {} points outside BAR {} ({:#x}+{:#x}): ignored", type, bar, off,
                    length);
      return;
    }
    auto io = ctx_.ioremap(dev_, bar);
    if (!io.ok()) return;
    if (type == vp::kCfgNotify) notify_mult_ = cfg(at + vp::kNotifyCapMultiplier, 4);
    r->bar = *io;
    r->off = off;
    r->len = length;
  }

  Region* region(uint8_t type) {
    switch (type) {
      case vp::kCfgCommon: return &common_;
      case vp::kCfgNotify: return &notify_;
      case vp::kCfgIsr: return &isr_;
      case vp::kCfgDevice: return &device_;
      default: return nullptr;
    }
  }

  void interrupt(VirtioDevice& vdev) {
    // 4.1.4.5: reading the ISR acknowledges the interrupt; 0 means "not us"
    // (INTx lines are shared).
    const uint8_t isr = isr_.bar.readb(isr_.off);
    if (isr & vp::kIsrQueue) vdev.vring_interrupt_all();
    if (isr & vp::kIsrConfig) vdev.config_changed();
  }

  uint16_t rd16(uint32_t f) { return common_.bar.readw(common_.off + f); }
  uint32_t rd32(uint32_t f) { return common_.bar.readl(common_.off + f); }
  void wr16(uint32_t f, uint16_t v) { common_.bar.writew(common_.off + f, v); }
  void wr32(uint32_t f, uint32_t v) { common_.bar.writel(common_.off + f, v); }
  void wr64(uint32_t f, uint64_t v) {
    wr32(f, static_cast<uint32_t>(v));
    wr32(f + 4, static_cast<uint32_t>(v >> 32));
  }

  DriverContext& ctx_;
  PciDevice& dev_;
  Region common_, notify_, isr_, device_;
  uint32_t notify_mult_ = 0;
  unsigned num_queues_ = 0;
  std::unique_ptr<std::atomic<uint64_t>[]> notify_addr_;  // per queue, BAR offset + 1 (0: not active)
  std::mutex lock_;  // docs/architecture.md "Locks"
  IrqHandle irq_;
  std::shared_ptr<VirtioDevice> vdev_;
};

class PciDriver : public Driver {
 public:
  explicit PciDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "virtio-pci";
    bus = &ctx.pci().bus();
    // Every virtio ID: modern ones bind, transitional ones are refused in probe.
    for (unsigned id = vp::kDeviceLegacyFirst; id <= vp::kDeviceModernLast; ++id)
      of_match.push_back(fmt::format("pci{:04x},{:04x}", vp::kVendor, id));
  }
  Status probe(Device& dev) override {
    PciDevice* pd = to_pci(&dev);
    if (!pd) return make_error(Errc::nodev, dev.name() + ": not a PCI device");
    auto t = std::make_shared<PciTransport>(ctx_, *pd);
    Status s = t->probe();
    if (!s.ok()) {
      ctx_.log().warn(dev.name(), "{}", s.error().message);
      return s;
    }
    dev.set_drvdata(t);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* t = dev.drvdata<PciTransport>()) t->remove();
    dev.set_drvdata(nullptr);
  }

 private:
  DriverContext& ctx_;
};

}  // namespace modiommu::virtio_pci

MODIOMMU_MODULE(virtio_pci, .version = "1.0", .license = "GPL-2.0",
                .description = "virtio-pci transport (virtio 1.2 4.1, modern interface)",
                .aliases = {"pci:v00001AF4d0000104?*", "pci:v00001AF4d0000105?*", "pci:v00001AF4d0000106?*",
                            "pci:v00001AF4d0000107?*", "pci:v00001AF4d0000100?*", "pci:v00001AF4d0000101?*",
                            "pci:v00001AF4d0000102?*", "pci:v00001AF4d0000103?*"},
                .init = modiommu::driver_module_init<modiommu::virtio_pci::PciDriver>,
                .exit = modiommu::driver_module_exit<modiommu::virtio_pci::PciDriver>);
