// IOVA allocator: range tree, live set and the glue to the per-thread caches.
// Design and locking rules: iova.h.
#include "iommu/iova.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace modiommu::iommu {

namespace {

constexpr uint64_t kNoHint = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kMaxCachedPages = uint64_t{1} << (kIovaRcacheOrders - 1);

// Last whole pfn at or below an inclusive address limit; nullopt if even
// pfn 0 does not fit.
std::optional<uint64_t> last_pfn_below(uint64_t last_addr, unsigned shift) {
  if (last_addr == std::numeric_limits<uint64_t>::max()) return last_addr >> shift;
  uint64_t n = (last_addr + 1) >> shift;
  if (n == 0) return std::nullopt;
  return n - 1;
}

// first pfn -> granules of every live allocation in one shard. Open
// addressing with linear probing and backward-shift deletion: no allocation
// per insert (std::unordered_map's node malloc was the largest cost of the
// cached fast path). pfn ~0 never occurs (granule >= 2), so it marks empty.
class LivePfnTable {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  size_t size() const { return size_; }

  uint64_t* find(uint64_t pfn) {
    if (size_ == 0) return nullptr;
    for (size_t i = home(pfn);; i = (i + 1) & mask_) {
      if (slots_[i].pfn == pfn) return &slots_[i].npages;
      if (slots_[i].pfn == kEmpty) return nullptr;
    }
  }

  void insert(uint64_t pfn, uint64_t npages) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    size_t i = home(pfn);
    while (slots_[i].pfn != kEmpty && slots_[i].pfn != pfn) i = (i + 1) & mask_;
    if (slots_[i].pfn == kEmpty) ++size_;
    slots_[i] = {pfn, npages};
  }

  bool erase(uint64_t pfn) {
    if (size_ == 0) return false;
    size_t i = home(pfn);
    while (slots_[i].pfn != pfn) {
      if (slots_[i].pfn == kEmpty) return false;
      i = (i + 1) & mask_;
    }
    // Backward shift: pull later entries of the probe run into the hole
    // unless their home lies cyclically in (hole, j].
    for (size_t j = (i + 1) & mask_; slots_[j].pfn != kEmpty; j = (j + 1) & mask_) {
      const size_t h = home(slots_[j].pfn);
      const bool stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].pfn = kEmpty;
    --size_;
    return true;
  }

 private:
  struct Entry {
    uint64_t pfn = kEmpty;
    uint64_t npages = 0;
  };
  size_t home(uint64_t pfn) const {
    // The shard took the top bits of this product; use lower-middle ones.
    const uint64_t h = pfn * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h >> 24) & mask_;
  }
  void grow() {
    std::vector<Entry> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Entry{});
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (const Entry& e : old)
      if (e.pfn != kEmpty) insert(e.pfn, e.npages);
  }

  std::vector<Entry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace

struct alignas(64) IovaDomain::LiveShard {
  SpinLock lock;  // docs/architecture.md "Locks"
  LivePfnTable pages;
};

const char* iova_state_name(IovaState s) {
  switch (s) {
    case IovaState::live: return "live";
    case IovaState::cached: return "cached";
    case IovaState::reserved: return "reserved";
  }
  return "?";
}

Result<std::unique_ptr<IovaDomain>> IovaDomain::create(size_t granule, uint64_t start_pfn,
                                                       uint64_t aperture_last, IovaOptions opts) {
  if (granule < 2 || !std::has_single_bit(granule))
    return make_error(Errc::inval, fmt::format("iova: granule 0x{:x} is not a power of two >= 2", granule));
  const unsigned shift = static_cast<unsigned>(std::countr_zero(granule));
  auto last = last_pfn_below(aperture_last, shift);
  if (!last || *last < start_pfn)
    return make_error(Errc::inval, fmt::format("iova: empty aperture: start pfn 0x{:x}, last address 0x{:x}, granule 0x{:x}",
                                               start_pfn, aperture_last, granule));
  if (opts.max_align_order < kIovaRcacheOrders - 1 || opts.max_align_order > 62)
    return make_error(Errc::inval, fmt::format("iova: max_align_order {} outside [{}, 62]", opts.max_align_order,
                                               kIovaRcacheOrders - 1));
  if (opts.nr_slots > 1024)
    return make_error(Errc::inval, fmt::format("iova: nr_slots {} above 1024", opts.nr_slots));
  if (opts.nr_slots == 0) opts.nr_slots = std::clamp(2 * std::thread::hardware_concurrency(), 8u, 64u);
  return std::unique_ptr<IovaDomain>(new IovaDomain(granule, start_pfn, *last, opts));
}

