#include "mm/page_alloc.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace modiommu::mm {
namespace {

constexpr PhysAddr kRamBase = 0x4000'0000;
constexpr uint64_t kRamSize = 64ull << 20;

class PageAllocTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(mem.add_ram(kRamBase, kRamSize).ok()); }
  std::unique_ptr<PageAllocator> make(PhysAddr base, uint64_t size) {
    auto r = PageAllocator::create(mem, base, size);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().str());
    return r.ok() ? std::move(r).value() : nullptr;
  }
  hw::PhysicalMemory mem;
};

TEST_F(PageAllocTest, CreateRejectsBadRanges) {
  EXPECT_EQ(PageAllocator::create(mem, kRamBase, 0).error().code, Errc::inval);
  EXPECT_EQ(PageAllocator::create(mem, kRamBase + 1, 1 << 20).error().code, Errc::inval);
  EXPECT_EQ(PageAllocator::create(mem, kRamBase, (1 << 20) + 5).error().code, Errc::inval);
  // Not RAM at all, and running off the end of RAM.
  EXPECT_EQ(PageAllocator::create(mem, 0x1000, 0x1000).error().code, Errc::fault);
  EXPECT_EQ(PageAllocator::create(mem, kRamBase + kRamSize - 0x1000, 0x2000).error().code, Errc::fault);
}

TEST_F(PageAllocTest, AllocIsNaturallyAlignedAndZeroed) {
  auto pa = make(kRamBase, 8 << 20);
  // Dirty the RAM first so zeroing is observable.
  ASSERT_TRUE(mem.fill(kRamBase, 0xa5, 8 << 20).ok());
  for (unsigned order = 0; order <= PageAllocator::kMaxOrder; ++order) {
    auto r = pa->alloc_pages(order);
    ASSERT_TRUE(r.ok()) << r.error().str();
    EXPECT_EQ(*r % (kPageSize << order), 0u) << "order " << order;
    EXPECT_TRUE(pa->owns(*r));
    std::vector<uint8_t> buf(kPageSize << order);
    ASSERT_TRUE(mem.read(*r, buf.data(), buf.size()).ok());
    EXPECT_EQ(std::count(buf.begin(), buf.end(), 0), static_cast<long>(buf.size())) << "order " << order;
  }
}

TEST_F(PageAllocTest, BuddySplitAndMerge) {
  // 4 MiB aligned: one order-10 block.
  auto pa = make(kRamBase, kPageSize << 10);
  EXPECT_EQ(pa->stats().free_pages, 1024u);
  auto a = pa->alloc_pages(0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, kRamBase);  // lowest address first
  // Splitting left one free block of each order 0..9: an order-9 request is
  // served by the upper half without a further split.
  auto b = pa->alloc_pages(9);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, kRamBase + (kPageSize << 9));
  auto c = pa->alloc_pages(0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, kRamBase + kPageSize);  // the buddy of a
  EXPECT_EQ(pa->stats().allocated_pages, 514u);
  // No order-10 block while anything is out.
  EXPECT_EQ(pa->alloc_pages(10).error().code, Errc::nomem);
  ASSERT_TRUE(pa->free_pages(*a, 0).ok());
  ASSERT_TRUE(pa->free_pages(*b, 9).ok());
  EXPECT_EQ(pa->alloc_pages(10).error().code, Errc::nomem);
  ASSERT_TRUE(pa->free_pages(*c, 0).ok());
  // Everything merged back into the single order-10 block.
  auto d = pa->alloc_pages(10);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, kRamBase);
  const auto st = pa->stats();
  EXPECT_EQ(st.free_pages, 0u);
  EXPECT_EQ(st.high_water_pages, 1024u);
}

