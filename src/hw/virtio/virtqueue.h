// The device side of a virtio split virtqueue (virtio 1.2 section 2.7) living
// in guest RAM: the driver lays out the descriptor table, the available
// (driver) ring and the used (device) ring; the device pops available chains
// and pushes used elements. Event index (VIRTIO_F_EVENT_IDX) and indirect
// descriptors (VIRTIO_F_INDIRECT_DESC) are not offered, so an INDIRECT
// descriptor is a driver error.
//
// A hostile chain (a loop, a chain longer than the queue, a descriptor index
// out of range, a buffer outside RAM, a readable buffer after a writable one,
// an INDIRECT flag, an available index that jumped by more than the queue
// size) is reported as an error and the queue is marked broken; the
// transport then sets DEVICE_NEEDS_RESET (virtio 1.2 2.1.2).
//
// Locking: one mutex per queue guards its configuration and its device-side
// indices; pop() and push() hold it for the whole ring access, so a request
// thread and a DMA thread (pushing fault events) can share a queue. reset()
// bumps a generation so a chain popped before a reset is never pushed after.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "hw/memory.h"
#include "uapi/virtio_config.h"

namespace modiommu::hw::virtio {

// Descriptor and ring flags, queue size limit: uapi/virtio_config.h.
using uapi::virtio::kAvailFNoInterrupt;
using uapi::virtio::kDescFIndirect;
using uapi::virtio::kDescFNext;
using uapi::virtio::kDescFWrite;
using uapi::virtio::kMaxQueueSize;

struct VirtqSegment {
  uint64_t addr = 0;
  uint32_t len = 0;
};

// One popped descriptor chain: device-readable segments first, then
// device-writable ones (2.7.4.2).
struct VirtqChain {
  uint16_t head = 0;
  std::vector<VirtqSegment> readable, writable;
  uint64_t readable_len = 0, writable_len = 0;
  uint64_t generation = 0;  // queue generation at pop time
};

struct VirtqLayout {
  uint32_t size = 0;
  uint64_t desc = 0, driver = 0, device = 0;  // descriptor table, available ring, used ring
};

class MODIOMMU_API Virtqueue {
 public:
  Virtqueue(PhysicalMemory& mem, unsigned index) : mem_(mem), index_(index) {}
  Virtqueue(const Virtqueue&) = delete;
  Virtqueue& operator=(const Virtqueue&) = delete;

  // Validates the layout (power-of-two size <= max_size, alignment 16/2/4
  // per 2.7, every area inside RAM) and makes the queue live with indices 0.
  Status enable(const VirtqLayout& layout, uint32_t max_size);
  // Back to the reset state (not ready, indices 0, not broken).
  void reset();
  bool ready() const;
  bool broken() const;

  // The next available chain, nullopt if none (or the queue is not ready).
  // An error means the driver broke the queue; the queue is then broken and
  // pops nothing more until reset.
  Result<std::optional<VirtqChain>> pop();
  // Returns the chain to the driver with `written` bytes written. Returns
  // false (without touching RAM) if the queue was reset since the pop.
  Result<bool> push(const VirtqChain& chain, uint32_t written);
  // Whether the driver wants an interrupt for used buffers now (2.7.10).
  bool interrupt_wanted() const;

  // Gather/scatter through a chain's segments, starting at byte `offset` of
  // the readable (resp. writable) part. Errors if the part is too short.
  Status read_chain(const VirtqChain& c, uint64_t offset, void* dst, size_t len) const;
  Status write_chain(const VirtqChain& c, uint64_t offset, const void* src, size_t len) const;

  unsigned index() const { return index_; }

 private:
  Status fail(std::string why);  // lock_ held: marks broken, returns the error
  Result<uint16_t> read16(uint64_t addr) const;

  PhysicalMemory& mem_;
  const unsigned index_;
  mutable std::mutex lock_;  // guards everything below; docs/architecture.md "Locks"
  VirtqLayout layout_;
  bool ready_ = false, broken_ = false;
  uint16_t last_avail_ = 0, used_idx_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace modiommu::hw::virtio
