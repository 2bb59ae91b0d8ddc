// Per-thread caches: hits counted, depot used, limits honoured, flush and
// memory-pressure retry return cached ranges to the tree.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "iommu/iova.h"

namespace modiommu::iommu {
namespace {

constexpr uint64_t k4K = 4096;
constexpr uint64_t kMask32 = 0xffffffffull;
constexpr uint64_t kAperture48 = (uint64_t{1} << 48) - 1;

std::unique_ptr<IovaDomain> make(uint64_t last = kAperture48, IovaOptions o = {}) {
  auto d = IovaDomain::create(k4K, 1, last, o);
  EXPECT_TRUE(d.ok());
  return d.ok() ? std::move(d).value() : nullptr;
}

TEST(IovaRcache, FreedRangesComeBackFromTheCache) {
  auto d = make();
  ASSERT_TRUE(d);
  auto a = d->alloc_fast(2 * k4K, kMask32);
  ASSERT_TRUE(a.ok());
  IovaStats s0 = d->stats();
  EXPECT_EQ(s0.tree_allocs, 1u);
  ASSERT_TRUE(d->free_fast(*a, 2 * k4K).ok());
  EXPECT_EQ(d->find(*a)->state, IovaState::cached);

  auto b = d->alloc_fast(2 * k4K, kMask32);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, *a);
  IovaStats s1 = d->stats();
  EXPECT_EQ(s1.cache_hits, s0.cache_hits + 1);
  EXPECT_EQ(s1.tree_allocs, s0.tree_allocs) << "a hit must not touch the tree";
  EXPECT_EQ(d->find(*b)->state, IovaState::live);

  // Another order does not take it: 1 page misses and goes to the tree.
  auto c = d->alloc_fast(k4K, kMask32);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(d->stats().tree_allocs, s0.tree_allocs + 1);
}

TEST(IovaRcache, DisabledCachesUseTheTree) {
  IovaOptions o;
  o.rcache = false;
  auto d = make(kAperture48, o);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->rcache_enabled());
  for (int i = 0; i < 10; ++i) {
    auto a = d->alloc_fast(k4K, kMask32);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(d->free_fast(*a, k4K).ok());
  }
  IovaStats s = d->stats();
  EXPECT_EQ(s.tree_allocs, 10u);
  EXPECT_EQ(s.tree_frees, 10u);
  EXPECT_EQ(s.cache_hits, 0u);
  EXPECT_EQ(s.tree_ranges, 0u);
}

TEST(IovaRcache, CachedRangeAboveTheLimitIsNotReturned) {
  auto d = make();
  ASSERT_TRUE(d);
  auto high = d->alloc_fast(k4K, ~0ull);
  ASSERT_TRUE(high.ok());
  ASSERT_GT(*high, kMask32);
  ASSERT_TRUE(d->free_fast(*high, k4K).ok());
  auto low = d->alloc_fast(k4K, kMask32);
  ASSERT_TRUE(low.ok());
  EXPECT_LE(*low, kMask32 - k4K + 1);
  EXPECT_EQ(d->find(*high)->state, IovaState::cached) << "still cached for a 64-bit device";
  auto again = d->alloc_fast(k4K, ~0ull);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *high);
}

TEST(IovaRcache, DepotTakesFullMagazinesAndFlushReturnsAll) {
  auto d = make();
  ASSERT_TRUE(d);
  const size_t n = 3 * kIovaMagSize + 7;  // more than one slot's pair holds
  std::vector<uint64_t> v;
  for (size_t i = 0; i < n; ++i) {
    auto r = d->alloc_fast(k4K, kMask32);
    ASSERT_TRUE(r.ok());
    v.push_back(*r);
  }
  for (uint64_t a : v) ASSERT_TRUE(d->free_fast(a, k4K).ok());
  IovaStats s = d->stats();
  EXPECT_EQ(s.cached, n);
  EXPECT_GE(s.depot_pushes, 1u);
  EXPECT_EQ(s.tree_ranges, n) << "cached ranges stay allocated in the tree";
  EXPECT_EQ(s.live, 0u);

  // Taking them all back drains the slot pair and then the depot.
  std::set<uint64_t> back;
  for (size_t i = 0; i < n; ++i) {
    auto r = d->alloc_fast(k4K, kMask32);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(back.insert(*r).second) << "duplicate 0x" << std::hex << *r;
  }
  s = d->stats();
  EXPECT_GE(s.depot_pops, 1u);
  EXPECT_EQ(s.cache_hits, n);
  EXPECT_EQ(std::set<uint64_t>(v.begin(), v.end()), back);

  for (uint64_t a : back) ASSERT_TRUE(d->free_fast(a, k4K).ok());
  d->flush_rcaches();
  s = d->stats();
  EXPECT_EQ(s.cached, 0u);
  EXPECT_EQ(s.tree_ranges, 0u);
  EXPECT_EQ(s.tree_frees, n);
  for (uint64_t a : v) EXPECT_FALSE(d->find(a).ok());
}

