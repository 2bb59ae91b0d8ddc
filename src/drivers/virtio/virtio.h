// The virtio core's API (include/linux/virtio.h, virtio_config.h,
// virtio_ring.h), exported by the `virtio` module to transports and device
// drivers. A transport (virtio_mmio, virtio_pci) finds a virtio device behind
// its hardware and registers a VirtioDevice on the virtio bus, providing
// VirtioConfigOps; a device driver (virtio_iommu) registers a VirtioDriver
// that matches device IDs. The core runs the initialisation sequence of
// virtio 1.2 3.1.1 around the driver's probe: ACKNOWLEDGE, DRIVER, feature
// negotiation, FEATURES_OK checked, the driver's probe, DRIVER_OK.
//
// Split virtqueues (2.7) live in RAM allocated with the DMA API for the
// transport's device; buffers are given by physical address (the virtio
// device itself is not behind an IOMMU; a translated virtio device would map
// them through the DMA API first).
//
// Every symbol here is exported by virtio.so: a module that uses them
// depends on it (depmod computes that from the undefined symbols).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "core/device.h"
#include "core/driver.h"
#include "uapi/virtio_config.h"

namespace modiommu {
class DriverContext;
class CodeOwner;
}  // namespace modiommu

namespace modiommu::virtio {

class VirtioDevice;

// Where a queue's three areas are (physical addresses) and its size.
struct VirtqAddrs {
  uint32_t num = 0;
  uint64_t desc = 0, avail = 0, used = 0;
};

// struct virtio_config_ops: what a transport does for the core. Called with
// the driver core's lock held (probe/remove) or from a driver's own context;
// implementations serialise register access themselves.
class MODIOMMU_API VirtioConfigOps {
 public:
  virtual ~VirtioConfigOps() = default;
  virtual uint8_t get_status() = 0;
  // Writing 0 resets the device (the core waits for it, see
  // VirtioDevice::reset()).
  virtual void set_status(uint8_t status) = 0;
  virtual uint64_t get_features() = 0;
  // Writes the driver's features (the core then sets FEATURES_OK).
  virtual void set_features(uint64_t features) = 0;
  // Device config space, 1/2/4/8 bytes at `offset`.
  virtual uint64_t config_read(uint32_t offset, unsigned size) = 0;
  virtual void config_write(uint32_t offset, uint64_t value, unsigned size) = 0;
  virtual uint32_t config_generation() = 0;
  // 0: no such queue.
  virtual uint32_t queue_max_size(unsigned index) = 0;
  // Programs the queue's addresses and size and makes it ready.
  virtual Status activate_queue(unsigned index, const VirtqAddrs& addrs) = 0;
  // Takes the queue out of service (the device has been reset first).
  virtual void deactivate_queue(unsigned index) = 0;
  // Notifies the device that queue `index` has new available buffers.
  virtual void notify(unsigned index) = 0;
  // The device that does the DMA for the virtio device (for ring memory).
  virtual Device& dma_device() = 0;
  // For messages: "virtio-mmio@a003e00", "virtio-pci 0000:00:02.0".
  virtual std::string transport_name() const = 0;
};

// One buffer of a request: its address as the device sees it (DmaBuf::dma
// of VirtioDevice::alloc_dma) and length.
struct VirtqBuf {
  uint64_t addr = 0;
  uint32_t len = 0;
};

// struct virtqueue (split ring, driver side). Locking: lock_ guards the
// ring state; add/kick/get_buf may be called from any thread, the callback
// runs from the transport's interrupt handler without lock_ held.
class MODIOMMU_API Virtqueue {
 public:
  ~Virtqueue();
  Virtqueue(const Virtqueue&) = delete;
  Virtqueue& operator=(const Virtqueue&) = delete;

