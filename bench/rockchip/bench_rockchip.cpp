// Rockchip IOMMU costs: the driver's io-pgtable (map+unmap of one 4 KiB
// page, and of 1 MiB as 256 4 KiB pages) and a translation that hits the
// model's IOTLB. Tables live in emulated RAM, as for the LPAE benchmarks.
#include <benchmark/benchmark.h>

#include <memory>

#include "drivers/iommu/rockchip-iommu/pgtable.h"
#include "hw/memory.h"
#include "hw/rockchip/regs.h"
#include "hw/rockchip/rk_iommu.h"
#include "mm/page_alloc.h"

namespace {

using namespace modiommu;
using rockchip_iommu::RkPgtable;
using rockchip_iommu::Version;

constexpr hw::PhysAddr kRam = 0x4000'0000;
constexpr uint64_t kRamSize = 64ull << 20;
constexpr uint64_t k4K = 4096;
constexpr int kRW = iommu::IOMMU_READ | iommu::IOMMU_WRITE;

struct Env {
  explicit Env(Version v) {
    (void)mem.add_ram(kRam, kRamSize);
    pages = std::move(mm::PageAllocator::create(mem, kRam, 32ull << 20)).value();
    pgt = std::move(RkPgtable::alloc(v, mem, *pages, nullptr)).value();
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  std::unique_ptr<RkPgtable> pgt;
};

Version version_of(const benchmark::State& state) { return state.range(0) ? Version::v2 : Version::v1; }

// One 4 KiB page mapped and unmapped; its page table already exists.
void BM_RkMapUnmap4K(benchmark::State& state) {
  Env e(version_of(state));
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
BENCHMARK(BM_RkMapUnmap4K)->Arg(0)->Arg(1)->ArgName("v2");

// 1 MiB as 256 4 KiB pages in one map() call, unmapped in one call.
void BM_RkMapUnmap1MIn4K(benchmark::State& state) {
  Env e(version_of(state));
  const uint64_t iova = 0x1000'0000, len = 1ull << 20;
  for (auto _ : state) {
    iommu::IotlbGather g;
    if (!e.pgt->map(iova, kRam + (40ull << 20), len, kRW).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, len, &g));
  }
  state.SetItemsProcessed(state.iterations() * 256);
  state.SetBytesProcessed(state.iterations() * int64_t(len));
}
BENCHMARK(BM_RkMapUnmap1MIn4K)->Arg(0)->Arg(1)->ArgName("v2");

// A read that hits the IOTLB of an enabled bank.
void BM_RkTranslateHit(benchmark::State& state) {
  Env e(version_of(state));
  (void)e.pgt->map(0x1000'0000, kRam + (40ull << 20), k4K, kRW);
  hw::rockchip::RkMmu mmu("bench", e.mem, state.range(0) ? hw::rockchip::Version::v2 : hw::rockchip::Version::v1);
  mmu.write(hw::rockchip::MMU_DTE_ADDR, e.pgt->dte_addr(), 4);
  mmu.write(hw::rockchip::MMU_COMMAND, hw::rockchip::CMD_ENABLE_PAGING, 4);
  if (mmu.translate(0x1000'0000, hw::Access::read).kind != hw::TranslateOutcome::Kind::translated)
    state.SkipWithError("not translated");
  for (auto _ : state) benchmark::DoNotOptimize(mmu.translate(0x1000'0040, hw::Access::read));
  if (mmu.stats().tlb_misses != 1) state.SkipWithError("missed the IOTLB");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RkTranslateHit)->Arg(0)->Arg(1)->ArgName("v2");

}  // namespace

BENCHMARK_MAIN();
