// Per-thread IOVA magazines; the scheme and locking are described in
// iova_rcache.h.
#include "iommu/iova_rcache.h"

#include <utility>

namespace modiommu::iommu {

namespace {

// Process-wide pool of small thread indices. Taken once per thread, so a
// plain mutex is fine; indices are recycled so short-lived threads do not
// spread over ever more slots.
class ThreadIndexPool {
 public:
  unsigned acquire() {
    std::lock_guard<std::mutex> g(lock_);
    for (unsigned i = 0; i < used_.size(); ++i) {
      if (!used_[i]) {
        used_[i] = true;
        return i;
      }
    }
    used_.push_back(true);
    return static_cast<unsigned>(used_.size() - 1);
  }
  void release(unsigned i) {
    std::lock_guard<std::mutex> g(lock_);
    if (i < used_.size()) used_[i] = false;
  }

 private:
  std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<bool> used_;
};

ThreadIndexPool& index_pool() {
  // Never destroyed: thread_local destructors of threads still running at
  // process exit may release into it after static destruction began.
  static ThreadIndexPool* pool = new ThreadIndexPool;
  return *pool;
}

struct ThreadIndex {
  static constexpr unsigned kNone = ~0u;
  unsigned idx = kNone;
  ~ThreadIndex() {
    if (idx != kNone) index_pool().release(idx);
  }
  unsigned get() {
    if (idx == kNone) idx = index_pool().acquire();
    return idx;
  }
};

thread_local ThreadIndex t_index;

}  // namespace

unsigned iova_thread_index() { return t_index.get(); }

std::optional<uint64_t> IovaMagazine::pop(uint64_t max_pfn) {
  // Newest first (LIFO reuse, as Linux). The last entry fills the hole so
  // the array stays dense.
  for (size_t i = count; i-- > 0;) {
    if (pfns[i] <= max_pfn) {
      uint64_t pfn = pfns[i];
      pfns[i] = pfns[count - 1];
      --count;
      return pfn;
    }
  }
  return std::nullopt;
}

IovaRcache::IovaRcache(unsigned nr_slots)
    : nr_slots_(nr_slots ? nr_slots : 1), slots_(std::make_unique<Slot[]>(nr_slots_)) {}

IovaRcache::~IovaRcache() = default;

IovaRcache::Slot& IovaRcache::this_slot() { return slots_[iova_thread_index() % nr_slots_]; }

std::optional<uint64_t> IovaRcache::get(unsigned order, uint64_t max_pfn) {
  Slot& s = this_slot();
  std::lock_guard<SpinLock> g(s.lock);
  auto& loaded = s.loaded[order];
  auto& prev = s.prev[order];
  bool have = false;
  if (loaded && !loaded->empty()) {
    have = true;
  } else if (prev && !prev->empty()) {
    std::swap(loaded, prev);
    have = true;
  } else {
    Depot& d = depot_[order];
    std::lock_guard<std::mutex> dg(d.lock);
    if (!d.full.empty()) {
      // The empty loaded magazine is dropped; a full one takes its place.
      loaded = std::move(d.full.back());
      d.full.pop_back();
      ++d.pops;
      have = true;
    }
  }
  std::optional<uint64_t> pfn;
  if (have) pfn = loaded->pop(max_pfn);
  if (pfn)
    ++s.hits;
  else
    ++s.misses;
  return pfn;
}

std::unique_ptr<IovaMagazine> IovaRcache::put(unsigned order, uint64_t pfn) {
  Slot& s = this_slot();
  std::unique_ptr<IovaMagazine> spill;
  std::lock_guard<SpinLock> g(s.lock);
  auto& loaded = s.loaded[order];
  auto& prev = s.prev[order];
  if (!loaded) loaded = std::make_unique<IovaMagazine>();
  if (!prev) prev = std::make_unique<IovaMagazine>();
  if (loaded->full()) {
    if (!prev->full()) {
      std::swap(loaded, prev);
    } else {
      // Both full: the loaded one goes to the depot, or back to the caller
      // for the tree when the depot is at its cap.
      auto fresh = std::make_unique<IovaMagazine>();
      Depot& d = depot_[order];
      {
        std::lock_guard<std::mutex> dg(d.lock);
        if (d.full.size() < kIovaDepotMax) {
          d.full.push_back(std::move(loaded));
          ++d.pushes;
        } else {
          spill = std::move(loaded);
          ++d.overflows;
        }
      }
      loaded = std::move(fresh);
    }
  }
  loaded->push(pfn);
  ++s.inserts;
  return spill;
}

std::vector<IovaRcache::Drained> IovaRcache::drain() {
  std::vector<Drained> out;
  auto take = [&out](unsigned order, std::unique_ptr<IovaMagazine>& m) {
    if (m && !m->empty()) out.push_back({order, std::move(m)});
  };
  for (unsigned i = 0; i < nr_slots_; ++i) {
    Slot& s = slots_[i];
    std::lock_guard<SpinLock> g(s.lock);
    for (unsigned o = 0; o < kIovaRcacheOrders; ++o) {
      take(o, s.loaded[o]);
      take(o, s.prev[o]);
    }
  }
  for (unsigned o = 0; o < kIovaRcacheOrders; ++o) {
    Depot& d = depot_[o];
    std::lock_guard<std::mutex> dg(d.lock);
    for (auto& m : d.full) take(o, m);
    d.full.clear();
  }
  return out;
}

IovaRcacheStats IovaRcache::stats() const {
  IovaRcacheStats st;
  for (unsigned i = 0; i < nr_slots_; ++i) {
    const Slot& s = slots_[i];
    std::lock_guard<SpinLock> g(s.lock);
    st.hits += s.hits;
    st.misses += s.misses;
    st.inserts += s.inserts;
    for (unsigned o = 0; o < kIovaRcacheOrders; ++o) {
      if (s.loaded[o]) st.cached += s.loaded[o]->count;
      if (s.prev[o]) st.cached += s.prev[o]->count;
    }
  }
  for (const Depot& d : depot_) {
    std::lock_guard<std::mutex> dg(d.lock);
    st.depot_pushes += d.pushes;
    st.depot_pops += d.pops;
    st.overflows += d.overflows;
    for (const auto& m : d.full) st.cached += m->count;
  }
  return st;
}

}  // namespace modiommu::iommu
