// The virtio core (drivers/virtio/virtio.c): the virtio bus of each kernel,
// device registration, and the initialisation sequence of virtio 1.2 3.1.1
// around a driver's probe.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "drivers/virtio/virtio.h"
#include "kernel/driver_context.h"
#include "module/module.h"

namespace modiommu::virtio {
namespace uv = uapi::virtio;

namespace {

// Device IDs (virtio 1.2 5): the ones a person may meet here.
const std::map<uint32_t, const char*> kDeviceNames = {
    {1, "net"}, {2, "block"}, {3, "console"}, {4, "entropy"}, {5, "balloon"}, {8, "scsi"},
    {9, "9p"},  {16, "gpu"},  {18, "input"},  {19, "vsock"},  {23, "iommu"}, {24, "memory"}};

class VirtioBus : public Bus {
 public:
  VirtioBus() : Bus("virtio") {}
  bool match(const Device& dev, const Driver& drv) const override {
    auto* vd = dynamic_cast<const VirtioDevice*>(&dev);
    auto* vdrv = dynamic_cast<const VirtioDriver*>(&drv);
    if (!vd || !vdrv) return false;
    return std::find(vdrv->id_table.begin(), vdrv->id_table.end(), vd->device_id()) != vdrv->id_table.end();
  }
  // Linux's virtio uevent: "virtio:d%08Xv%08X".
  std::vector<std::string> modaliases(const Device& dev) const override {
    auto* vd = dynamic_cast<const VirtioDevice*>(&dev);
    if (!vd) return {};
    return {fmt::format("virtio:d{:08X}v{:08X}", vd->device_id(), vd->vendor_id())};
  }
};

// One virtio bus per kernel: several kernels may share this module's code
// in one process (tests do), each with its own bus. Guarded by buses_lock.
struct CoreState {
  VirtioBus bus;
  std::atomic<unsigned> next_index{0};
};
std::mutex buses_lock;  // docs/architecture.md "Locks"
std::map<DriverContext*, std::unique_ptr<CoreState>>& buses() {
  static std::map<DriverContext*, std::unique_ptr<CoreState>> m;
  return m;
}

CoreState* state(DriverContext& ctx) {
  std::lock_guard g(buses_lock);
  auto it = buses().find(&ctx);
  return it == buses().end() ? nullptr : it->second.get();
}

void add_status(VirtioConfigOps& ops, uint32_t bits) { ops.set_status(static_cast<uint8_t>(ops.get_status() | bits)); }

}  // namespace

std::string virtio_device_name(uint32_t device_id) {
  auto it = kDeviceNames.find(device_id);
  return it == kDeviceNames.end() ? fmt::format("id {}", device_id) : it->second;
}

// --- VirtioDevice ------------------------------------------------------------------

VirtioDevice::VirtioDevice(DriverContext& ctx, std::string name, Device& transport, VirtioConfigOps& ops, uint32_t device_id,
                           uint32_t vendor_id)
    : Device(std::move(name), virtio_bus(ctx), transport.fwnode(), &transport),
      ctx_(ctx),
      transport_(transport),
      ops_(ops),
      device_id_(device_id),
      vendor_id_(vendor_id) {}

VirtioDevice::~VirtioDevice() = default;

std::string VirtioDevice::path() const { return transport_.path() + "/" + name(); }

std::vector<std::string> VirtioDevice::compatible() const {
  return {fmt::format("virtio,device{:x}", device_id_)};
}

Status VirtioDevice::find_vqs(const std::vector<std::string>& names,
                              const std::vector<std::function<void(Virtqueue&)>>& callbacks, uint32_t num) {
  std::unique_lock g(vqs_lock_);
  if (!vqs_.empty()) return make_error(Errc::busy, name() + ": queues are already set up");
  for (unsigned i = 0; i < names.size(); ++i) {
    const uint32_t max = ops_.queue_max_size(i);
    if (max == 0) {
      for (auto& vq : vqs_) vq->teardown();
      vqs_.clear();
      return make_error(Errc::noent, fmt::format("{}: the device has no queue {} ({})", name(), i, names[i]));
    }
    uint32_t n = std::min(max, num ? num : max);
    n = std::bit_floor(std::min<uint32_t>(n, uv::kMaxQueueSize));  // split rings are powers of two (2.7)
    auto cb = i < callbacks.size() ? callbacks[i] : nullptr;
    vqs_.push_back(std::unique_ptr<Virtqueue>(new Virtqueue(*this, i, names[i], std::move(cb))));
    Status s = vqs_.back()->setup(n);
    if (!s.ok()) {
      vqs_.pop_back();  // its setup undid itself
      for (auto& vq : vqs_) vq->teardown();
      vqs_.clear();
      return s;
    }
  }
  return {};
}

void VirtioDevice::del_vqs() {
  std::unique_lock g(vqs_lock_);
  for (auto& vq : vqs_) vq->teardown();
  vqs_.clear();
}

void VirtioDevice::device_ready() { add_status(ops_, uv::kStatusDriverOk); }

void VirtioDevice::reset() {
  ops_.set_status(0);
  for (int n = 0; n < 1000 && ops_.get_status() != 0; ++n) {
  }
}

// 2.4.1: read until two generation counts around the read agree.
Status VirtioDevice::config_read_bytes(uint32_t offset, void* dst, uint32_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int attempt = 0; attempt < 16; ++attempt) {
    const uint32_t before = ops_.config_generation();
    uint32_t i = 0;
    for (; i + 4 <= len && (offset + i) % 4 == 0; i += 4) {
      const auto v = static_cast<uint32_t>(ops_.config_read(offset + i, 4));
      std::memcpy(out + i, &v, 4);
    }
    for (; i < len; ++i) out[i] = static_cast<uint8_t>(ops_.config_read(offset + i, 1));
    if (ops_.config_generation() == before) return {};
  }
  return make_error(Errc::again, name() + ": device config kept changing while being read");
}

