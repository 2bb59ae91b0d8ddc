// Concurrency: 4 threads allocate and free at once with a shadow map that
// checks no two live allocations overlap; domains destroyed and recreated
// while the threads that used them live on. Run under TSan and ASan too.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "iommu/iova.h"

namespace modiommu::iommu {
namespace {

constexpr uint64_t k4K = 4096;
constexpr uint64_t kMask32 = 0xffffffffull;
constexpr uint64_t kAperture48 = (uint64_t{1} << 48) - 1;
constexpr int kThreads = 4;

// Every live allocation as seen by the callers, [start, start + size). It
// has its own lock so it checks the allocator instead of serialising it.
class Shadow {
 public:
  // Returns a description of the clash, or "" if none.
  std::string add(uint64_t start, uint64_t size) {
    std::lock_guard<std::mutex> g(lock_);
    auto next = live_.lower_bound(start);
    if (next != live_.end() && next->first < start + size) return clash(start, size, *next);
    if (next != live_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second > start) return clash(start, size, *prev);
    }
    live_.emplace(start, size);
    return "";
  }
  void remove(uint64_t start) {
    std::lock_guard<std::mutex> g(lock_);
    live_.erase(start);
  }
  size_t size() {
    std::lock_guard<std::mutex> g(lock_);
    return live_.size();
  }

 private:
  static std::string clash(uint64_t start, uint64_t size, const std::pair<const uint64_t, uint64_t>& other) {
    return "overlap: [" + std::to_string(start) + ", +" + std::to_string(size) + ") with [" +
           std::to_string(other.first) + ", +" + std::to_string(other.second) + ")";
  }
  std::mutex lock_;
  std::map<uint64_t, uint64_t> live_;
};

struct Held {
  uint64_t iova, size;
  bool fast;
};

// One worker's random mix of fast/tree allocs and frees, sizes 1..64 pages,
// 32-bit and 64-bit limits. Stops at the first error it sees.
void churn(IovaDomain& d, Shadow& shadow, unsigned seed, int ops, std::atomic<int>& errors,
           std::string* first_error) {
  std::mt19937_64 rng(seed);
  std::vector<Held> held;
  auto fail = [&](std::string what) {
    if (errors.fetch_add(1) == 0) *first_error = std::move(what);
  };
  for (int i = 0; i < ops && errors.load(std::memory_order_relaxed) == 0; ++i) {
    const bool do_alloc = held.empty() || (held.size() < 256 && rng() % 100 < 55);
    if (do_alloc) {
      const size_t pages = (rng() % 4 == 0) ? 1 + rng() % 64 : (size_t{1} << (rng() % 6));
      const size_t size = pages * k4K - (rng() % 2 ? 0 : 100);  // some sizes not granule multiples
      const uint64_t limit = rng() % 2 ? kMask32 : ~0ull;
      const bool fast = rng() % 4 != 0;
      auto r = fast ? d.alloc_fast(size, limit) : d.alloc(size, limit);
      if (!r.ok()) return fail("alloc: " + r.error().str());
      const uint64_t span = d.rounded_size(size);
      if (*r + span - 1 > limit) return fail("range above the limit");
      if (auto c = shadow.add(*r, span); !c.empty()) return fail(c);
      held.push_back({*r, size, fast});
    } else {
      const size_t k = rng() % held.size();
      Held h = held[k];
      held[k] = held.back();
      held.pop_back();
      shadow.remove(h.iova);  // before the free: the range may be reused at once
      Status s = h.fast ? d.free_fast(h.iova, h.size) : d.free(h.iova, h.size);
      if (!s.ok()) return fail("free: " + s.error().str());
    }
  }
  for (const Held& h : held) {
    shadow.remove(h.iova);
    Status s = d.free_fast(h.iova, h.size);
    if (!s.ok()) return fail("final free: " + s.error().str());
  }
}

TEST(IovaConcurrency, FourThreadsNeverOverlap) {
  // Small aperture (256 MiB) so the tree and the 32-bit hint both matter and
  // cached ranges compete with tree allocations.
  auto dr = IovaDomain::create(k4K, 1, (256ull << 20) - 1);
  ASSERT_TRUE(dr.ok());
  auto d = std::move(dr).value();
  ASSERT_TRUE(d->reserve(0x8000000, 0x80fffff).ok());  // an MSI window
  Shadow shadow;
  std::atomic<int> errors{0};
  std::string first_error;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] { churn(*d, shadow, 1000u + t, 20000, errors, &first_error); });
  for (auto& t : ts) t.join();
  ASSERT_EQ(errors.load(), 0) << first_error;
  EXPECT_EQ(shadow.size(), 0u);

  IovaStats s = d->stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_GT(s.cache_hits, 0u);
  EXPECT_GT(s.tree_allocs, 0u);
  d->flush_rcaches();
  s = d->stats();
  EXPECT_EQ(s.cached, 0u);
  EXPECT_EQ(s.tree_ranges, 1u) << "only the MSI window remains";
  EXPECT_EQ(d->find(0x8000000)->state, IovaState::reserved);
}

