// IovaDomain: tree allocation (alignment, limits, top-down order, reserved
// regions, exhaustion) and error handling for bad frees.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "iommu/iova.h"

namespace modiommu::iommu {
namespace {

constexpr uint64_t k4K = 4096;
constexpr uint64_t kMask32 = 0xffffffffull;
constexpr uint64_t kAperture48 = (uint64_t{1} << 48) - 1;

std::unique_ptr<IovaDomain> make(uint64_t start_pfn = 1, uint64_t last = kAperture48, IovaOptions o = {}) {
  auto d = IovaDomain::create(k4K, start_pfn, last, o);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().str());
  return d.ok() ? std::move(d).value() : nullptr;
}

TEST(IovaDomain, CreateRejectsBadGeometry) {
  auto bad_granule = IovaDomain::create(3000, 1, kAperture48);
  ASSERT_FALSE(bad_granule.ok());
  EXPECT_EQ(bad_granule.error().code, Errc::inval);
  EXPECT_NE(bad_granule.error().message.find("granule"), std::string::npos);

  auto empty = IovaDomain::create(k4K, 0x100, 0x1000);  // last pfn 0 < start pfn
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("empty aperture"), std::string::npos);

  IovaOptions o;
  o.max_align_order = 2;  // below the largest cached order
  EXPECT_FALSE(IovaDomain::create(k4K, 1, kAperture48, o).ok());
}

// IOVA 0 is an address like any other to the allocator (the DMA API keeps
// it out by starting its domains at pfn 1, a policy): an aperture from 0
// hands it out last, frees it, and caches it.
TEST(IovaDomain, Iova0IsARealAllocation) {
  auto d = make(0, 4 * k4K - 1);
  ASSERT_TRUE(d);
  std::set<uint64_t> got;
  for (int i = 0; i < 4; ++i) {
    auto a = d->alloc(k4K, kMask32);
    ASSERT_TRUE(a.ok()) << a.error().str();
    got.insert(*a);
  }
  EXPECT_EQ(got, (std::set<uint64_t>{0, k4K, 2 * k4K, 3 * k4K}));
  EXPECT_FALSE(d->alloc(k4K, kMask32).ok());
  auto at0 = d->find(0);
  ASSERT_TRUE(at0.ok()) << at0.error().str();
  EXPECT_EQ(at0->start, 0u);
  ASSERT_TRUE(d->free(0, k4K).ok());
  EXPECT_FALSE(d->find(0).ok());
  auto again = d->alloc(k4K, kMask32);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
  // Through the per-thread cache too.
  ASSERT_TRUE(d->free_fast(0, k4K).ok());
  auto cached = d->alloc_fast(k4K, kMask32);
  ASSERT_TRUE(cached.ok()) << cached.error().str();
  EXPECT_EQ(*cached, 0u);
  EXPECT_EQ(d->stats().live, 4u);
}

TEST(IovaDomain, AlignmentAndRounding) {
  auto d = make();
  ASSERT_TRUE(d);
  struct Case {
    size_t size;
    uint64_t rounded;
    uint64_t align;
  };
  const Case cases[] = {
      {1, k4K, k4K},
      {k4K, k4K, k4K},
      {3 * k4K, 4 * k4K, 4 * k4K},            // small: rounded to a power of two
      {5 * k4K + 1, 8 * k4K, 8 * k4K},
      {32 * k4K, 32 * k4K, 32 * k4K},
      {33 * k4K, 33 * k4K, 64 * k4K},         // large: not rounded, size-aligned
      {256 * k4K, 256 * k4K, 256 * k4K},      // 1 MiB
      {1000 * k4K, 1000 * k4K, 512 * k4K},    // alignment capped at 2^9 granules
  };
  for (bool fast : {false, true}) {
    for (const Case& c : cases) {
      EXPECT_EQ(d->rounded_size(c.size), c.rounded) << c.size;
      auto r = fast ? d->alloc_fast(c.size, kAperture48) : d->alloc(c.size, kAperture48);
      ASSERT_TRUE(r.ok()) << r.error().str();
      EXPECT_EQ(*r % c.align, 0u) << "size 0x" << std::hex << c.size << " at 0x" << *r;
      auto f = d->find(*r);
      ASSERT_TRUE(f.ok());
      EXPECT_EQ(f->start, *r);
      EXPECT_EQ(f->size, c.rounded);
      EXPECT_EQ(f->state, IovaState::live);
    }
  }
}

TEST(IovaDomain, DmaMaskRespectedAndTopDown) {
  auto d = make();
  ASSERT_TRUE(d);
  // First allocation below a 32-bit mask is the highest page under 4 GiB.
  auto a = d->alloc(k4K, kMask32);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 0x100000000ull - k4K);
  uint64_t prev = *a;
  for (int i = 0; i < 100; ++i) {
    auto r = d->alloc(k4K, kMask32);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, prev - k4K) << "top-down, adjacent";
    prev = *r;
  }
  // A 64-bit-capable device gets the top of the aperture.
  auto hi = d->alloc(k4K, ~0ull);
  ASSERT_TRUE(hi.ok());
  EXPECT_EQ(*hi, kAperture48 + 1 - k4K);
  // A limit that is not a page end: the whole range stays at or below it.
  auto odd = d->alloc(2 * k4K, 0x123456);
  ASSERT_TRUE(odd.ok());
  EXPECT_LE(*odd + 2 * k4K - 1, 0x123456u);
  EXPECT_EQ(*odd, 0x120000u);  // highest 8 KiB-aligned 8 KiB range ending <= 0x123456
}

