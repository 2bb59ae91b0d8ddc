// A PCIe ECAM host bridge ("pci-host-ecam-generic", as on QEMU's virt
// machine; PCI Express Base 4.0 7.2.2): bus/device/function/register
// decoded from the offset in the ECAM window. Functions are plugged in by
// the platform builder and by hotplug; an empty slot reads all ones and
// ignores writes (the master-abort answer enumeration relies on).
//
// Locking: lock_ guards the function map; a config access copies the
// function's shared_ptr under it and calls the function unlocked, so a
// function removed by hotplug stays alive until accesses in flight return.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "hw/mmio.h"
#include "hw/pci/function.h"

namespace modiommu::hw::pci {

class MODIOMMU_API PciEcam : public MmioDevice {
 public:
  PciEcam(std::string name, unsigned bus_first, unsigned bus_last);

  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  // Bytes of ECAM window the bus range needs (1 MiB per bus).
  uint64_t window_size() const { return uint64_t{bus_last_ - bus_first_ + 1} << 20; }
  unsigned bus_first() const { return bus_first_; }
  unsigned bus_last() const { return bus_last_; }

  // EEXIST if the slot is taken, ERANGE outside the bus range or devfn > 0xff.
  Status plug(unsigned bus, unsigned devfn, std::shared_ptr<PciFunction> fn);
  // The function that was there (null if none).
  std::shared_ptr<PciFunction> unplug(unsigned bus, unsigned devfn);
  std::shared_ptr<PciFunction> function(unsigned bus, unsigned devfn) const;
  std::vector<std::pair<uint16_t, std::shared_ptr<PciFunction>>> functions() const;  // by requester ID

 private:
  std::shared_ptr<PciFunction> at(uint64_t offset, uint32_t* reg) const;

  const std::string name_;
  const unsigned bus_first_, bus_last_;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::map<uint16_t, std::shared_ptr<PciFunction>> fns_;  // key: bus << 8 | devfn
};

}  // namespace modiommu::hw::pci
