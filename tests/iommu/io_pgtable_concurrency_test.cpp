// Concurrent map/unmap of disjoint ranges from several threads, while a
// "hardware" thread walks the same tables. The ranges interleave page by
// page, so the threads race to install the same intermediate tables.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "iommu/io_pgtable.h"
#include "pgtable_fixture.h"

namespace modiommu::iommu::test {
namespace {

void run_concurrent(PgtableFormat fmt, Granule granule, unsigned ias) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRamBase, kRamSize).ok());
  auto pages = std::move(mm::PageAllocator::create(mem, kRamBase, kTableMem)).value();
  RecordingFlushOps tlb;
  IoPgtableCfg cfg;
  cfg.fmt = fmt;
  cfg.granule = granule;
  cfg.ias = ias;
  cfg.tlb = &tlb;
  auto pgt = std::move(IoPgtable::alloc(cfg, mem, *pages)).value();
  const hw::arm::WalkConfig wcfg = walk_config(*pgt);
  const uint64_t top_pages = pgt->table_pages();
  const uint64_t pg = granule_bytes(granule);
  const uint64_t base = uint64_t{1} << (ias - 2);  // an untouched region: every table is new
  constexpr unsigned kThreads = 4;
  constexpr unsigned kPagesPerThread = 64;
  constexpr int kRounds = 30;
  const uint64_t out = 0x40'0000'0000;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> walks{0}, bad_walks{0};
  // The hardware side: any translation it sees must be one a thread mapped.
  std::thread walker([&] {
    uint64_t i = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t iova = base + (i++ % (kThreads * kPagesPerThread)) * pg;
      const auto r = hw::arm::walk(mem, wcfg, iova, hw::arm::Access::read);
      walks.fetch_add(1, std::memory_order_relaxed);
      if (r.ok() ? r.pa != out + (iova - base) : r.fault != hw::arm::WalkResult::Fault::translation)
        bad_walks.fetch_add(1, std::memory_order_relaxed);
    }
  });
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        // Thread t owns pages t, t+4, t+8, ...: disjoint, sharing every table.
        for (unsigned i = t; i < kThreads * kPagesPerThread; i += kThreads) {
          const uint64_t iova = base + i * pg;
          if (!pgt->map(iova, out + i * pg, pg, IOMMU_READ | IOMMU_WRITE).ok()) failures++;
        }
        for (unsigned i = t; i < kThreads * kPagesPerThread; i += kThreads) {
          auto r = pgt->iova_to_phys(base + i * pg + 8);
          if (!r.ok() || *r != out + i * pg + 8) failures++;
        }
        IotlbGather g;
        for (unsigned i = t; i < kThreads * kPagesPerThread; i += kThreads)
          if (pgt->unmap(base + i * pg, pg, &g) != pg) failures++;
        if (!pgt->free_gathered(g).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  // Let the walker observe the final (empty) state too.
  while (walks.load() < 1000) std::this_thread::yield();
  stop = true;
  walker.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(bad_walks.load(), 0u) << "of " << walks.load() << " walks";
  for (unsigned i = 0; i < kThreads * kPagesPerThread; ++i)
    EXPECT_EQ(pgt->iova_to_phys(base + i * pg).error().code, Errc::noent);
  // Lost install races freed their tables: only one table per level remains.
  EXPECT_EQ(pgt->table_pages(), top_pages + (pgt->cfg().levels - 1) * (pg >> mm::kPageShift));
  EXPECT_EQ(tlb.pages.size(), size_t{kThreads} * kPagesPerThread * kRounds);
}

TEST(IoPgtableConcurrency, DisjointRangesStage1_4K) { run_concurrent(PgtableFormat::arm_lpae_s1, Granule::k4K, 48); }
TEST(IoPgtableConcurrency, DisjointRangesStage2_16K) { run_concurrent(PgtableFormat::arm_lpae_s2, Granule::k16K, 40); }
TEST(IoPgtableConcurrency, DisjointRangesStage1_64K) { run_concurrent(PgtableFormat::arm_lpae_s1, Granule::k64K, 42); }

// Block splits racing with maps elsewhere under the same table.
TEST(IoPgtableConcurrency, SplitsRaceWithMaps) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRamBase, kRamSize).ok());
  auto pages = std::move(mm::PageAllocator::create(mem, kRamBase, kTableMem)).value();
  IoPgtableCfg cfg;
  cfg.ias = 40;
  auto pgt = std::move(IoPgtable::alloc(cfg, mem, *pages)).value();
  constexpr uint64_t k2M = 2 << 20, k4K = 4096;
  // Thread 0 owns 2 MiB blocks at even slots and punches holes in them;
  // thread 1 maps and unmaps pages in the odd slots.
  std::atomic<int> failures{0};
  std::thread splitter([&] {
    for (int r = 0; r < 20; ++r) {
      for (uint64_t s = 0; s < 16; s += 2)
        if (!pgt->map(s * k2M, s * k2M, k2M, IOMMU_READ).ok()) failures++;
      IotlbGather g;
      for (uint64_t s = 0; s < 16; s += 2) {
        if (pgt->unmap(s * k2M + 5 * k4K, k4K, &g) != k4K) failures++;
        if (pgt->unmap(s * k2M, 5 * k4K, &g) != 5 * k4K) failures++;
        if (pgt->unmap(s * k2M + 6 * k4K, k2M - 6 * k4K, &g) != k2M - 6 * k4K) failures++;
      }
      if (!pgt->free_gathered(g).ok()) failures++;
    }
  });
  std::thread mapper([&] {
    for (int r = 0; r < 20; ++r) {
      for (uint64_t s = 1; s < 16; s += 2)
        if (!pgt->map(s * k2M + k4K, k4K, 3 * k4K, IOMMU_READ).ok()) failures++;
      IotlbGather g;
      for (uint64_t s = 1; s < 16; s += 2)
        if (pgt->unmap(s * k2M + k4K, 3 * k4K, &g) != 3 * k4K) failures++;
      if (!pgt->free_gathered(g).ok()) failures++;
    }
  });
  splitter.join();
  mapper.join();
  EXPECT_EQ(failures.load(), 0);
  for (uint64_t s = 0; s < 16; ++s) EXPECT_FALSE(pgt->iova_to_phys(s * k2M + 5 * k4K).ok());
}

}  // namespace
}  // namespace modiommu::iommu::test