IovaDomain::IovaDomain(size_t granule, uint64_t start_pfn, uint64_t last_pfn, const IovaOptions& opts)
    : granule_(granule),
      shift_(static_cast<unsigned>(std::countr_zero(granule))),
      start_pfn_(start_pfn),
      last_pfn_(last_pfn),
      dma32_last_pfn_(shift_ >= 32 ? 0 : ((uint64_t{1} << 32) >> shift_) - 1),
      max_align_order_(opts.max_align_order),
      hint_{kNoHint, kNoHint},
      live_(std::make_unique<LiveShard[]>(kLiveShards)),
      rcache_(opts.rcache ? std::make_unique<IovaRcache>(opts.nr_slots) : nullptr) {}

// Cached ranges are still in the tree and the magazines die with rcache_, so
// nothing needs returning: everything goes at once (Linux put_iova_domain).
IovaDomain::~IovaDomain() = default;

uint64_t IovaDomain::pages_for(size_t size) const {
  if (size == 0) return 0;
  uint64_t n = (uint64_t{size} >> shift_) + ((size & (granule_ - 1)) != 0);
  // Small sizes take a whole cache order so freed ranges are reusable by any
  // request of that order (Linux alloc_iova_fast).
  if (n <= kMaxCachedPages) n = std::bit_ceil(n);
  return n;
}

uint64_t IovaDomain::align_for(uint64_t npages) const {
  const uint64_t cap = uint64_t{1} << max_align_order_;
  return npages >= cap ? cap : std::bit_ceil(npages);
}

uint64_t IovaDomain::rounded_size(size_t size) const { return pages_for(size) << shift_; }

Result<uint64_t> IovaDomain::limit_pfn_for(uint64_t limit_addr, uint64_t npages, size_t size) const {
  auto lp = last_pfn_below(limit_addr, shift_);
  if (lp) lp = std::min(*lp, last_pfn_);
  if (!lp || *lp < start_pfn_ || *lp - start_pfn_ + 1 < npages)
    return make_error(Errc::nomem,
                      fmt::format("iova: no room for 0x{:x} bytes below limit 0x{:x}: aperture is [0x{:x}, 0x{:x}]",
                                  size, limit_addr, start_pfn_ << shift_, ((last_pfn_ + 1) << shift_) - 1));
  return *lp;
}

// --- range tree ---------------------------------------------------------

// Highest aligned lo with [lo, lo + npages) free, lo >= start_pfn_ and
// lo + npages <= ceiling, looking only at gaps whose top is above `stop`
// (everything below was searched already). Walks down from the ceiling as
// Linux __alloc_and_insert_iova_range walks rb_prev from its cached node.
std::optional<uint64_t> IovaDomain::walk_down_locked(uint64_t npages, uint64_t align, uint64_t ceiling,
                                                     uint64_t stop) const {
  auto it = tree_.lower_bound(ceiling);  // first range at or above the ceiling
  uint64_t top = ceiling;                // exclusive top of the gap below `it`
  for (;;) {
    uint64_t floor = start_pfn_;
    if (it != tree_.begin()) {
      auto below = std::prev(it);
      if (below->second.pfn_hi >= top) {  // the ceiling falls inside this range
        top = below->first;
        it = below;
        continue;
      }
      floor = std::max(floor, below->second.pfn_hi + 1);
    }
    if (top <= stop) return std::nullopt;
    if (top >= npages && top - npages >= floor) {
      const uint64_t lo = (top - npages) & ~(align - 1);
      if (lo >= floor) return lo;
    }
    if (it == tree_.begin()) return std::nullopt;
    --it;
    top = it->first;
  }
}