TEST(IovaDomain, MaskBelowApertureIsNomem) {
  auto d = make(0x100);  // aperture starts at 1 MiB
  ASSERT_TRUE(d);
  auto r = d->alloc(k4K, 0xfffff);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::nomem);
  EXPECT_NE(r.error().message.find("0xfffff"), std::string::npos) << r.error().message;
  EXPECT_EQ(d->alloc(0, kMask32).error().code, Errc::inval);
}

TEST(IovaDomain, FreedSpaceAboveHintIsReused) {
  auto d = make();
  ASSERT_TRUE(d);
  auto a = d->alloc(k4K, kMask32);
  auto b = d->alloc(k4K, kMask32);
  auto c = d->alloc(k4K, kMask32);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_TRUE(d->free(*a, k4K).ok());
  auto again = d->alloc(k4K, kMask32);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *a) << "the hole at the top must be found again";
  ASSERT_TRUE(d->free(*b, k4K).ok());
  auto again_b = d->alloc(k4K, kMask32);
  ASSERT_TRUE(again_b.ok());
  EXPECT_EQ(*again_b, *b);
}

TEST(IovaDomain, ExhaustionThenRecovery) {
  // Aperture of exactly 16 pages: pfns 1..16.
  auto d = make(1, 17 * k4K - 1);
  ASSERT_TRUE(d);
  std::set<uint64_t> got;
  for (int i = 0; i < 16; ++i) {
    auto r = d->alloc(k4K, kMask32);
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().str();
    EXPECT_TRUE(got.insert(*r).second);
    EXPECT_GE(*r, k4K);
    EXPECT_LE(*r, 16 * k4K);
  }
  auto full = d->alloc(k4K, kMask32);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Errc::nomem);
  EXPECT_NE(full.error().message.find("0x1000 bytes"), std::string::npos) << full.error().message;
  EXPECT_NE(full.error().message.find("0xffffffff"), std::string::npos) << full.error().message;
  // Repeated failure stays an error (and is cheap: fail-fast record).
  EXPECT_FALSE(d->alloc(k4K, kMask32).ok());
  EXPECT_FALSE(d->alloc(2 * k4K, kMask32).ok());
  EXPECT_GE(d->stats().tree_failures, 3u);

  const uint64_t victim = 7 * k4K;
  ASSERT_TRUE(d->free(victim, k4K).ok());
  auto back = d->alloc(k4K, kMask32);
  ASSERT_TRUE(back.ok()) << back.error().str();
  EXPECT_EQ(*back, victim);
}

TEST(IovaDomain, ReserveIsHonoured) {
  // 64 MiB aperture with an MSI window in the middle.
  const uint64_t last = 64ull * 1024 * 1024 - 1;
  auto d = make(1, last);
  ASSERT_TRUE(d);
  const uint64_t msi_lo = 0x2000000, msi_hi = 0x20fffff;
  ASSERT_TRUE(d->reserve(msi_lo, msi_hi).ok());
  // Overlapping and outside-aperture reservations merge / are ignored.
  ASSERT_TRUE(d->reserve(msi_lo + 0x80000, msi_hi + 0x1000).ok());
  ASSERT_TRUE(d->reserve(1ull << 40, (1ull << 40) + 0xfff).ok());
  auto rr = d->find(msi_lo + 0x1234);
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(rr->state, IovaState::reserved);
  EXPECT_EQ(rr->start, msi_lo);
  EXPECT_EQ(rr->size, msi_hi + 0x1000 - msi_lo + 1);

  // Take the whole space in 64 KiB chunks; none may touch the window.
  size_t n = 0;
  for (;;) {
    auto r = d->alloc(16 * k4K, last);
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::nomem);
      break;
    }
    ++n;
    const bool overlaps = *r <= msi_hi + 0x1000 && *r + 16 * k4K - 1 >= msi_lo;
    ASSERT_FALSE(overlaps) << std::hex << *r;
  }
  EXPECT_GT(n, 900u);  // (64 MiB - 1 MiB - 4 KiB) / 64 KiB = 1007, less the first partial chunk

  // Freeing inside the window is refused and leaves it reserved.
  auto bad = d->free(msi_lo, k4K);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("reserved"), std::string::npos) << bad.error().message;
  EXPECT_EQ(d->find(msi_lo)->state, IovaState::reserved);
}

