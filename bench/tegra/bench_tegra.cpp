// Tegra SMMU costs: the driver's io-pgtable (map+unmap of one 4 KiB page,
// and of 1 MiB as 256 4 KiB pages) and a translation that hits the model's
// TLB. Tables live in emulated RAM, as for the LPAE benchmarks; no flush
// callbacks (the table alone).
#include <benchmark/benchmark.h>

#include <memory>

#include "drivers/iommu/tegra-smmu/pgtable.h"
#include "hw/memory.h"
#include "hw/tegra/regs.h"
#include "hw/tegra/soc.h"
#include "hw/tegra/tegra_smmu.h"
#include "mm/page_alloc.h"

namespace {

using namespace modiommu;
using tegra_smmu::TegraPgtable;

constexpr hw::PhysAddr kRam = 0x8000'0000;
constexpr uint64_t kRamSize = 64ull << 20;
constexpr uint64_t k4K = 4096;
constexpr int kRW = iommu::IOMMU_READ | iommu::IOMMU_WRITE;

struct Env {
  Env() {
    (void)mem.add_ram(kRam, kRamSize);
    pages = std::move(mm::PageAllocator::create(mem, kRam, 32ull << 20)).value();
    pgt = std::move(TegraPgtable::alloc(34, mem, *pages, nullptr, nullptr)).value();
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  std::unique_ptr<TegraPgtable> pgt;
};

// One 4 KiB page mapped and unmapped; its page table already exists.
void BM_TegraMapUnmap4K(benchmark::State& state) {
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
BENCHMARK(BM_TegraMapUnmap4K);

// 1 MiB as 256 4 KiB pages in one map() call, unmapped in one call.
void BM_TegraMapUnmap1MIn4K(benchmark::State& state) {
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
BENCHMARK(BM_TegraMapUnmap1MIn4K);

// A read by an enabled swgroup (Tegra210 SDMMC1A) that hits the TLB.
void BM_TegraTranslateHit(benchmark::State& state) {
  Env e;
  (void)e.pgt->map(0x1000'0000, kRam + (40ull << 20), k4K, kRW);
  hw::tegra::TegraSmmu smmu("bench", e.mem, hw::tegra::tegra210_soc());
  smmu.write(hw::tegra::SMMU_PTB_ASID, 0, 4);
  smmu.write(hw::tegra::SMMU_PTB_DATA, e.pgt->ptb_data(), 4);
  smmu.write(0xa94, hw::tegra::SMMU_ASID_ENABLE, 4);  // SMMU_SDMMC1A_ASID
  smmu.write(0x234, 0x11, 4);                         // sdmmcra, sdmmcwa
  smmu.write(hw::tegra::SMMU_CONFIG, hw::tegra::SMMU_CONFIG_ENABLE, 4);
  if (smmu.translate(18, 0x1000'0000, hw::Access::read).kind != hw::TranslateOutcome::Kind::translated)
    state.SkipWithError("not translated");
  for (auto _ : state) benchmark::DoNotOptimize(smmu.translate(18, 0x1000'0040, hw::Access::read));
  if (smmu.stats().tlb_misses != 1) state.SkipWithError("missed the TLB");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TegraTranslateHit);

}  // namespace

BENCHMARK_MAIN();