  const std::string& name() const { return name_; }
  unsigned index() const { return index_; }
  uint32_t size() const { return num_; }
  VirtioDevice& vdev() const { return vdev_; }
  // Where the device finds the three areas (its addresses).
  const VirtqAddrs& addrs() const { return addrs_; }

  // virtqueue_add_sgs(): `out` buffers (device-readable) then `in` buffers
  // (device-writable) as one chain; `token` comes back from get_buf().
  // ENOSPC when the ring has too few free descriptors.
  Status add_sgs(const std::vector<VirtqBuf>& out, const std::vector<VirtqBuf>& in, void* token);
  // virtqueue_kick(): publishes the new available index and notifies the
  // device (unless it asked not to be notified).
  void kick();
  // virtqueue_get_buf(): the next used chain's token and written length, or
  // nullptr if none is ready.
  void* get_buf(uint32_t* len);
  unsigned num_free() const;
  // A queue whose device misbehaved (a used id that was never made
  // available, a length beyond the buffers): it is broken and takes no
  // more requests (virtio_break_device()).
  bool broken() const;
  std::string broken_reason() const;

  // Called by the transport's interrupt handler.
  void interrupt();

 private:
  friend class VirtioDevice;
  Virtqueue(VirtioDevice& vdev, unsigned index, std::string name, std::function<void(Virtqueue&)> callback);
  Status setup(uint32_t num);  // allocates the ring (DMA API) and activates it
  void teardown();             // deactivates and frees the ring
  void mark_broken(std::string why);  // lock_ held

  VirtioDevice& vdev_;
  const unsigned index_;
  const std::string name_;
  const std::function<void(Virtqueue&)> callback_;
  uint32_t num_ = 0;
  uint64_t ring_pa_ = 0, ring_dma_ = 0, ring_size_ = 0;
  VirtqAddrs addrs_;
  mutable std::mutex lock_;  // guards everything below; docs/architecture.md "Locks"
  std::vector<void*> tokens_;         // by head descriptor
  std::vector<uint16_t> next_;        // host copy of each descriptor's next
  std::vector<uint16_t> chain_len_;   // descriptors per chain, by head
  std::vector<uint64_t> chain_bytes_; // writable bytes per chain, by head
  uint16_t free_head_ = 0;
  unsigned num_free_ = 0;
  uint16_t avail_idx_ = 0, last_used_ = 0;
  bool broken_ = false;
  std::string broken_reason_;
};

// struct virtio_device: a device on the virtio bus. Its firmware node is the
// transport's (the `iommus`/`iommu-map` target of a virtio-iommu is the
// transport's node, as in Linux).
class MODIOMMU_API VirtioDevice : public Device {
 public:
  VirtioDevice(DriverContext& ctx, std::string name, Device& transport, VirtioConfigOps& ops, uint32_t device_id,
               uint32_t vendor_id);
  ~VirtioDevice() override;

  DriverContext& ctx() const { return ctx_; }
  uint32_t device_id() const { return device_id_; }
  uint32_t vendor_id() const { return vendor_id_; }
  VirtioConfigOps& config() const { return ops_; }
  Device& transport() const { return transport_; }
  std::vector<std::string> compatible() const override;
  // Below its transport, as sysfs has it: "/virtio_mmio@a000000/virtio0".
  std::string path() const override;

  // Negotiated features (valid from the driver's probe on).
  uint64_t features() const { return features_; }
  bool has_feature(unsigned bit) const { return (features_ >> bit) & 1; }

  // virtio_find_vqs(): sets up queues 0..n-1 with the given names and
  // callbacks (null: no callback). Queue sizes: min(max, `num` if nonzero).
  Status find_vqs(const std::vector<std::string>& names, const std::vector<std::function<void(Virtqueue&)>>& callbacks,
                  uint32_t num = 0);
  // virtio_del_vqs(): after reset() only.
  void del_vqs();
  Virtqueue* vq(unsigned index) const { return index < vqs_.size() ? vqs_[index].get() : nullptr; }
  size_t num_vqs() const { return vqs_.size(); }

