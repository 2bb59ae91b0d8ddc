// The MMIO bus: physical address ranges mapped to device register files.
//
// Locking: mappings live in a std::map under a shared_mutex. An access takes
// the lock shared only long enough to copy the device's shared_ptr, then calls
// the device unlocked, so a device removed by unmap() stays alive until every
// access already in flight returns. Devices do their own internal locking.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"

namespace modiommu::hw {

// A device register file. Offsets are relative to the mapping base; size is
// 1, 2, 4 or 8 and the bus guarantees natural alignment and that the access
// lies inside the mapping. Register files decide what sizes they accept
// (unsupported ones read as zero / are ignored, like real hardware).
class MODIOMMU_API MmioDevice {
 public:
  virtual ~MmioDevice() = default;
  virtual uint64_t read(uint64_t offset, unsigned size) = 0;
  virtual void write(uint64_t offset, uint64_t value, unsigned size) = 0;
  virtual std::string name() const = 0;
};

struct MODIOMMU_API BusError {
  uint64_t addr = 0;
  unsigned size = 0;
  bool write = false;
  uint64_t value = 0;  // written value (writes only)
  std::string reason;  // "unmapped", "misaligned", "bad size", "crosses mapping end"
  std::string str() const;
};

class MODIOMMU_API MmioBus {
 public:
  struct Mapping {
    uint64_t base = 0;
    uint64_t size = 0;
    std::shared_ptr<MmioDevice> device;
  };

  // Maps [base, base+size). Rejects size 0, wrap-around and overlap (the error
  // names both devices and ranges).
  Status map(uint64_t base, uint64_t size, std::shared_ptr<MmioDevice> device);
  // Removes the mapping that starts at base. Accesses in flight finish on the
  // old device (which they keep alive).
  Status unmap(uint64_t base);
  std::vector<Mapping> mappings() const;
  // The mapping containing addr, if any.
  std::optional<Mapping> find(uint64_t addr) const;

  // Bus accesses. A bad access is recorded as a bus error; reads then return
  // all-ones (as an unclaimed read on a real interconnect), writes are dropped.
  uint64_t read(uint64_t addr, unsigned size);
  void write(uint64_t addr, uint64_t value, unsigned size);
  uint32_t read32(uint64_t addr) { return static_cast<uint32_t>(read(addr, 4)); }
  uint64_t read64(uint64_t addr) { return read(addr, 8); }
  void write32(uint64_t addr, uint32_t v) { write(addr, v, 4); }
  void write64(uint64_t addr, uint64_t v) { write(addr, v, 8); }

  uint64_t bus_error_count() const { return bus_errors_.load(std::memory_order_relaxed); }
  std::optional<BusError> last_bus_error() const;

 private:
  // Returns the device and offset for a valid access, else records the error.
  std::shared_ptr<MmioDevice> route(uint64_t addr, unsigned size, bool is_write, uint64_t value, uint64_t* offset);
  void record(BusError e);

  mutable std::shared_mutex lock_;  // guards maps_; docs/architecture.md "Locks"
  std::map<uint64_t, Mapping> maps_;
  std::atomic<uint64_t> bus_errors_{0};
  mutable std::mutex err_lock_;  // guards last_; docs/architecture.md "Locks"
  std::optional<BusError> last_;
};

}  // namespace modiommu::hw