TEST(IovaRcache, DepotOverflowGoesBackToTheTree) {
  auto d = make();
  ASSERT_TRUE(d);
  // Two slot magazines plus a full depot, then one more magazine's worth.
  const size_t n = (kIovaDepotMax + 3) * kIovaMagSize + 1;
  std::vector<uint64_t> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto r = d->alloc(k4K, ~0ull);
    ASSERT_TRUE(r.ok());
    v.push_back(*r);
  }
  for (uint64_t a : v) ASSERT_TRUE(d->free_fast(a, k4K).ok());
  IovaStats s = d->stats();
  EXPECT_GE(s.depot_overflows, 1u);
  EXPECT_EQ(s.tree_frees, s.depot_overflows * kIovaMagSize);
  EXPECT_EQ(s.cached + s.tree_frees, n);
  EXPECT_EQ(s.tree_ranges, s.cached);
}

TEST(IovaRcache, TreeFullOfCachedRangesFlushesAndRetries) {
  auto d = make(33 * k4K - 1);  // 32 pages: pfns 1..32
  ASSERT_TRUE(d);
  std::vector<uint64_t> v;
  for (;;) {
    auto r = d->alloc_fast(k4K, kMask32);
    if (!r.ok()) break;
    v.push_back(*r);
  }
  ASSERT_EQ(v.size(), 32u);
  for (uint64_t a : v) ASSERT_TRUE(d->free_fast(a, k4K).ok());
  // The tree is full of cached single pages; an 8-page request must flush.
  auto big = d->alloc_fast(8 * k4K, kMask32);
  ASSERT_TRUE(big.ok()) << big.error().str();
  EXPECT_EQ(*big % (8 * k4K), 0u);
  IovaStats s = d->stats();
  EXPECT_GE(s.flushes, 1u);
  EXPECT_EQ(s.cached, 0u);
  EXPECT_EQ(s.tree_ranges, 1u);
  // The tree-only alloc() retries too.
  ASSERT_TRUE(d->free_fast(*big, 8 * k4K).ok());
  auto all = d->alloc(16 * k4K, kMask32);
  ASSERT_TRUE(all.ok()) << all.error().str();
}

TEST(IovaRcache, ThreadIndexIsStablePerThreadAndRecycled) {
  const unsigned mine = iova_thread_index();
  EXPECT_EQ(iova_thread_index(), mine);
  unsigned other = mine;
  std::thread([&] { other = iova_thread_index(); }).join();
  EXPECT_NE(other, mine);
  unsigned again = mine;
  std::thread([&] { again = iova_thread_index(); }).join();
  EXPECT_EQ(again, other) << "an exited thread's index is reused";
}

TEST(IovaRcache, EachThreadHitsItsOwnCache) {
  IovaOptions o;
  o.nr_slots = 64;
  auto d = make(kAperture48, o);
  ASSERT_TRUE(d);
  // Thread A caches a range; thread B (a different slot) misses and gets a
  // fresh one from the tree, while A hits its own.
  uint64_t a_first = 0, a_second = 0, b_first = 0;
  std::thread([&] {
    a_first = d->alloc_fast(k4K, kMask32).value();
    ASSERT_TRUE(d->free_fast(a_first, k4K).ok());
    std::thread([&] {
      b_first = d->alloc_fast(k4K, kMask32).value();
    }).join();
    a_second = d->alloc_fast(k4K, kMask32).value();
  }).join();
  EXPECT_NE(b_first, a_first);
  EXPECT_EQ(a_second, a_first);
}

}  // namespace
}  // namespace modiommu::iommu
