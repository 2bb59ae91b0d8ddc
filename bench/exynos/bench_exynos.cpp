// Exynos SysMMU costs: the driver's io-pgtable (map+unmap of one 4 KiB
// page, and of 1 MiB as 256 4 KiB pages) and a translation that hits the
// model's TLB. Tables live in emulated RAM, as for the LPAE benchmarks.
#include <benchmark/benchmark.h>

#include <memory>

#include "drivers/iommu/exynos-iommu/pgtable.h"
#include "hw/exynos/regs.h"
#include "hw/exynos/sysmmu.h"
#include "hw/memory.h"
#include "mm/page_alloc.h"

namespace {

using namespace modiommu;
using exynos_iommu::ExynosPgtable;
using exynos_iommu::PtFormat;

constexpr hw::PhysAddr kRam = 0x4000'0000;
constexpr uint64_t kRamSize = 64ull << 20;
constexpr uint64_t k4K = 4096;
constexpr int kRW = iommu::IOMMU_READ | iommu::IOMMU_WRITE;

struct Env {
  explicit Env(PtFormat f) {
    (void)mem.add_ram(kRam, kRamSize);
    pages = std::move(mm::PageAllocator::create(mem, kRam, 32ull << 20)).value();
    zero = pages->alloc_pages(0).value();
    pgt = std::move(ExynosPgtable::alloc(f, mem, *pages, zero, nullptr)).value();
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  hw::PhysAddr zero = 0;
  std::unique_ptr<ExynosPgtable> pgt;
};

PtFormat format_of(const benchmark::State& state) { return state.range(0) ? PtFormat::v5 : PtFormat::v1; }

// One 4 KiB page mapped and unmapped; its second-level table already exists.
void BM_ExynosMapUnmap4K(benchmark::State& state) {
  Env e(format_of(state));
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x1000'0000, kRam + (40ull << 20), k4K, 1, kRW, &mapped);  // the lv2 table
  const uint64_t iova = 0x1000'0000 + k4K;
  for (auto _ : state) {
    iommu::IotlbGather g;
    if (!e.pgt->map_pages(iova, kRam + (41ull << 20), k4K, 1, kRW, &mapped).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, k4K, &g));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ExynosMapUnmap4K)->Arg(0)->Arg(1)->ArgName("v5");

// 1 MiB as 256 4 KiB pages in one map_pages call, unmapped in one call.
void BM_ExynosMapUnmap1MIn4K(benchmark::State& state) {
  Env e(format_of(state));
  const uint64_t iova = 0x1000'0000, len = 1ull << 20;
  size_t mapped = 0;
  for (auto _ : state) {
    iommu::IotlbGather g;
    if (!e.pgt->map_pages(iova, kRam + (40ull << 20), k4K, 256, kRW, &mapped).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, len, &g));
  }
  state.SetItemsProcessed(state.iterations() * 256);
  state.SetBytesProcessed(state.iterations() * int64_t(len));
}
BENCHMARK(BM_ExynosMapUnmap1MIn4K)->Arg(0)->Arg(1)->ArgName("v5");

// A read that hits the TLB of an enabled SysMMU.
void BM_ExynosTranslateHit(benchmark::State& state) {
  const PtFormat f = format_of(state);
  Env e(f);
  (void)e.pgt->map(0x1000'0000, kRam + (40ull << 20), k4K, kRW);
  const auto v = f == PtFormat::v5 ? hw::exynos::Version::v5 : hw::exynos::Version::v1;
  hw::exynos::Sysmmu mmu("bench", e.mem, v);
  mmu.write(hw::exynos::layout(v).pt_base, static_cast<uint32_t>(f == PtFormat::v5 ? e.pgt->lv1() >> 12 : e.pgt->lv1()), 4);
  mmu.write(hw::exynos::REG_MMU_CTRL, hw::exynos::CTRL_ENABLE, 4);
  if (mmu.translate(0, 0x1000'0000, hw::Access::read).kind != hw::TranslateOutcome::Kind::translated)
    state.SkipWithError("not translated");
  for (auto _ : state) benchmark::DoNotOptimize(mmu.translate(0, 0x1000'0040, hw::Access::read));
  if (mmu.stats().tlb_misses != 1) state.SkipWithError("missed the TLB");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ExynosTranslateHit)->Arg(0)->Arg(1)->ArgName("v5");

}  // namespace

BENCHMARK_MAIN();
