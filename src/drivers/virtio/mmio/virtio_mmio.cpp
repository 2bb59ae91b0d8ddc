// virtio_mmio: the virtio-mmio transport driver (drivers/virtio/virtio_mmio.c;
// virtio 1.2 4.2.3), version 2 registers only. Binds to "virtio,mmio" nodes,
// finds the device behind the registers and registers it on the virtio bus.
// A placeholder (DeviceID 0, 4.2.3.1.1) is not a device: the probe says so
// and leaves the node unbound.
//
// Locking: lock_ serialises multi-register sequences (feature and queue
// selectors). QueueNotify and the interrupt handler take no lock: a notify
// may complete requests and raise the interrupt on the same thread.
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/virtio/virtio.h"
#include "kernel/driver_module.h"
#include "kernel/driver_context.h"
#include "module/module.h"
#include "uapi/virtio_config.h"
#include "uapi/virtio_mmio.h"

namespace modiommu::virtio_mmio {
namespace reg = uapi::virtio_mmio;
using virtio::VirtioDevice;

class MmioTransport : public virtio::VirtioConfigOps {
 public:
  MmioTransport(DriverContext& ctx, Device& dev, IoMem io) : ctx_(ctx), dev_(dev), io_(io) {}

  Status probe() {
    const uint32_t magic = io_.readl(reg::kMagicValue);
    if (magic != reg::kMagic)
      return make_error(Errc::nodev, fmt::format("{}: bad magic {:#x} (want {:#x} \"virt\"): not a virtio-mmio device",
                                                 dev_.name(), magic, reg::kMagic));
    const uint32_t version = io_.readl(reg::kVersion);
    if (version == 1)
      return make_error(Errc::nodev, dev_.name() + ": legacy virtio-mmio (version 1) is not supported");
    if (version != reg::kVersionModern)
      return make_error(Errc::nodev, fmt::format("{}: unknown virtio-mmio version {}", dev_.name(), version));
    const uint32_t id = io_.readl(reg::kDeviceId);
    if (id == 0) return make_error(Errc::nodev, dev_.name() + ": empty slot (DeviceID 0): no virtio device behind it");
    const uint32_t vendor = io_.readl(reg::kVendorId);
    auto irq = ctx_.request_irq(dev_, "0", [this] { interrupt(); });
    if (irq.ok()) irq_ = std::move(irq).value();
    else
      ctx_.log().warn(dev_.name(), "no interrupt ({}): queue callbacks will not run", irq.error().message);
    vdev_ = std::make_shared<VirtioDevice>(ctx_, virtio::virtio_next_name(ctx_), dev_, *this, id, vendor);
    auto r = virtio::register_virtio_device(ctx_, vdev_);
    if (!r.ok()) {
      irq_.free();
      vdev_.reset();
      return std::move(r).error();
    }
    return {};
  }

  // The virtio device (and whatever consumers it supplies) goes first.
  void remove() {
    if (vdev_) virtio::unregister_virtio_device(ctx_, *vdev_);
    irq_.free();
    io_.writel(reg::kStatus, 0);
    vdev_.reset();
  }

