// A direct-mapped cache whose readers take no lock: each slot is a seqlock
// (writers, serialized by the owner's mutex, make the sequence odd while they
// update; a reader that sees it change or odd treats the slot as a miss).
// All fields are atomics, so concurrent reads are race-free (TSan-clean). A
// miss is always safe for the SMMU caches: the caller walks memory instead.
// Used for the IOTLB and the stream-config fast path (hot path of translate).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace modiommu::hw::smmuv3 {

class SeqSlots {
 public:
  static constexpr uint64_t kValid = uint64_t{1} << 63;  // set in k0 of a used slot

  explicit SeqSlots(size_t slots) {
    size_t n = 1;
    while (n < slots) n <<= 1;
    mask_ = n - 1;
    slots_.reset(new Slot[n]);
  }
  size_t size() const { return mask_ + 1; }
  size_t index(uint64_t hash) const { return static_cast<size_t>(hash) & mask_; }

  // k0 must have kValid set by the caller.
  bool lookup(size_t i, uint64_t k0, uint64_t k1, uint64_t* v) const {
    const Slot& s = slots_[i];
    const uint64_t seq = s.seq.load(std::memory_order_acquire);
    if (seq & 1) return false;
    // Acquire loads keep the second sequence read after the data reads
    // (no fences: TSan does not model them; acquire loads are free on x86).
    const uint64_t a = s.k0.load(std::memory_order_acquire), b = s.k1.load(std::memory_order_acquire),
                   c = s.v.load(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) != seq) return false;
    if (a != k0 || b != k1) return false;
    *v = c;
    return true;
  }
  // Writers: the owner's mutex held.
  void store(size_t i, uint64_t k0, uint64_t k1, uint64_t v) {
    Slot& s = slots_[i];
    const uint64_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_relaxed);
    // Release stores: a reader that sees any new field also sees seq odd.
    s.k0.store(k0, std::memory_order_release);
    s.k1.store(k1, std::memory_order_release);
    s.v.store(v, std::memory_order_release);
    s.seq.store(seq + 2, std::memory_order_release);
  }
  void clear(size_t i) { store(i, 0, 0, 0); }
  // Writer-side view of a slot.
  bool peek(size_t i, uint64_t* k0, uint64_t* k1, uint64_t* v) const {
    const Slot& s = slots_[i];
    *k0 = s.k0.load(std::memory_order_relaxed);
    *k1 = s.k1.load(std::memory_order_relaxed);
    *v = s.v.load(std::memory_order_relaxed);
    return *k0 & kValid;
  }

 private:
  struct Slot {
    std::atomic<uint64_t> seq{0}, k0{0}, k1{0}, v{0};
  };
  size_t mask_ = 0;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace modiommu::hw::smmuv3