void VirtioDevice::config_write_bytes(uint32_t offset, const void* src, uint32_t len) {
  auto* in = static_cast<const uint8_t*>(src);
  for (uint32_t i = 0; i < len; ++i) ops_.config_write(offset + i, in[i], 1);
}

void VirtioDevice::config_changed() {
  // Called from the transport's interrupt handler; the driver pointer is
  // read without the driver core's lock, as Linux's virtio_config_changed
  // does under its own config_lock: drivers unregister only after reset,
  // which stops config interrupts.
  if (auto* drv = dynamic_cast<VirtioDriver*>(driver())) drv->config_changed(*this);
}

void VirtioDevice::vring_interrupt_all() {
  std::shared_lock g(vqs_lock_);
  for (auto& vq : vqs_) vq->interrupt();
}

Result<VirtioDevice::DmaBuf> VirtioDevice::alloc_dma(size_t size) {
  auto b = TRY(ctx_.dma().alloc_coherent(transport_, size));
  return DmaBuf{b.pa, b.dma, b.size};
}

void VirtioDevice::free_dma(const DmaBuf& buf) {
  if (!buf.size) return;
  Status s = ctx_.dma().free_coherent(transport_, iommu::CoherentBuffer{buf.pa, buf.dma, buf.size});
  if (!s.ok()) ctx_.log().err(name(), "freeing a DMA buffer: {}", s.error().message);
}

Status VirtioDevice::mem_read(uint64_t pa, void* dst, size_t len) const {
  return ctx_.ram().read(pa, dst, len);
}

Status VirtioDevice::mem_write(uint64_t pa, const void* src, size_t len) const {
  return ctx_.ram().write(pa, src, len);
}

// --- VirtioDriver ------------------------------------------------------------------

