// Qualcomm MSM IOMMU costs: the io-pgtable as qcom_iommu configures it (ARM
// 32-bit LPAE stage 1: ias 32, oas 40, 4K granule) and a translation that
// hits the model's TLB through a context bank.
#include <benchmark/benchmark.h>

#include <memory>

#include "hw/memory.h"
#include "hw/qcom/qcom_iommu.h"
#include "hw/smmuv2/regs.h"
#include "iommu/io_pgtable.h"
#include "mm/page_alloc.h"

namespace {

using namespace modiommu;
using namespace modiommu::iommu;

constexpr hw::PhysAddr kRam = 0x8000'0000;
constexpr uint64_t kRamSize = 64ull << 20;
constexpr uint64_t k4K = 4096;
constexpr int kRW = IOMMU_READ | IOMMU_WRITE;

struct Env {
  Env() {
    (void)mem.add_ram(kRam, kRamSize);
    pages = std::move(mm::PageAllocator::create(mem, kRam, kRamSize)).value();
    IoPgtableCfg cfg;
    cfg.fmt = PgtableFormat::arm_lpae_s1;
    cfg.granule = Granule::k4K;
    cfg.ias = 32;
    cfg.oas = 40;
    pgt = std::move(IoPgtable::alloc(cfg, mem, *pages)).value();
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  std::unique_ptr<IoPgtable> pgt;
};

// One 4K page mapped and unmapped; the intermediate tables already exist.
void BM_Qcom32MapUnmapPage(benchmark::State& state) {
  Env e;
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x1000'0000, 0x1000'0000, k4K, 1, kRW, &mapped);  // populate the tables
  const uint64_t iova = 0x1000'0000 + k4K;
  for (auto _ : state) {
    IotlbGather g;
    if (!e.pgt->map_pages(iova, 0x2000'0000, k4K, 1, kRW, &mapped).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, k4K, &g));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Qcom32MapUnmapPage);

// 1 MiB as 256 4K pages in one map_pages() call, unmapped in one call.
void BM_Qcom32MapUnmap1MiB4K(benchmark::State& state) {
  Env e;
  const uint64_t iova = 0x1000'0000, len = 1ull << 20;
  size_t mapped = 0;
  for (auto _ : state) {
    IotlbGather g;
    if (!e.pgt->map_pages(iova, 0x2000'1000, k4K, len / k4K, kRW, &mapped).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, len, &g));
    (void)e.pgt->free_gathered(g);
  }
  state.SetItemsProcessed(state.iterations() * (len / k4K));
}
BENCHMARK(BM_Qcom32MapUnmap1MiB4K);

// A DMA translation through context bank 5 that hits the model's TLB.
void BM_QcomTranslateHit(benchmark::State& state) {
  Env e;
  namespace v2 = hw::smmuv2;
  auto mmu = std::make_shared<hw::qcom::QcomIommu>("apps", e.mem);
  (void)mmu->add_context(5, nullptr);
  auto cb = hw::qcom::QcomIommu::context_window(mmu, 5);
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x1000'0000, kRam + 0x10'0000, k4K, 1, kRW, &mapped);
  cb->write(v2::CB_TTBR0, e.pgt->ttbr() | (uint64_t{5} << 48), 8);
  cb->write(v2::CB_TCR, 32u | v2::TCR_EAE, 4);
  cb->write(v2::CB_SCTLR, v2::SCTLR_M, 4);
  if (mmu->translate(5, 0x1000'0000, hw::Access::read).kind != hw::TranslateOutcome::Kind::translated)
    state.SkipWithError("no translation");
  for (auto _ : state) benchmark::DoNotOptimize(mmu->translate(5, 0x1000'0040, hw::Access::read));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_QcomTranslateHit);

}  // namespace

BENCHMARK_MAIN();
