// virtio-pci transport, modern interface only (virtio 1.2 4.1; no legacy
// I/O BAR, revision 1): a PCI function (vendor 0x1af4, device 0x1040 + the
// virtio device ID) whose vendor-specific capabilities (4.1.4) locate four
// regions in one 64-bit memory BAR (BAR 4, as QEMU does):
//   0x0000 common configuration (4.1.4.3)
//   0x1000 ISR status, one byte, cleared by reading (4.1.4.5)
//   0x2000 device configuration (4.1.4.6)
//   0x3000 notifications: queue q at q * kNotifyMultiplier (4.1.4.4)
// plus a PCI configuration access capability (4.1.4.9). Interrupts are INTx
// (pin INTA) on an IrqLine; there is no MSI-X capability, so both MSI-X
// vector fields read NO_VECTOR and ignore writes (4.1.5.1.2).
//
// Rules (same as the virtio-mmio sibling): common configuration fields take
// their natural width only (64-bit fields: 8 bytes or either 32-bit half,
// 4.1.3.1); other accesses read 0 and are ignored. Queue fields are ignored
// while the selected queue is enabled or when queue_select is out of range
// (queue_size then reads 0: no such queue). queue_enable=1 needs
// FEATURES_OK (3.1.1 step 7 follows step 5) and validates the layout; a bad
// one is a device error (DEVICE_NEEDS_RESET + config interrupt, 2.1.2);
// writing 0 is ignored (4.1.4.3.2, no VIRTIO_F_RING_RESET). device_status:
// 0 resets; FEATURES_OK sticks only for a subset of the offered features
// including VERSION_1 that the model accepts; DEVICE_NEEDS_RESET is
// device-owned. Notifications act only with DRIVER_OK, no NEEDS_RESET and
// the queue enabled. The INTx line is not raised while the Command
// register's Interrupt Disable bit is set (PCI Local Bus 3.0 6.2.2); the
// Status register's Interrupt Status bit mirrors a non-zero ISR.
//
// Locking: lock_ guards the register state; the ISR is an atomic, changed
// with lock_ held so the Status bit follows it. Queue notifications go to
// the model and interrupts are raised with lock_ released. Lock order:
// lock_ -> Virtqueue locks -> model locks (reset, features); lock_ ->
// PciFunction's lock (the Status bit), which is never held while calling
// in here (its hooks run unlocked).
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
#include "hw/pci/function.h"
#include "hw/virtio/virtio_device.h"
#include "hw/virtio/virtqueue.h"
#include "uapi/virtio_pci.h"

namespace modiommu::hw::virtio {

namespace vpci = uapi::virtio_pci;

// The function is both its configuration space and the register file
// behind its BAR: map the same object at bar_address(kBar).
class MODIOMMU_API VirtioPci : public pci::PciFunction, public MmioDevice, private VirtioHost {
 public:
  static constexpr unsigned kBar = 4;
  static constexpr uint64_t kBarSize = 0x4000;
  static constexpr uint64_t kCommonOff = 0x0000, kIsrOff = 0x1000, kDeviceOff = 0x2000, kNotifyOff = 0x3000;
  static constexpr uint64_t kRegionSize = 0x1000;
  static constexpr uint32_t kNotifyMultiplier = 4;

  // irq may be null (no interrupt wired). class_code 0: chosen from the
  // device type. The model is bound to this transport until destruction.
  VirtioPci(std::string name, PhysicalMemory& mem, std::shared_ptr<VirtioDeviceModel> model, IrqLine* irq,
            uint32_t class_code = 0);
  ~VirtioPci() override;

  // MmioDevice (the BAR)
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return PciFunction::name(); }

  VirtioDeviceModel& model() { return *model_; }
  uint8_t status() const;
  uint8_t isr() const { return isr_.load(std::memory_order_acquire); }
  // Last device error (DEVICE_NEEDS_RESET reason), empty if none.
  std::string last_device_error() const;
  // Configuration-space offsets of the capabilities, by cfg_type (0: none).
  uint8_t cap_offset(uint8_t cfg_type) const { return cfg_type < 6 ? caps_[cfg_type] : 0; }

 protected:
  void config_read_hook(uint32_t off, unsigned size) override;
  void config_write_hook(uint32_t off, unsigned size) override;

 private:
  struct QueueRegs {
    uint16_t size = 0;
    uint64_t desc = 0, driver = 0, device = 0;
    bool enabled = false;
  };
  // VirtioHost
  Virtqueue& queue(unsigned q) override { return *queues_[q]; }
  void notify_used(unsigned q) override;
  void notify_config() override;
  void device_error(const std::string& why) override;

  uint64_t common_read(uint64_t off, unsigned size);                 // lock_ held
  void common_write(uint64_t off, uint64_t v, unsigned size, bool* raise);  // lock_ held
  void write_status(uint8_t v);                                      // lock_ held
  void do_reset();                                                   // lock_ held
  void set_isr(uint8_t bits);                                        // no lock held; raises INTx
  void sync_intx_status();                                           // lock_ held
  // The virtio_pci_cfg_cap window: its BAR access (4.1.4.9).
  bool cfg_window(uint64_t* bar_off, unsigned* len);

  std::shared_ptr<VirtioDeviceModel> model_;
  IrqLine* const irq_;
  std::vector<std::unique_ptr<Virtqueue>> queues_;
  uint8_t caps_[6] = {};

  mutable std::mutex lock_;  // guards everything below; docs/architecture.md "Locks"
  uint32_t dev_features_sel_ = 0, drv_features_sel_ = 0;
  uint16_t queue_sel_ = 0;
  uint8_t status_ = 0, config_generation_ = 0;
  uint64_t driver_features_ = 0;
  std::vector<QueueRegs> qregs_;
  std::string last_error_;
  std::atomic<uint8_t> isr_{0};
};

}  // namespace modiommu::hw::virtio
