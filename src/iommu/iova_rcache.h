// Per-thread IOVA range caches ("rcache"), the magazine scheme of Linux's
// drivers/iommu/iova.c (after Bonwick & Adams, "Magazines and Vmem", USENIX
// 2001): each thread slot holds a pair of magazines (loaded, previous) per
// size order; a shared depot per order holds full magazines and is locked
// only when both of a slot's magazines are full (free) or empty (alloc).
//
// Cached IOVAs stay allocated in the domain's range tree; only the owning
// IovaDomain returns them to the tree (on depot overflow and on flush).
//
// Domain lifetime: the slots (and every magazine) belong to the IovaRcache,
// i.e. to the domain. A thread keeps only a small process-wide index in
// thread_local storage (recycled at thread exit), which picks slot
// index % nr_slots. So destroying a domain frees all its magazines even while
// the threads that filled them live on, and no thread-local state ever
// points into a dead domain.
//
// Locking: each slot has its own spinlock (uncontended unless more threads
// than slots share one, or flush() walks the slots); each order's depot has
// a mutex. Lock order: slot lock -> depot lock. Neither is held while the
// domain takes its tree lock.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/api.h"

namespace modiommu::iommu {

// A tiny test-and-test-and-set lock for the per-slot and per-shard critical
// sections, which are a few dozen instructions; yields so oversubscribed
// threads still make progress.
class SpinLock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// Sizes 1, 2, 4 .. 32 granules are cached (Linux IOVA_RANGE_CACHE_MAX_SIZE).
inline constexpr unsigned kIovaRcacheOrders = 6;
// Linux uses 127 so a magazine is 1 KiB; 128 keeps the arithmetic plain.
inline constexpr size_t kIovaMagSize = 128;
// Full magazines kept per order before further ones go back to the tree
// (Linux MAX_GLOBAL_MAGS).
inline constexpr size_t kIovaDepotMax = 32;

struct IovaMagazine {
  size_t count = 0;
  std::array<uint64_t, kIovaMagSize> pfns{};

  bool empty() const { return count == 0; }
  bool full() const { return count == kIovaMagSize; }
  // Takes the most recently pushed pfn that is <= max_pfn (the caller's
  // limit), as Linux iova_magazine_pop; nullopt if none qualifies.
  std::optional<uint64_t> pop(uint64_t max_pfn);
  void push(uint64_t pfn) { pfns[count++] = pfn; }
};

// Counters summed over all slots (see IovaRcache::stats).
struct IovaRcacheStats {
  uint64_t hits = 0;        // get() served from a magazine
  uint64_t misses = 0;      // get() found nothing suitable
  uint64_t inserts = 0;     // put() kept the pfn cached
  uint64_t depot_pushes = 0;
  uint64_t depot_pops = 0;
  uint64_t overflows = 0;   // full magazines handed back because the depot was full
  uint64_t cached = 0;      // pfns currently held (slots + depot)
};

class MODIOMMU_API IovaRcache {
 public:
  explicit IovaRcache(unsigned nr_slots);
  ~IovaRcache();
  IovaRcache(const IovaRcache&) = delete;
  IovaRcache& operator=(const IovaRcache&) = delete;

  unsigned nr_slots() const { return nr_slots_; }

  // A cached range of 2^order granules whose first pfn is <= max_pfn.
  std::optional<uint64_t> get(unsigned order, uint64_t max_pfn);

  // Caches pfn (a range of 2^order granules). When the depot is already
  // full, returns the magazine that made room; its pfns must go back to the
  // tree (by the caller, with no rcache lock held).
  std::unique_ptr<IovaMagazine> put(unsigned order, uint64_t pfn);

  // Empties every slot and the depot; returns the magazines (tagged with
  // their order) for the caller to free into the tree.
  struct Drained {
    unsigned order;
    std::unique_ptr<IovaMagazine> mag;
  };
  std::vector<Drained> drain();

  IovaRcacheStats stats() const;

 private:
  struct alignas(64) Slot {
    mutable SpinLock lock;  // docs/architecture.md "Locks"
    // Allocated on first use so an idle slot costs no magazine memory.
    std::unique_ptr<IovaMagazine> loaded[kIovaRcacheOrders];
    std::unique_ptr<IovaMagazine> prev[kIovaRcacheOrders];
    uint64_t hits = 0, misses = 0, inserts = 0;
  };
  struct alignas(64) Depot {
    mutable std::mutex lock;  // docs/architecture.md "Locks"
    std::vector<std::unique_ptr<IovaMagazine>> full;
    uint64_t pushes = 0, pops = 0, overflows = 0;
  };

  Slot& this_slot();

  unsigned nr_slots_;
  std::unique_ptr<Slot[]> slots_;
  std::array<Depot, kIovaRcacheOrders> depot_;
};

// The calling thread's small process-wide index (stable for the thread's
// life, reused after it exits). Exposed for tests.
MODIOMMU_API unsigned iova_thread_index();

}  // namespace modiommu::iommu
