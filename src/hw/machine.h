// The emulated machine: guest physical memory, the MMIO bus, the device
// models placed on it, and the wired interrupt lines. The platform builder
// (sim/) creates models from a device tree and hands them to the machine.
//
// Locking: devices_ and irqs_ are guarded by lock_; IrqLine objects are never
// destroyed before the machine, so a returned IrqLine* stays valid.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"

namespace modiommu::hw {

class MODIOMMU_API Machine {
 public:
  Machine() = default;
  // Stops nothing by itself: owners of threaded models (DMA masters in
  // continuous mode) stop them in their destructors, which run here.
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  PhysicalMemory& memory() { return mem_; }
  const PhysicalMemory& memory() const { return mem_; }
  MmioBus& bus() { return bus_; }

  // Places a model on the bus at [base, base+size) and keeps it alive.
  Status add_device(uint64_t base, uint64_t size, std::shared_ptr<MmioDevice> dev);
  // Unmaps and forgets the device mapped at base.
  Status remove_device(uint64_t base);
  std::shared_ptr<MmioDevice> device_at(uint64_t addr) const;
  template <class T>
  std::shared_ptr<T> device_as(uint64_t addr) const {
    return std::dynamic_pointer_cast<T>(device_at(addr));
  }

  // Interrupt line `number` (e.g. a GIC SPI number), created on first use.
  IrqLine& irq(unsigned number);
  std::vector<unsigned> irq_numbers() const;

 private:
  PhysicalMemory mem_;
  MmioBus bus_;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::map<uint64_t, std::shared_ptr<MmioDevice>> devices_;
  std::map<unsigned, std::unique_ptr<IrqLine>> irqs_;
};

}  // namespace modiommu::hw