  // VirtioConfigOps
  uint8_t get_status() override { return static_cast<uint8_t>(io_.readl(reg::kStatus)); }
  void set_status(uint8_t status) override { io_.writel(reg::kStatus, status); }
  uint64_t get_features() override {
    std::lock_guard g(lock_);
    io_.writel(reg::kDeviceFeaturesSel, 0);
    uint64_t f = io_.readl(reg::kDeviceFeatures);
    io_.writel(reg::kDeviceFeaturesSel, 1);
    return f | uint64_t{io_.readl(reg::kDeviceFeatures)} << 32;
  }
  void set_features(uint64_t features) override {
    std::lock_guard g(lock_);
    io_.writel(reg::kDriverFeaturesSel, 0);
    io_.writel(reg::kDriverFeatures, static_cast<uint32_t>(features));
    io_.writel(reg::kDriverFeaturesSel, 1);
    io_.writel(reg::kDriverFeatures, static_cast<uint32_t>(features >> 32));
  }
  uint64_t config_read(uint32_t offset, unsigned size) override {
    const uint64_t at = reg::kConfig + offset;
    switch (size) {
      case 1: return io_.readb(at);
      case 2: return io_.readw(at);
      case 4: return io_.readl(at);
      default: return io_.readq(at);
    }
  }
  void config_write(uint32_t offset, uint64_t value, unsigned size) override {
    const uint64_t at = reg::kConfig + offset;
    switch (size) {
      case 1: io_.writeb(at, static_cast<uint8_t>(value)); break;
      case 2: io_.writew(at, static_cast<uint16_t>(value)); break;
      case 4: io_.writel(at, static_cast<uint32_t>(value)); break;
      default: io_.writeq(at, value); break;
    }
  }
  uint32_t config_generation() override { return io_.readl(reg::kConfigGeneration); }
  uint32_t queue_max_size(unsigned index) override {
    std::lock_guard g(lock_);
    io_.writel(reg::kQueueSel, index);
    if (io_.readl(reg::kQueueReady)) return 0;  // already in use: not ours to set up
    return io_.readl(reg::kQueueNumMax);
  }
  // 4.2.3.2.
  Status activate_queue(unsigned index, const virtio::VirtqAddrs& a) override {
    std::lock_guard g(lock_);
    io_.writel(reg::kQueueSel, index);
    if (io_.readl(reg::kQueueReady))
      return make_error(Errc::busy, fmt::format("{}: queue {} is already live", dev_.name(), index));
    io_.writel(reg::kQueueNum, a.num);
    io_.writel(reg::kQueueDescLow, static_cast<uint32_t>(a.desc));
    io_.writel(reg::kQueueDescHigh, static_cast<uint32_t>(a.desc >> 32));
    io_.writel(reg::kQueueDriverLow, static_cast<uint32_t>(a.avail));
    io_.writel(reg::kQueueDriverHigh, static_cast<uint32_t>(a.avail >> 32));
    io_.writel(reg::kQueueDeviceLow, static_cast<uint32_t>(a.used));
    io_.writel(reg::kQueueDeviceHigh, static_cast<uint32_t>(a.used >> 32));
    io_.writel(reg::kQueueReady, 1);
    if (!io_.readl(reg::kQueueReady) || (io_.readl(reg::kStatus) & uapi::virtio::kStatusNeedsReset))
      return make_error(Errc::io, fmt::format("{}: the device rejected the layout of queue {}", dev_.name(), index));
    return {};
  }
  void deactivate_queue(unsigned index) override {
    std::lock_guard g(lock_);
    io_.writel(reg::kQueueSel, index);
    io_.writel(reg::kQueueReady, 0);
  }
  void notify(unsigned index) override { io_.writel(reg::kQueueNotify, index); }
  Device& dma_device() override { return dev_; }
  std::string transport_name() const override { return "virtio-mmio " + dev_.name(); }

 private:
  // 4.2.3.4: read InterruptStatus, acknowledge it, then act on it.
  void interrupt() {
    const uint32_t st = io_.readl(reg::kInterruptStatus);
    if (!st) return;
    io_.writel(reg::kInterruptAck, st);
    if (!vdev_) return;
    if (st & reg::kIntUsedBuffer) vdev_->vring_interrupt_all();
    if (st & reg::kIntConfigChange) vdev_->config_changed();
  }

  DriverContext& ctx_;
  Device& dev_;
  IoMem io_;
  std::mutex lock_;  // docs/architecture.md "Locks"
  IrqHandle irq_;
  std::shared_ptr<VirtioDevice> vdev_;
};

class MmioDriver : public Driver {
 public:
  explicit MmioDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "virtio-mmio";
    bus = &ctx.platform_bus();
    of_match = {"virtio,mmio"};
  }
  Status probe(Device& dev) override {
    auto io = TRY(ctx_.ioremap(dev, 0));
    auto t = std::make_shared<MmioTransport>(ctx_, dev, io);
    Status s = t->probe();
    if (!s.ok()) {
      // ENODEV leaves the node unbound quietly; say why, once.
      std::string why = s.error().message;
      if (why.starts_with(dev.name() + ": ")) why.erase(0, dev.name().size() + 2);
      ctx_.log().info(dev.name(), "{}", why);
      return s;
    }
    dev.set_drvdata(t);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* t = dev.drvdata<MmioTransport>()) t->remove();
    dev.set_drvdata(nullptr);
  }

 private:
  DriverContext& ctx_;
};

}  // namespace modiommu::virtio_mmio

MODIOMMU_MODULE(virtio_mmio, .version = "1.0", .license = "GPL-2.0",
                .description = "virtio-mmio transport (virtio 1.2 4.2, version 2)", .aliases = {"of:virtio,mmio"},
                .init = modiommu::driver_module_init<modiommu::virtio_mmio::MmioDriver>,
                .exit = modiommu::driver_module_exit<modiommu::virtio_mmio::MmioDriver>);
