// MediaTek family costs: the ARMv7s io-pgtable with the MediaTek quirks
// (tables in emulated RAM, as the M4U walks them) and a translation through
// the M4U model that hits its TLB.
#include <benchmark/benchmark.h>

#include <memory>

#include "hw/memory.h"
#include "hw/mtk/m4u.h"
#include "hw/mtk/regs.h"
#include "hw/mtk/smi_larb.h"
#include "iommu/io_pgtable.h"
#include "mm/page_alloc.h"

namespace {

using namespace modiommu;
using namespace modiommu::iommu;

constexpr hw::PhysAddr kRam = 0x4000'0000;
constexpr uint64_t kRamSize = 64ull << 20;
constexpr uint64_t k4K = 4096, k1M = 1ull << 20;
constexpr int kRW = IOMMU_READ | IOMMU_WRITE;

struct Env {
  Env() {
    (void)mem.add_ram(kRam, kRamSize);
    pages = std::move(mm::PageAllocator::create(mem, kRam, kRamSize)).value();
    IoPgtableCfg cfg;
    cfg.fmt = PgtableFormat::arm_v7s;
    cfg.ias = 32;
    cfg.oas = 35;
    cfg.quirks = kQuirkArmNs | kQuirkNoPerms | kQuirkArmMtkExt;  // what mtk_iommu asks for
    pgt = std::move(IoPgtable::alloc(cfg, mem, *pages)).value();
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  std::unique_ptr<IoPgtable> pgt;
};

// One 4 KiB page mapped and unmapped; its level-2 table already exists.
void BM_V7sMapUnmap4K(benchmark::State& state) {
  Env e;
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x1000'0000, 0x1'0000'0000, k4K, 1, kRW, &mapped);  // populate the table
  const uint64_t iova = 0x1000'0000 + k4K;
  for (auto _ : state) {
    IotlbGather g;
    if (!e.pgt->map_pages(iova, 0x1'2000'0000, k4K, 1, kRW, &mapped).ok()) state.SkipWithError("map failed");
    benchmark::DoNotOptimize(e.pgt->unmap(iova, k4K, &g));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_V7sMapUnmap4K);

// 1 MiB as 256 4 KiB pages in one map_pages call, unmapped page by page
// (the DMA API's pattern for scattered buffers); the table stays.
void BM_V7sMapUnmap1MIn4K(benchmark::State& state) {
  Env e;
  size_t mapped = 0;
  const uint64_t iova = 0x2000'0000;
  (void)e.pgt->map_pages(iova + k1M, 0x1000, k4K, 1, kRW, &mapped);
  for (auto _ : state) {
    IotlbGather g;
    if (!e.pgt->map_pages(iova, 0x1'3000'0000, k4K, k1M / k4K, kRW, &mapped).ok()) state.SkipWithError("map failed");
    for (uint64_t off = 0; off < k1M; off += k4K) benchmark::DoNotOptimize(e.pgt->unmap(iova + off, k4K, &g));
    (void)e.pgt->free_gathered(g);
  }
  state.SetItemsProcessed(state.iterations() * (k1M / k4K));
}
BENCHMARK(BM_V7sMapUnmap1MIn4K);

// A translation through the M4U that hits its TLB (larb port enabled).
void BM_M4uTranslateHit(benchmark::State& state) {
  Env e;
  hw::mtk::M4u m4u("m4u", e.mem, {}, {});
  auto larb = std::make_shared<hw::mtk::SmiLarb>("larb0", 0, hw::mtk::SmiLarb::Layout::nonsec_con);
  m4u.attach_larb(0, larb);
  larb->write(hw::mtk::SMI_LARB_NONSEC_CON_BASE, hw::mtk::F_MMU_EN, 4);
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x1000'0000, 0x4100'0000, k4K, 1, kRW, &mapped);
  m4u.write(hw::mtk::MMU_PT_BASE_ADDR, e.pgt->cfg().arm_v7s_cfg.ttbr, 4);
  if (m4u.translate(0, 0x1000'0000, hw::Access::read).kind != hw::TranslateOutcome::Kind::translated)
    state.SkipWithError("no translation");
  for (auto _ : state) benchmark::DoNotOptimize(m4u.translate(0, 0x1000'0040, hw::Access::read));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_M4uTranslateHit);

}  // namespace

BENCHMARK_MAIN();
