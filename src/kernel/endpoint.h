// DMA endpoints: what the scenario commands `dma`, `dma-start`, `dma-stop`
// drive. A driver (the dmatest endpoint driver, a module) registers one per
// bound device; calls into it are made with its module pinned.
#pragma once

#include <cstdint>
#include <string>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

class CodeOwner;
class Device;

// A buffer in guest RAM a driver owns.
struct PhysAddrBuf {
  uint64_t pa = 0;
  size_t size = 0;
};

enum class DmaXfer { write, read };  // device writes memory / device reads memory

struct DmaEndpointStats {
  uint64_t transfers = 0;  // completed and verified
  uint64_t faults = 0;     // transfers the device reported faulted
  uint64_t corruptions = 0;  // completed but the data did not verify
};

class MODIOMMU_API DmaEndpoint {
 public:
  virtual ~DmaEndpoint() = default;
  // One transfer of `bytes`, data verified end to end. A fault is an error.
  virtual Status transfer(DmaXfer dir, size_t bytes) = 0;
  // Continuous DMA on the device's own thread until stop().
  virtual Status start(DmaXfer dir, size_t bytes) = 0;
  // Stops, drains and verifies the last data written.
  virtual Status stop() = 0;
  virtual bool running() const = 0;
  virtual DmaEndpointStats stats() const = 0;
};

}  // namespace modiommu