TEST_F(PageAllocTest, UnalignedRangeCarvedIntoAlignedBlocks) {
  // Start 3 pages past a 4 MiB boundary, 1 MiB + 5 pages long.
  const PhysAddr base = kRamBase + 3 * kPageSize;
  const uint64_t size = (1 << 20) + 5 * kPageSize;
  auto pa = make(base, size);
  EXPECT_EQ(pa->stats().total_pages, size / kPageSize);
  std::set<PhysAddr> seen;
  for (;;) {
    auto r = pa->alloc_pages(0);
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::nomem);
      break;
    }
    EXPECT_TRUE(*r >= base && *r < base + size);
    EXPECT_TRUE(seen.insert(*r).second) << "page handed out twice";
  }
  EXPECT_EQ(seen.size(), size / kPageSize);
  for (PhysAddr p : seen) ASSERT_TRUE(pa->free_pages(p, 0).ok());
  EXPECT_EQ(pa->stats().free_pages, size / kPageSize);
  // After the merge the largest naturally aligned block inside the range is
  // 512 KiB (pages 128..255 past the 4 MiB boundary); no 1 MiB one fits.
  EXPECT_EQ(pa->alloc_pages(8).error().code, Errc::nomem);
  auto big = pa->alloc_pages(7);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(*big, kRamBase + 128 * kPageSize);
}

TEST_F(PageAllocTest, ExhaustionIsEnomem) {
  auto pa = make(kRamBase, 16 * kPageSize);
  std::vector<PhysAddr> got;
  for (int i = 0; i < 4; ++i) {
    auto r = pa->alloc_pages(2);
    ASSERT_TRUE(r.ok());
    got.push_back(*r);
  }
  auto r = pa->alloc_pages(0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::nomem);
  EXPECT_NE(r.error().message.find("order 0"), std::string::npos) << r.error().message;
  EXPECT_EQ(pa->stats().failed_allocs, 1u);
  ASSERT_TRUE(pa->free_pages(got[1], 2).ok());
  EXPECT_TRUE(pa->alloc_pages(1).ok());
  EXPECT_EQ(pa->alloc_pages(PageAllocator::kMaxOrder + 1).error().code, Errc::inval);
}

TEST_F(PageAllocTest, DoubleFreeAndForeignAddressAreErrors) {
  auto pa = make(kRamBase, 1 << 20);
  auto a = pa->alloc_pages(1);
  ASSERT_TRUE(a.ok());
  // Wrong order, middle of block, unaligned, foreign address.
  EXPECT_EQ(pa->free_pages(*a, 0).error().code, Errc::inval);
  EXPECT_EQ(pa->free_pages(*a + kPageSize, 0).error().code, Errc::inval);
  EXPECT_EQ(pa->free_pages(*a + 8, 1).error().code, Errc::inval);
  auto foreign = pa->free_pages(kRamBase + (2 << 20), 0);
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find("outside"), std::string::npos);
  ASSERT_TRUE(pa->free_pages(*a, 1).ok());
  auto dbl = pa->free_pages(*a, 1);
  ASSERT_FALSE(dbl.ok());
  EXPECT_NE(dbl.error().message.find("double free"), std::string::npos) << dbl.error().message;
  EXPECT_EQ(pa->stats().allocated_pages, 0u);
  EXPECT_EQ(pa->stats().free_pages, 256u);
}

TEST_F(PageAllocTest, AllocBytesRoundsToPagesAndAlignment) {
  auto pa = make(kRamBase, 8 << 20);
  EXPECT_EQ(PageAllocator::order_for(1, 1).value(), 0u);
  EXPECT_EQ(PageAllocator::order_for(kPageSize + 1, 8).value(), 1u);
  EXPECT_EQ(PageAllocator::order_for(100, 64 << 10).value(), 4u);
  EXPECT_EQ(PageAllocator::order_for(3 * kPageSize, kPageSize).value(), 2u);
  EXPECT_EQ(PageAllocator::order_for(0, kPageSize).error().code, Errc::inval);
  EXPECT_EQ(PageAllocator::order_for(64, 3).error().code, Errc::inval);
  EXPECT_EQ(PageAllocator::order_for(8 << 20, kPageSize).error().code, Errc::inval);
  auto a = pa->alloc(5000, 16 << 10);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a % (16 << 10), 0u);
  EXPECT_EQ(pa->stats().allocated_pages, 4u);
  ASSERT_TRUE(pa->free(*a).ok());
  EXPECT_FALSE(pa->free(*a).ok());
  EXPECT_EQ(pa->stats().allocated_pages, 0u);
}