TEST(IovaDomain, ReserveOverLiveIsBusyOverCachedFlushes) {
  auto d = make();
  ASSERT_TRUE(d);
  auto live = d->alloc_fast(k4K, kMask32);
  ASSERT_TRUE(live.ok());
  auto busy = d->reserve(*live, *live + k4K - 1);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, Errc::busy);

  ASSERT_TRUE(d->free_fast(*live, k4K).ok());
  EXPECT_EQ(d->find(*live)->state, IovaState::cached);
  ASSERT_TRUE(d->reserve(*live, *live + k4K - 1).ok()) << "a cached range is returned, then reserved";
  EXPECT_EQ(d->find(*live)->state, IovaState::reserved);
  // The cache no longer hands it out.
  auto next = d->alloc_fast(k4K, kMask32);
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, *live);
}

TEST(IovaDomain, BadFreesAreErrorsNotCorruption) {
  auto d = make();
  ASSERT_TRUE(d);
  auto a = d->alloc(4 * k4K, kMask32);
  ASSERT_TRUE(a.ok());

  auto never = d->free(0x10000000, k4K);
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(never.error().code, Errc::noent);
  EXPECT_NE(never.error().message.find("not allocated"), std::string::npos) << never.error().message;

  auto unaligned = d->free(*a + 1, 4 * k4K);
  ASSERT_FALSE(unaligned.ok());
  EXPECT_EQ(unaligned.error().code, Errc::inval);

  auto middle = d->free(*a + k4K, k4K);
  ASSERT_FALSE(middle.ok());
  EXPECT_NE(middle.error().message.find("not its start"), std::string::npos) << middle.error().message;

  auto wrong_size = d->free(*a, 64 * k4K);
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_EQ(wrong_size.error().code, Errc::inval);
  EXPECT_EQ(d->find(*a)->state, IovaState::live) << "a refused free leaves the allocation alone";

  EXPECT_FALSE(d->free(*a, 0).ok());
  ASSERT_TRUE(d->free(*a, 4 * k4K).ok());
  auto twice = d->free(*a, 4 * k4K);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, Errc::noent);
  EXPECT_EQ(d->stats().live, 0u);
  EXPECT_EQ(d->stats().tree_ranges, 0u);
}

TEST(IovaDomain, DoubleFreeFastDoesNotDuplicateCacheEntries) {
  auto d = make();
  ASSERT_TRUE(d);
  auto a = d->alloc_fast(k4K, kMask32);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(d->free_fast(*a, k4K).ok());
  auto twice = d->free_fast(*a, k4K);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message.find("double free"), std::string::npos) << twice.error().message;
  EXPECT_EQ(d->stats().cached, 1u);
  auto x = d->alloc_fast(k4K, kMask32);
  auto y = d->alloc_fast(k4K, kMask32);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_NE(*x, *y);
}

TEST(IovaDomain, FreeBatchFreesValidEntriesAndReportsErrors) {
  auto d = make();
  ASSERT_TRUE(d);
  auto a = d->alloc_fast(k4K, kMask32);
  auto b = d->alloc_fast(300 * k4K, kMask32);  // too big to cache: straight to the tree
  ASSERT_TRUE(a.ok() && b.ok());
  const IovaFree batch[] = {{*a, k4K}, {0x5000, k4K}, {*b, 300 * k4K}};
  auto s = d->free_batch(batch);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("1 of 3"), std::string::npos) << s.error().message;
  IovaStats st = d->stats();
  EXPECT_EQ(st.live, 0u);
  EXPECT_EQ(st.cached, 1u);
  EXPECT_EQ(st.tree_ranges, 1u) << "the cached page only";
  EXPECT_FALSE(d->find(*b).ok());
}

TEST(IovaDomain, FragmentedSpaceIsReused) {
  auto d = make(1, 2048 * k4K - 1);  // 2047 pages
  ASSERT_TRUE(d);
  std::vector<uint64_t> v;
  for (;;) {
    auto r = d->alloc(k4K, kMask32);
    if (!r.ok()) break;
    v.push_back(*r);
  }
  ASSERT_EQ(v.size(), 2047u);
  for (size_t i = 0; i < v.size(); i += 2) ASSERT_TRUE(d->free(v[i], k4K).ok());
  for (size_t i = 1; i < v.size(); i += 2) ASSERT_EQ(d->find(v[i])->state, IovaState::live) << i;
  std::vector<uint64_t> again;
  for (auto r = d->alloc(k4K, kMask32); r.ok(); r = d->alloc(k4K, kMask32)) again.push_back(*r);
  EXPECT_EQ(again.size(), (v.size() + 1) / 2) << "every hole is found, whatever the hint";
  // No hole is 2 pages wide now.
  EXPECT_FALSE(d->alloc(2 * k4K, kMask32).ok());
  // Everything is live exactly once: each frees once, then never again.
  for (size_t i = 1; i < v.size(); i += 2) again.push_back(v[i]);
  ASSERT_EQ(again.size(), v.size());
  for (uint64_t a : again) ASSERT_TRUE(d->free(a, k4K).ok()) << std::hex << a;
  for (uint64_t a : again) ASSERT_FALSE(d->free(a, k4K).ok()) << std::hex << a;
  EXPECT_EQ(d->stats().live, 0u);
  EXPECT_EQ(d->stats().tree_ranges, 0u);
}

}  // namespace
}  // namespace modiommu::iommu