// virtio 1.2 3.1.1 steps 3-8 (the transport did reset and ACKNOWLEDGE).
Status VirtioDriver::probe(Device& dev) {
  auto& vdev = static_cast<VirtioDevice&>(dev);
  VirtioConfigOps& ops = vdev.config();
  add_status(ops, uv::kStatusDriver);
  const uint64_t offered = ops.get_features();
  auto fail = [&](Error e) {
    add_status(ops, uv::kStatusFailed);
    return e;
  };
  // Legacy devices (no VERSION_1) are not supported: their layout differs.
  if (!(offered & uv::kFVersion1))
    return fail(make_error(Errc::nodev, fmt::format("{}: legacy virtio device (no VIRTIO_F_VERSION_1) on {}: not supported",
                                                    vdev.name(), ops.transport_name())));
  const uint64_t wanted = offered & (features | uv::kFVersion1);
  ops.set_features(wanted);
  add_status(ops, uv::kStatusFeaturesOk);
  if (!(ops.get_status() & uv::kStatusFeaturesOk))
    return fail(make_error(Errc::nodev, fmt::format("{}: the device refused features {:#x} (FEATURES_OK not kept)",
                                                    vdev.name(), wanted)));
  vdev.features_ = wanted;
  Status s = probe(vdev);
  if (!s.ok()) {
    // Back to a clean ACKNOWLEDGE state so a later probe starts afresh;
    // a real failure also says FAILED (2.1.1).
    vdev.del_vqs();
    vdev.reset();
    add_status(ops, uv::kStatusAcknowledge);
    if (s.error().code != Errc::probe_defer) add_status(ops, uv::kStatusFailed);
    return s;
  }
  if (!(ops.get_status() & uv::kStatusDriverOk)) vdev.device_ready();
  return {};
}

void VirtioDriver::remove(Device& dev) {
  auto& vdev = static_cast<VirtioDevice&>(dev);
  remove(vdev);
  // The driver resets the device and deletes its queues; make sure of both.
  vdev.reset();
  vdev.del_vqs();
  add_status(vdev.config(), uv::kStatusAcknowledge);
}

// --- registration --------------------------------------------------------------------

Bus* virtio_bus(DriverContext& ctx) {
  CoreState* s = state(ctx);
  return s ? &s->bus : nullptr;
}

Status register_virtio_driver(DriverContext& ctx, VirtioDriver& drv) {
  Bus* bus = virtio_bus(ctx);
  if (!bus) return make_error(Errc::nodev, "virtio core not initialised for this kernel");
  drv.bus = bus;
  return ctx.core().register_driver(&drv);
}

void unregister_virtio_driver(DriverContext& ctx, VirtioDriver& drv) { ctx.core().unregister_driver(&drv); }

Result<VirtioDevice*> register_virtio_device(DriverContext& ctx, std::shared_ptr<VirtioDevice> vdev) {
  if (!vdev->bus()) return make_error(Errc::nodev, "virtio core not initialised for this kernel");
  // 3.1.1 steps 1-2.
  vdev->reset();
  add_status(vdev->config(), uv::kStatusAcknowledge);
  ctx.log().info(vdev->name(), "virtio {} device (ID {}, vendor {:#x}) on {}", virtio_device_name(vdev->device_id()),
               vdev->device_id(), vdev->vendor_id(), vdev->config().transport_name());
  return static_cast<VirtioDevice*>(ctx.core().add_device(std::move(vdev)));
}

void unregister_virtio_device(DriverContext& ctx, VirtioDevice& vdev) {
  ctx.core().remove_device(vdev);
  vdev.reset();
}

std::string virtio_next_name(DriverContext& ctx) {
  CoreState* s = state(ctx);
  return fmt::format("virtio{}", s ? s->next_index++ : 0);
}

namespace {

Status core_init(DriverContext& ctx, Module&) {
  std::lock_guard g(buses_lock);
  auto& slot = buses()[&ctx];
  if (!slot) slot = std::make_unique<CoreState>();
  return {};
}

void core_exit(DriverContext& ctx, Module&) {
  // Transports and drivers depend on this module, so they are gone: no
  // device is left on the bus.
  std::lock_guard g(buses_lock);
  buses().erase(&ctx);
}

}  // namespace
}  // namespace modiommu::virtio

MODIOMMU_MODULE(virtio, .version = "1.0", .license = "GPL-2.0",
                .description = "virtio core: the virtio bus, feature negotiation, split virtqueues",
                .init = modiommu::virtio::core_init, .exit = modiommu::virtio::core_exit);