  // virtio_device_ready(): DRIVER_OK (the core does it after probe if the
  // driver did not).
  void device_ready();
  // virtio_reset_device(): writes status 0 and waits (bounded) until the
  // device reads back 0 (4.2.3.1, 4.1.4.3.2); then it uses no queue.
  void reset();
  // virtio_cread/cwrite: the whole config read again while the generation
  // changes (2.4.1).
  Status config_read_bytes(uint32_t offset, void* dst, uint32_t len);
  void config_write_bytes(uint32_t offset, const void* src, uint32_t len);

  // The transport calls this from its interrupt handler on a config change.
  void config_changed();
  // Every queue's interrupt (transports without per-queue status call it).
  void vring_interrupt_all();

  // RAM for the driver's buffers, through the DMA API of the transport's
  // device; freed by the caller or when the device is unregistered.
  struct DmaBuf {
    uint64_t pa = 0, dma = 0, size = 0;
  };
  Result<DmaBuf> alloc_dma(size_t size);
  void free_dma(const DmaBuf& buf);
  // CPU access to RAM (the driver's view of its own buffers).
  Status mem_read(uint64_t pa, void* dst, size_t len) const;
  Status mem_write(uint64_t pa, const void* src, size_t len) const;

 private:
  friend class VirtioDriver;
  friend class Virtqueue;
  DriverContext& ctx_;
  Device& transport_;
  VirtioConfigOps& ops_;
  const uint32_t device_id_, vendor_id_;
  uint64_t features_ = 0;
  // Guards vqs_ against an interrupt handler walking it while the driver
  // sets queues up or deletes them (shared: interrupts; exclusive: find/del).
  mutable std::shared_mutex vqs_lock_;  // docs/architecture.md "Locks"
  std::vector<std::unique_ptr<Virtqueue>> vqs_;
};

// struct virtio_driver: matches device IDs; the core negotiates features
// (device's & `features`, plus VERSION_1, which is required: legacy devices
// are refused) before probe(vdev).
class MODIOMMU_API VirtioDriver : public Driver {
 public:
  std::vector<uint32_t> id_table;  // device IDs
  uint64_t features = 0;           // feature bits the driver understands (below 64)

  virtual Status probe(VirtioDevice& vdev) = 0;
  virtual void remove(VirtioDevice& vdev) = 0;
  virtual void config_changed(VirtioDevice& vdev) { (void)vdev; }

  // Driver: negotiation around the virtio probe; unbind resets the device.
  Status probe(Device& dev) final;
  void remove(Device& dev) final;
};

// The virtio bus of one kernel (exists while the virtio module is loaded).
MODIOMMU_API Bus* virtio_bus(DriverContext& ctx);
// register_virtio_driver(): sets drv.bus and registers it with the driver core.
MODIOMMU_API Status register_virtio_driver(DriverContext& ctx, VirtioDriver& drv);
MODIOMMU_API void unregister_virtio_driver(DriverContext& ctx, VirtioDriver& drv);
// register_virtio_device(): resets the device, sets ACKNOWLEDGE and adds it
// to the driver core (which probes or autoloads a driver for it). The
// returned pointer stays valid until unregister_virtio_device().
MODIOMMU_API Result<VirtioDevice*> register_virtio_device(DriverContext& ctx, std::shared_ptr<VirtioDevice> vdev);
// Unbinds its driver (consumers first, through device links) and removes it.
MODIOMMU_API void unregister_virtio_device(DriverContext& ctx, VirtioDevice& vdev);

// The next free virtio device name of this kernel ("virtio0", "virtio1", ...).
MODIOMMU_API std::string virtio_next_name(DriverContext& ctx);

// Text for a device ID ("iommu", "net", ... or "id 42").
MODIOMMU_API std::string virtio_device_name(uint32_t device_id);

}  // namespace modiommu::virtio