TEST(IovaConcurrency, FlushWhileThreadsAllocate) {
  auto dr = IovaDomain::create(k4K, 1, kAperture48);
  ASSERT_TRUE(dr.ok());
  auto d = std::move(dr).value();
  Shadow shadow;
  std::atomic<int> errors{0};
  std::string first_error;
  std::atomic<bool> stop{false};
  std::thread flusher([&] {
    while (!stop.load()) {
      d->flush_rcaches();
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads - 1; ++t)
    ts.emplace_back([&, t] { churn(*d, shadow, 77u + t, 10000, errors, &first_error); });
  for (auto& t : ts) t.join();
  stop = true;
  flusher.join();
  ASSERT_EQ(errors.load(), 0) << first_error;
  d->flush_rcaches();
  IovaStats s = d->stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.tree_ranges, 0u);
  EXPECT_GT(s.flushes, 1u);
}

TEST(IovaConcurrency, DomainDestroyedWhileThreadsLive) {
  // The same 4 threads work on a series of domains; each domain is destroyed
  // (with ranges still cached in the threads' slots) while the threads wait,
  // alive, for the next one.
  constexpr int kRounds = 4;
  std::unique_ptr<IovaDomain> d;
  std::atomic<int> errors{0};
  std::string first_error;
  std::barrier sync(kThreads + 1);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        sync.arrive_and_wait();  // domain ready
        std::vector<uint64_t> mine;
        for (int i = 0; i < 300; ++i) {
          auto r = d->alloc_fast(k4K << (i % 3), kMask32);
          if (!r.ok()) {
            if (errors.fetch_add(1) == 0) first_error = r.error().str();
            break;
          }
          mine.push_back(*r);
        }
        // Free most through the caches and keep a few live: the domain
        // goes away with both cached and live ranges.
        for (size_t i = 0; i + 5 < mine.size(); ++i) {
          Status s = d->free_fast(mine[i], k4K << (i % 3));
          if (!s.ok() && errors.fetch_add(1) == 0) first_error = s.error().str();
        }
        sync.arrive_and_wait();  // done with this domain
      }
    });
  }
  for (int round = 0; round < kRounds; ++round) {
    auto dr = IovaDomain::create(k4K, 1, kAperture48);
    ASSERT_TRUE(dr.ok());
    d = std::move(dr).value();
    EXPECT_EQ(d->stats().cached, 0u) << "a new domain starts with empty caches";
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    IovaStats s = d->stats();
    EXPECT_EQ(s.live, kThreads * 5u);
    EXPECT_GT(s.cached, 0u);
    d.reset();  // threads still alive, magazines still full
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0) << first_error;
}

}  // namespace
}  // namespace modiommu::iommu