std::optional<uint64_t> IovaDomain::tree_alloc_locked(uint64_t npages, uint64_t align, uint64_t limit_pfn) {
  if (failed_.npages && npages >= failed_.npages && align >= failed_.align && limit_pfn <= failed_.limit_pfn) {
    ++tree_failures_;
    return std::nullopt;
  }
  const int c = limit_pfn <= dma32_last_pfn_ ? kHint32 : kHintFull;
  const uint64_t high = limit_pfn + 1;
  const uint64_t ceiling = std::min(hint_[c], high);
  auto lo = walk_down_locked(npages, align, ceiling, 0);
  // Free space may remain above the hint (alignment holes, other limits):
  // search it before giving up, as Linux retries from the limit.
  if (!lo && ceiling < high) lo = walk_down_locked(npages, align, high, ceiling);
  if (!lo) {
    failed_ = {npages, align, limit_pfn};
    ++tree_failures_;
    return std::nullopt;
  }
  tree_.emplace(*lo, Node{*lo + npages - 1, false});
  hint_[c] = *lo;
  ++tree_allocs_;
  return lo;
}

void IovaDomain::tree_erase_locked(std::map<uint64_t, Node>::iterator it) {
  const uint64_t hi = it->second.pfn_hi;
  // Space freed at or above a hint must be reachable by the next search
  // (Linux __cached_rbnode_delete_update).
  for (uint64_t& h : hint_)
    if (h != kNoHint && hi >= h) h = hi + 1;
  failed_ = {};
  tree_.erase(it);
  ++tree_frees_;
}

std::optional<uint64_t> IovaDomain::tree_alloc(uint64_t npages, uint64_t align, uint64_t limit_pfn) {
  std::lock_guard<std::mutex> g(tree_lock_);
  return tree_alloc_locked(npages, align, limit_pfn);
}

void IovaDomain::tree_free_pfns(std::span<const uint64_t> pfns) {
  std::lock_guard<std::mutex> g(tree_lock_);
  for (uint64_t pfn : pfns) {
    auto it = tree_.find(pfn);
    // Cached pfns were live allocations, so they are in the tree; anything
    // else would be an internal bug, and skipping it is the safe choice.
    if (it != tree_.end() && !it->second.reserved) tree_erase_locked(it);
  }
}

void IovaDomain::release_magazine(unsigned /*order*/, const IovaMagazine& mag) {
  tree_free_pfns(std::span<const uint64_t>(mag.pfns.data(), mag.count));
}

// --- live set -------------------------------------------------------------

IovaDomain::LiveShard& IovaDomain::shard(uint64_t pfn) const {
  // Fibonacci hashing: consecutive pfns spread over all shards.
  return live_[(pfn * 0x9E3779B97F4A7C15ull) >> (64 - std::countr_zero(kLiveShards))];
}

void IovaDomain::live_insert(uint64_t pfn, uint64_t npages) {
  LiveShard& s = shard(pfn);
  std::lock_guard<SpinLock> g(s.lock);
  s.pages.insert(pfn, npages);
}

Status IovaDomain::live_remove(uint64_t pfn, uint64_t npages, size_t size) {
  {
    LiveShard& s = shard(pfn);
    std::lock_guard<SpinLock> g(s.lock);
    if (const uint64_t* held = s.pages.find(pfn)) {
      if (*held != npages)
        return make_error(Errc::inval,
                          fmt::format("iova: free of 0x{:x} with size 0x{:x} ({} granules), but it was allocated "
                                      "with {} granules",
                                      pfn << shift_, size, npages, *held));
      s.pages.erase(pfn);
      return ok_status();
    }
  }
  // Not live: say why, for the driver author (no lock held here).
  const uint64_t iova = pfn << shift_;
  auto r = find(iova);
  if (!r)
    return make_error(Errc::noent, fmt::format("iova: free of 0x{:x} (size 0x{:x}): not allocated", iova, size));
  if (r->state == IovaState::reserved)
    return make_error(Errc::inval, fmt::format("iova: free of 0x{:x} (size 0x{:x}): inside reserved region "
                                               "[0x{:x}, +0x{:x})", iova, size, r->start, r->size));
  if (r->start != iova)
    return make_error(Errc::inval, fmt::format("iova: free of 0x{:x} (size 0x{:x}): inside allocation "
                                               "[0x{:x}, +0x{:x}) but not its start", iova, size, r->start, r->size));
  return make_error(Errc::noent, fmt::format("iova: double free of 0x{:x} (size 0x{:x})", iova, size));
}

