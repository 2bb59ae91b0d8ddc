// sun50i IOMMU costs: the driver's io-pgtable (map+unmap of one 4 KiB page,
// and of 1 MiB as 256 4 KiB pages) and a translation that hits the model's
// TLB. Tables live in emulated RAM, as for the LPAE benchmarks.
#include <benchmark/benchmark.h>

#include <memory>

#include "drivers/iommu/sun50i-iommu/pgtable.h"
#include "hw/memory.h"
#include "hw/sun50i/regs.h"
#include "hw/sun50i/sun50i_iommu.h"
#include "mm/page_alloc.h"

namespace {

using namespace modiommu;
using sun50i_iommu::Sun50iPgtable;

constexpr hw::PhysAddr kRam = 0x4000'0000;
constexpr uint64_t kRamSize = 64ull << 20;
constexpr uint64_t k4K = 4096;
constexpr int kRW = iommu::IOMMU_READ | iommu::IOMMU_WRITE;

struct Env {
  Env() {
    (void)mem.add_ram(kRam, kRamSize);
    pages = std::move(mm::PageAllocator::create(mem, kRam, 32ull << 20)).value();
    pgt = std::move(Sun50iPgtable::alloc(mem, *pages, nullptr)).value();
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  std::unique_ptr<Sun50iPgtable> pgt;
};

// One 4 KiB page mapped and unmapped; its page table already exists.
void BM_Sun50iMapUnmap4K(benchmark::State& state) {
  Env e;
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x1000'0000, kRam + (40ull << 20), k4K, 1, kRW, &mapped);  // the page table
  const uint64_t iova = 0x1000'0000 + k4K;
  for (auto _ : state) {
    iommu::IotlbGather g;
    if (!e.pgt->map_pages(iova, kRam + (41ull << 20), k4K, 1, kRW, &mapped).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, k4K, &g));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sun50iMapUnmap4K);

// 1 MiB as 256 4 KiB pages (one page table) in one map() call, unmapped in one call.
void BM_Sun50iMapUnmap1MIn4K(benchmark::State& state) {
  Env e;
  const uint64_t iova = 0x1000'0000, len = 1ull << 20;
  for (auto _ : state) {
    iommu::IotlbGather g;
    if (!e.pgt->map(iova, kRam + (40ull << 20), len, kRW).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, len, &g));
  }
  state.SetItemsProcessed(state.iterations() * 256);
  state.SetBytesProcessed(state.iterations() * int64_t(len));
}
BENCHMARK(BM_Sun50iMapUnmap1MIn4K);

// A read that hits the TLB of an enabled IOMMU (read-write ACI 4: nothing denied at reset).
void BM_Sun50iTranslateHit(benchmark::State& state) {
  Env e;
  (void)e.pgt->map(0x1000'0000, kRam + (40ull << 20), k4K, kRW);
  hw::sun50i::Sun50iIommu mmu("bench", e.mem);
  mmu.write(hw::sun50i::IOMMU_TTB_REG, static_cast<uint32_t>(e.pgt->directory()), 4);
  mmu.write(hw::sun50i::IOMMU_ENABLE_REG, hw::sun50i::ENABLE_ENABLE, 4);
  if (mmu.translate(0, 0x1000'0000, hw::Access::read).kind != hw::TranslateOutcome::Kind::translated)
    state.SkipWithError("not translated");
  for (auto _ : state) benchmark::DoNotOptimize(mmu.translate(0, 0x1000'0040, hw::Access::read));
  if (mmu.stats().tlb_misses != 1) state.SkipWithError("missed the TLB");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sun50iTranslateHit);

}  // namespace
BENCHMARK_MAIN();
