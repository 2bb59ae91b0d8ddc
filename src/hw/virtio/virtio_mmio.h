// virtio-mmio transport, version 2 ("modern", virtio 1.2 4.2.2), compatible
// "virtio,mmio". Wraps one VirtioDeviceModel; device config at 0x100.
//
// Register accesses are 32-bit (4.2.2.2: other widths read 0 / are ignored);
// the config space takes 1/2/4/8-byte accesses. Queue registers other than
// QueueReady are ignored while the selected queue is ready; QueueReady=1
// validates the layout (a bad one is a device error: DEVICE_NEEDS_RESET).
// QueueNotify is only acted on with DRIVER_OK set and DEVICE_NEEDS_RESET
// clear. Status: writing 0 resets; FEATURES_OK is kept only if the driver's
// features are a subset of the offered ones, include VERSION_1 and the model
// accepts them (3.1.1); DEVICE_NEEDS_RESET is device-owned.
//
// Locking: lock_ guards the register state. Queue notifications, used-buffer
// and config interrupts are delivered with lock_ released (the model runs
// unlocked; interrupt handlers read registers). InterruptStatus is an atomic.
// Lock order: lock_ -> Virtqueue locks -> model locks (reset, features).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/virtio/virtio_device.h"
#include "hw/virtio/virtqueue.h"
#include "uapi/virtio_mmio.h"

namespace modiommu::hw::virtio {

// Register offsets: uapi/virtio_mmio.h (shared with the driver).
namespace mmio = uapi::virtio_mmio;

class MODIOMMU_API VirtioMmio : public MmioDevice, private VirtioHost {
 public:
  // irq may be null (no interrupt wired). The model is bound to this
  // transport until destruction.
  VirtioMmio(std::string name, PhysicalMemory& mem, std::shared_ptr<VirtioDeviceModel> model, IrqLine* irq,
             uint32_t vendor_id = 0x4d4f4449 /* "MODI" */);
  ~VirtioMmio() override;

  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  VirtioDeviceModel& model() { return *model_; }
  uint32_t status() const;
  uint32_t interrupt_status() const { return isr_.load(std::memory_order_acquire); }
  // Last device error (DEVICE_NEEDS_RESET reason), empty if none.
  std::string last_device_error() const;

 private:
  struct QueueRegs {
    uint32_t num = 0;
    uint64_t desc = 0, driver = 0, device = 0;
    bool ready = false;
  };
  // VirtioHost
  Virtqueue& queue(unsigned q) override { return *queues_[q]; }
  void notify_used(unsigned q) override;
  void notify_config() override;
  void device_error(const std::string& why) override;

  uint32_t read_reg(uint64_t off);  // lock_ held
  // lock_ held; returns the queue to notify (or -1) and interrupt bits to raise.
  int write_reg(uint64_t off, uint32_t v, uint32_t* raise);
  void write_status(uint32_t v, uint32_t* raise);  // lock_ held
  void do_reset();                                 // lock_ held
  void raise(uint32_t bits);                       // no lock held

  const std::string name_;
  std::shared_ptr<VirtioDeviceModel> model_;
  IrqLine* const irq_;
  const uint32_t vendor_id_;
  std::vector<std::unique_ptr<Virtqueue>> queues_;

  mutable std::mutex lock_;  // guards everything below; docs/architecture.md "Locks"
  uint32_t status_ = 0, dev_features_sel_ = 0, drv_features_sel_ = 0, queue_sel_ = 0;
  uint64_t driver_features_ = 0;
  std::vector<QueueRegs> qregs_;
  uint32_t config_generation_ = 0;
  std::string last_error_;
  std::atomic<uint32_t> isr_{0};
};

}  // namespace modiommu::hw::virtio
