// IOVA allocator: hands out I/O virtual address ranges of a DMA domain, as
// Linux's drivers/iommu/iova.c. A range tree (std::map keyed by first pfn)
// holds every occupied range; allocation searches it top-down below the
// device's DMA limit, starting from a cached hint (Linux cached_node /
// cached32_node) so steady-state allocation does not walk the whole tree.
// alloc_fast()/free_fast() go through per-thread magazines (iova_rcache.h)
// and only fall back to the tree on a miss.
//
// Units: `granule` is the IOMMU page size; a pfn is iova / granule. All
// limits are inclusive last addresses, like a DMA mask (0xffffffff).
//
// Sizes: a request of n granules with n <= 32 is rounded up to a power of two
// (so it fits a cache order, as Linux alloc_iova_fast); every range is
// aligned to its size rounded up to a power of two, capped at
// 2^max_align_order granules. free()/free_fast() take the same size that was
// passed to alloc, and check it.
//
// Thread-safety: every public call may run concurrently from any thread.
// Locking rules:
//   - tree_lock_ (mutex) guards the range tree, its hints and the tree
//     counters; it is the only global lock and sits on the slow path only.
//   - live_[] shards (spinlocks) guard the set of live allocations, which is
//     what free() checks against (so a double or bogus free is an error, not
//     a corrupted cache). Shard chosen by pfn hash.
//   - IovaRcache slot/depot locks (see iova_rcache.h).
//   Order: tree_lock_ -> live shard (find() only). The rcache locks are never
//   held together with tree_lock_ or a live shard.
// The destructor must not race with other calls (as any object); threads
// that used the domain may outlive it (they hold no per-domain state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "base/api.h"
#include "base/result.h"
#include "iommu/iova_rcache.h"

namespace modiommu::iommu {

struct MODIOMMU_API IovaOptions {
  // Per-thread magazines; false makes alloc_fast/free_fast plain tree calls
  // (for comparison and debugging).
  bool rcache = true;
  // Thread slots; 0 picks 2 x hardware threads (at least 8, at most 64).
  unsigned nr_slots = 0;
  // Alignment cap in granules (log2). Default 9: 2 MiB with a 4 KiB granule,
  // a level-2 block, so io-pgtable can use block mappings; larger alignment
  // only fragments the space. Must be >= 5 so cached sizes stay aligned.
  unsigned max_align_order = 9;
};

enum class IovaState { live, cached, reserved };
MODIOMMU_API const char* iova_state_name(IovaState s);

// One occupied range, for find().
struct MODIOMMU_API IovaRange {
  uint64_t start = 0;  // first address
  uint64_t size = 0;   // bytes
  IovaState state = IovaState::live;
};

// One range to free, for free_batch().
struct MODIOMMU_API IovaFree {
  uint64_t iova = 0;
  size_t size = 0;
};

struct MODIOMMU_API IovaStats {
  uint64_t tree_allocs = 0;      // ranges inserted by a tree search
  uint64_t tree_frees = 0;       // ranges removed from the tree
  uint64_t tree_failures = 0;    // tree searches that found no space
  uint64_t tree_ranges = 0;      // ranges now in the tree (incl. cached, reserved)
  uint64_t cache_hits = 0;       // alloc_fast served by a magazine
  uint64_t cache_misses = 0;
  uint64_t cache_inserts = 0;    // free_fast kept the range cached
  uint64_t cached = 0;           // ranges now held in magazines
  uint64_t depot_pushes = 0, depot_pops = 0, depot_overflows = 0;
  uint64_t flushes = 0;          // flush_rcaches() calls (incl. retries)
  uint64_t live = 0;             // allocations not yet freed
};

class MODIOMMU_API IovaDomain {
 public:
  // Aperture [start_pfn * granule, aperture_last]. granule: a power of two
  // >= 2 (so pfn + 1 never overflows).
  static Result<std::unique_ptr<IovaDomain>> create(size_t granule, uint64_t start_pfn,
                                                    uint64_t aperture_last, IovaOptions opts = {});
  ~IovaDomain();
  IovaDomain(const IovaDomain&) = delete;
  IovaDomain& operator=(const IovaDomain&) = delete;

  size_t granule() const { return granule_; }
  unsigned shift() const { return shift_; }
  uint64_t start_pfn() const { return start_pfn_; }
  uint64_t last_pfn() const { return last_pfn_; }
  bool rcache_enabled() const { return rcache_ != nullptr; }