Status IovaDomain::check_free_args(uint64_t iova, size_t size, uint64_t* pfn, uint64_t* npages) const {
  if (size == 0) return make_error(Errc::inval, fmt::format("iova: free of 0x{:x} with size 0", iova));
  if (iova & (granule_ - 1))
    return make_error(Errc::inval, fmt::format("iova: free of 0x{:x}: not aligned to the granule 0x{:x}", iova, granule_));
  *pfn = iova >> shift_;
  *npages = pages_for(size);
  return ok_status();
}

// --- public API -----------------------------------------------------------

Result<uint64_t> IovaDomain::alloc_common(size_t size, uint64_t limit_addr, bool fast) {
  const uint64_t npages = pages_for(size);
  if (npages == 0) return make_error(Errc::inval, "iova: allocation of size 0");
  const uint64_t limit_pfn = TRY(limit_pfn_for(limit_addr, npages, size));
  if (fast && rcache_ && npages <= kMaxCachedPages) {
    const unsigned order = static_cast<unsigned>(std::countr_zero(npages));
    if (auto pfn = rcache_->get(order, limit_pfn - npages + 1)) {
      live_insert(*pfn, npages);
      return *pfn << shift_;
    }
  }
  const uint64_t align = align_for(npages);
  auto lo = tree_alloc(npages, align, limit_pfn);
  if (!lo && rcache_) {
    // Memory pressure: ranges parked in magazines may be what is missing
    // (Linux alloc_iova_fast flushes all CPUs' caches and retries once).
    flush_rcaches();
    lo = tree_alloc(npages, align, limit_pfn);
  }
  if (!lo)
    return make_error(Errc::nomem,
                      fmt::format("iova: no free range of 0x{:x} bytes (0x{:x} with rounding, aligned to 0x{:x}) "
                                  "at or below limit 0x{:x}",
                                  size, npages << shift_, align << shift_, limit_addr));
  live_insert(*lo, npages);
  return *lo << shift_;
}

Result<uint64_t> IovaDomain::alloc(size_t size, uint64_t limit_addr) { return alloc_common(size, limit_addr, false); }

Result<uint64_t> IovaDomain::alloc_fast(size_t size, uint64_t limit_addr) {
  return alloc_common(size, limit_addr, true);
}

Status IovaDomain::free(uint64_t iova, size_t size) {
  uint64_t pfn = 0, npages = 0;
  TRY(check_free_args(iova, size, &pfn, &npages));
  TRY(live_remove(pfn, npages, size));
  tree_free_pfns(std::span<const uint64_t>(&pfn, 1));
  return ok_status();
}

Status IovaDomain::free_fast(uint64_t iova, size_t size) {
  uint64_t pfn = 0, npages = 0;
  TRY(check_free_args(iova, size, &pfn, &npages));
  TRY(live_remove(pfn, npages, size));
  if (rcache_ && npages <= kMaxCachedPages) {
    const unsigned order = static_cast<unsigned>(std::countr_zero(npages));
    if (auto spill = rcache_->put(order, pfn)) release_magazine(order, *spill);
    return ok_status();
  }
  tree_free_pfns(std::span<const uint64_t>(&pfn, 1));
  return ok_status();
}

Status IovaDomain::free_batch(std::span<const IovaFree> ranges) {
  Status first;
  size_t failed = 0;
  for (const IovaFree& f : ranges) {
    Status s = free_fast(f.iova, f.size);
    if (!s.ok() && failed++ == 0) first = std::move(s);
  }
  if (failed == 0) return ok_status();
  Error e = std::move(first).error();
  e.message = fmt::format("{} ({} of {} entries failed)", e.message, failed, ranges.size());
  return e;
}

