// io-pgtable and page allocator costs. Tables live in emulated RAM, so every
// descriptor access pays PhysicalMemory's range check and chunk lock, as the
// emulated SMMU's walks do.
#include <benchmark/benchmark.h>

#include <memory>

#include "hw/memory.h"
#include "iommu/io_pgtable.h"
#include "mm/page_alloc.h"

namespace {

using namespace modiommu;
using namespace modiommu::iommu;

constexpr hw::PhysAddr kRam = 0x8000'0000;
constexpr uint64_t kRamSize = 64ull << 20;
constexpr uint64_t k4K = 4096, k2M = 2ull << 20;
constexpr int kRW = IOMMU_READ | IOMMU_WRITE;

struct Env {
  Env(Granule g = Granule::k4K, unsigned ias = 48) {
    (void)mem.add_ram(kRam, kRamSize);
    pages = std::move(mm::PageAllocator::create(mem, kRam, kRamSize)).value();
    IoPgtableCfg cfg;
    cfg.granule = g;
    cfg.ias = ias;
    pgt = std::move(IoPgtable::alloc(cfg, mem, *pages)).value();
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  std::unique_ptr<IoPgtable> pgt;
};

// One 4K page mapped and unmapped; the intermediate tables already exist.
void BM_MapUnmapPage(benchmark::State& state) {
  Env e;
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x10'0000'0000, 0x1000'0000, k4K, 1, kRW, &mapped);  // populate the tables
  const uint64_t iova = 0x10'0000'0000 + k4K;
  for (auto _ : state) {
    IotlbGather g;
    if (!e.pgt->map_pages(iova, 0x2000'0000, k4K, 1, kRW, &mapped).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, k4K, &g));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MapUnmapPage);

// 1 MiB mapped as 256 4K pages in one map() call (output not 2M aligned),
// then unmapped in one call: the per-page cost of batched calls.
void BM_MapUnmapRange4K(benchmark::State& state) {
  Env e;
  const uint64_t iova = 0x10'0000'0000, len = 1ull << 20;
  for (auto _ : state) {
    IotlbGather g;
    if (!e.pgt->map(iova, 0x2000'1000, len, kRW).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, len, &g));
  }
  state.SetItemsProcessed(state.iterations() * (len / k4K));
}
BENCHMARK(BM_MapUnmapRange4K);

// One 2 MiB block mapped and unmapped.
void BM_MapUnmapBlock2M(benchmark::State& state) {
  Env e;
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x10'0000'0000, 0x1000'0000, k2M, 1, kRW, &mapped);
  const uint64_t iova = 0x10'0000'0000 + k2M;
  for (auto _ : state) {
    IotlbGather g;
    if (!e.pgt->map(iova, 0x4000'0000, k2M, kRW).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, k2M, &g));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MapUnmapBlock2M);

// Unmapping one page out of a 2 MiB block (split), then restoring the block.
void BM_SplitBlock2M(benchmark::State& state) {
  Env e;
  const uint64_t iova = 0x10'0000'0000;
  for (auto _ : state) {
    IotlbGather g;
    if (!e.pgt->map(iova, 0x4000'0000, k2M, kRW).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova + 7 * k4K, k4K, &g));
    benchmark::DoNotOptimize(e.pgt->unmap(iova, k2M, &g));
    (void)e.pgt->free_gathered(g);
  }
}
BENCHMARK(BM_SplitBlock2M);

// Software walk, 4 levels to a 4K page / 3 levels to a 2 MiB block.
void BM_IovaToPhys(benchmark::State& state) {
  Env e;
  const bool block = state.range(0);
  const uint64_t iova = 0x10'0000'0000;
  (void)e.pgt->map(iova, 0x4000'0000, block ? k2M : k4K, kRW);
  for (auto _ : state) benchmark::DoNotOptimize(e.pgt->iova_to_phys(iova + 0x123).value());
  state.SetLabel(block ? "2M block" : "4K page");
}
BENCHMARK(BM_IovaToPhys)->Arg(0)->Arg(1);

void BM_PageAllocFree(benchmark::State& state) {
  hw::PhysicalMemory mem;
  (void)mem.add_ram(kRam, kRamSize);
  auto pages = std::move(mm::PageAllocator::create(mem, kRam, kRamSize)).value();
  const auto order = static_cast<unsigned>(state.range(0));
  for (auto _ : state) {
    auto pa = pages->alloc_pages(order);
    benchmark::DoNotOptimize(pa.value());
    (void)pages->free_pages(pa.value(), order);
  }
}
BENCHMARK(BM_PageAllocFree)->Arg(0)->Arg(4);

}  // namespace

BENCHMARK_MAIN();