TEST_F(PageAllocTest, FaultInjectionNth) {
  auto pa = make(kRamBase, 1 << 20);
  pa->fail_nth(3);
  EXPECT_TRUE(pa->alloc_pages(0).ok());
  EXPECT_TRUE(pa->alloc_pages(0).ok());
  auto r = pa->alloc_pages(0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::nomem);
  EXPECT_TRUE(pa->alloc_pages(0).ok()) << "fail_nth fails only once";
  const auto st = pa->stats();
  EXPECT_EQ(st.injected_failures, 1u);
  EXPECT_EQ(st.allocated_pages, 3u);
}

TEST_F(PageAllocTest, FaultInjectionAfter) {
  auto pa = make(kRamBase, 1 << 20);
  pa->fail_after(2);
  EXPECT_TRUE(pa->alloc_pages(0).ok());
  EXPECT_TRUE(pa->alloc(100).ok());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pa->alloc_pages(0).error().code, Errc::nomem);
  EXPECT_EQ(pa->stats().injected_failures, 5u);
  pa->clear_fault_injection();
  EXPECT_TRUE(pa->alloc_pages(0).ok());
  pa->fail_after(0);
  EXPECT_FALSE(pa->alloc_pages(0).ok());
}

TEST_F(PageAllocTest, ConcurrentAllocFreeKeepsAccounting) {
  auto pa = make(kRamBase, 16 << 20);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<std::vector<PhysAddr>> held(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const unsigned order = static_cast<unsigned>((i + t) % 3);
        auto r = pa->alloc_pages(order);
        if (!r.ok()) continue;
        ASSERT_TRUE(pa->memory().write64(*r, 0x1111 * (t + 1)).ok());
        if (i % 2) ASSERT_TRUE(pa->free_pages(*r, order).ok());
        else held[t].push_back(*r);
        if (held[t].size() > 50) {
          for (PhysAddr p : held[t]) ASSERT_TRUE(pa->free(p).ok());
          held[t].clear();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<PhysAddr> all;
  for (auto& h : held)
    for (PhysAddr p : h) EXPECT_TRUE(all.insert(p).second);
  for (PhysAddr p : all) ASSERT_TRUE(pa->free(p).ok());
  const auto st = pa->stats();
  EXPECT_EQ(st.allocated_pages, 0u);
  EXPECT_EQ(st.free_pages, st.total_pages);
  EXPECT_EQ(st.allocs, st.frees);
  EXPECT_TRUE(pa->alloc_pages(PageAllocator::kMaxOrder).ok()) << "blocks did not merge back";
}

}  // namespace
}  // namespace modiommu::mm

namespace modiommu::mm {
namespace {
// RAM from PA 0 (hip07-d05): PA 0 is the first block handed out and is
// freed like any other.
TEST(PageAllocRam0, Pa0IsAllocatedFirstAndFreed) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(0, 1 << 20).ok());
  auto pa = std::move(PageAllocator::create(mem, 0, 1 << 20)).value();
  auto first = pa->alloc_pages(0);
  ASSERT_TRUE(first.ok()) << first.error().str();
  EXPECT_EQ(*first, 0u);
  EXPECT_FALSE(pa->is_free(0));
  EXPECT_TRUE(pa->owns(0));
  ASSERT_TRUE(pa->free(0).ok());
  EXPECT_TRUE(pa->is_free(0));
  EXPECT_FALSE(pa->free(0).ok()) << "double free of PA 0";
  auto big = pa->alloc(64 << 10, 64 << 10);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(*big, 0u);
  EXPECT_EQ(pa->stats().allocated_pages, 16u);
}

TEST(PageAllocIsFree, TracksBlocksAndTheirTailPages) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(0x40000000, 16 << 20).ok());
  auto pa = PageAllocator::create(mem, 0x40000000, 16 << 20);
  ASSERT_TRUE(pa.ok());
  PageAllocator& a = **pa;
  EXPECT_TRUE(a.is_free(0x40000000));
  EXPECT_FALSE(a.is_free(0x3ffff000));  // not owned
  auto b = a.alloc_pages(2);  // 4 pages
  ASSERT_TRUE(b.ok());
  for (uint64_t i = 0; i < 4; ++i) EXPECT_FALSE(a.is_free(*b + i * kPageSize + 8)) << i;
  ASSERT_TRUE(a.free(*b).ok());
  for (uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(a.is_free(*b + i * kPageSize)) << i;
}
}  // namespace
}  // namespace modiommu::mm