Status IovaDomain::reserve(uint64_t start, uint64_t last) {
  if (last < start)
    return make_error(Errc::inval, fmt::format("iova: reserve [0x{:x}, 0x{:x}]: end before start", start, last));
  uint64_t lo = std::max(start >> shift_, start_pfn_);
  uint64_t hi = std::min(last >> shift_, last_pfn_);
  if (lo > hi) return ok_status();  // wholly outside the aperture
  for (int attempt = 0;; ++attempt) {
    {
      std::lock_guard<std::mutex> g(tree_lock_);
      // Overlapping ranges: walk down from the last one starting at or below hi.
      std::vector<std::map<uint64_t, Node>::iterator> overlap;
      bool busy = false;
      uint64_t busy_lo = 0, busy_hi = 0;
      for (auto it = tree_.upper_bound(hi); it != tree_.begin();) {
        --it;
        if (it->second.pfn_hi < lo) break;
        if (!it->second.reserved) {
          busy = true;
          busy_lo = it->first;
          busy_hi = it->second.pfn_hi;
        }
        overlap.push_back(it);
      }
      if (!busy) {
        for (auto it : overlap) {
          lo = std::min(lo, it->first);
          hi = std::max(hi, it->second.pfn_hi);
          tree_.erase(it);
        }
        tree_.emplace(lo, Node{hi, true});
        return ok_status();
      }
      if (attempt > 0)
        return make_error(Errc::busy,
                          fmt::format("iova: reserve [0x{:x}, 0x{:x}] overlaps allocation [0x{:x}, 0x{:x}]", start,
                                      last, busy_lo << shift_, ((busy_hi + 1) << shift_) - 1));
    }
    // Maybe only cached ranges are in the way: return them and look again.
    flush_rcaches();
  }
}

Result<IovaRange> IovaDomain::find(uint64_t iova) const {
  const uint64_t pfn = iova >> shift_;
  std::lock_guard<std::mutex> g(tree_lock_);
  auto it = tree_.upper_bound(pfn);
  if (it == tree_.begin() || std::prev(it)->second.pfn_hi < pfn)
    return make_error(Errc::noent, fmt::format("iova: 0x{:x} is not in any allocated or reserved range", iova));
  --it;
  IovaRange r;
  r.start = it->first << shift_;
  r.size = (it->second.pfn_hi - it->first + 1) << shift_;
  if (it->second.reserved) {
    r.state = IovaState::reserved;
  } else {
    LiveShard& s = shard(it->first);
    std::lock_guard<SpinLock> sg(s.lock);
    r.state = s.pages.find(it->first) ? IovaState::live : IovaState::cached;
  }
  return r;
}

void IovaDomain::flush_rcaches() {
  if (!rcache_) return;
  auto drained = rcache_->drain();
  std::lock_guard<std::mutex> g(tree_lock_);
  ++flushes_;
  for (const auto& d : drained) {
    for (size_t i = 0; i < d.mag->count; ++i) {
      auto it = tree_.find(d.mag->pfns[i]);
      if (it != tree_.end() && !it->second.reserved) tree_erase_locked(it);
    }
  }
}

IovaStats IovaDomain::stats() const {
  IovaStats st;
  {
    std::lock_guard<std::mutex> g(tree_lock_);
    st.tree_allocs = tree_allocs_;
    st.tree_frees = tree_frees_;
    st.tree_failures = tree_failures_;
    st.tree_ranges = tree_.size();
    st.flushes = flushes_;
  }
  for (unsigned i = 0; i < kLiveShards; ++i) {
    std::lock_guard<SpinLock> g(live_[i].lock);
    st.live += live_[i].pages.size();
  }
  if (rcache_) {
    IovaRcacheStats r = rcache_->stats();
    st.cache_hits = r.hits;
    st.cache_misses = r.misses;
    st.cache_inserts = r.inserts;
    st.cached = r.cached;
    st.depot_pushes = r.depot_pushes;
    st.depot_pops = r.depot_pops;
    st.depot_overflows = r.overflows;
  }
  return st;
}

}  // namespace modiommu::iommu