  // Bytes actually reserved for a request of `size` (granule- and, for small
  // sizes, power-of-two-rounded); 0 for size 0.
  uint64_t rounded_size(size_t size) const;

  // A range of `size` bytes ending at or below limit_addr (the DMA mask),
  // the highest that fits (top-down). ENOMEM if none, EINVAL for size 0.
  // Tree only, but if the tree is full and magazines hold ranges, they are
  // flushed and the search retried once.
  Result<uint64_t> alloc(size_t size, uint64_t limit_addr);
  Status free(uint64_t iova, size_t size);

  // Same contracts, through the per-thread caches (Linux alloc_iova_fast /
  // free_iova_fast). Sizes above 32 granules always use the tree.
  Result<uint64_t> alloc_fast(size_t size, uint64_t limit_addr);
  Status free_fast(uint64_t iova, size_t size);
  // Frees many ranges (a flush queue after its IOTLB sync); every valid
  // entry is freed, the first error (if any) is returned.
  Status free_batch(std::span<const IovaFree> ranges);

  // Marks [start, last] (inclusive, widened to granules) as never to be
  // returned: MSI windows, RMRs. Merges with overlapping reservations; parts
  // outside the aperture are ignored. EBUSY if it overlaps an allocation.
  Status reserve(uint64_t start, uint64_t last);

  // The occupied range containing iova (ENOENT if none).
  Result<IovaRange> find(uint64_t iova) const;

  // Returns every cached range to the tree (teardown, memory pressure).
  void flush_rcaches();

  IovaStats stats() const;

 private:
  struct Node {
    uint64_t pfn_hi;  // inclusive
    bool reserved;
  };
  enum { kHint32, kHintFull, kNrHints };
  static constexpr unsigned kLiveShards = 64;
  struct LiveShard;  // iova.cpp: a spinlock and an open-addressing pfn table

  IovaDomain(size_t granule, uint64_t start_pfn, uint64_t last_pfn, const IovaOptions& opts);

  // Granules for a request (0 if size is 0); small sizes rounded to pow2.
  uint64_t pages_for(size_t size) const;
  uint64_t align_for(uint64_t npages) const;
  Result<uint64_t> limit_pfn_for(uint64_t limit_addr, uint64_t npages, size_t size) const;
  Result<uint64_t> alloc_common(size_t size, uint64_t limit_addr, bool fast);

  // Tree (caller holds tree_lock_ for the _locked ones).
  std::optional<uint64_t> tree_alloc_locked(uint64_t npages, uint64_t align, uint64_t limit_pfn);
  std::optional<uint64_t> walk_down_locked(uint64_t npages, uint64_t align, uint64_t ceiling,
                                           uint64_t stop) const;
  void tree_erase_locked(std::map<uint64_t, Node>::iterator it);
  std::optional<uint64_t> tree_alloc(uint64_t npages, uint64_t align, uint64_t limit_pfn);
  void tree_free_pfns(std::span<const uint64_t> pfns);
  void release_magazine(unsigned order, const IovaMagazine& mag);

  // Live set.
  LiveShard& shard(uint64_t pfn) const;
  void live_insert(uint64_t pfn, uint64_t npages);
  // Removes pfn if live with exactly npages; otherwise an error naming why.
  Status live_remove(uint64_t pfn, uint64_t npages, size_t size);
  Status check_free_args(uint64_t iova, size_t size, uint64_t* pfn, uint64_t* npages) const;

  const size_t granule_;
  const unsigned shift_;
  const uint64_t start_pfn_;
  const uint64_t last_pfn_;
  const uint64_t dma32_last_pfn_;
  const unsigned max_align_order_;

  mutable std::mutex tree_lock_;  // docs/architecture.md "Locks"
  std::map<uint64_t, Node> tree_;  // first pfn -> range; ranges never overlap
  // Hint per limit class: exclusive ceiling under which the next search
  // starts (Linux cached_node). Correctness never depends on it: a failed
  // search below the hint retries the part above it.
  uint64_t hint_[kNrHints];
  // The last request that failed outright (Linux max32_alloc_size,
  // generalised): an equal or harder one fails at once until a free.
  struct {
    uint64_t npages = 0, align = 0, limit_pfn = 0;
  } failed_;
  uint64_t tree_allocs_ = 0, tree_frees_ = 0, tree_failures_ = 0, flushes_ = 0;

  std::unique_ptr<LiveShard[]> live_;
  std::unique_ptr<IovaRcache> rcache_;  // null when disabled
};

}  // namespace modiommu::iommu
