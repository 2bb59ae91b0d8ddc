// IPMMU-VMSA costs: the io-pgtable as ipmmu-vmsa configures it (ARM 32-bit
// LPAE stage 1: ias 32, oas 40, 4K granule) and a translation that hits the
// model's TLB through a cache IPMMU's micro-TLB.
#include <benchmark/benchmark.h>

#include <memory>

#include "hw/ipmmu/ipmmu.h"
#include "hw/ipmmu/regs.h"
#include "hw/memory.h"
#include "iommu/io_pgtable.h"
#include "mm/page_alloc.h"

namespace {

using namespace modiommu;
using namespace modiommu::iommu;

constexpr hw::PhysAddr kRam = 0x4800'0000;
constexpr uint64_t kRamSize = 64ull << 20;
constexpr uint64_t k4K = 4096;
constexpr int kRW = IOMMU_READ | IOMMU_WRITE;

struct Env {
  Env() {
    (void)mem.add_ram(kRam, kRamSize);
    pages = std::move(mm::PageAllocator::create(mem, kRam, kRamSize)).value();
    IoPgtableCfg cfg;
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
void BM_Ipmmu32MapUnmapPage(benchmark::State& state) {
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
BENCHMARK(BM_Ipmmu32MapUnmapPage);

// 1 MiB as 256 4K pages in one map_pages() call, unmapped in one call.
void BM_Ipmmu32MapUnmap1MiB4K(benchmark::State& state) {
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
BENCHMARK(BM_Ipmmu32MapUnmap1MiB4K);

// A DMA translation through a cache IPMMU's micro-TLB that hits its TLB.
void BM_IpmmuTranslateHit(benchmark::State& state) {
  Env e;
  namespace ip = hw::ipmmu;
  auto root = std::make_shared<ip::Ipmmu>("mm", e.mem, ip::features_for(ip::Generation::gen3));
  auto leaf = std::make_shared<ip::Ipmmu>("ds0", e.mem, ip::features_for(ip::Generation::gen3), nullptr,
                                          [root] { return root; });
  size_t mapped = 0;
  (void)e.pgt->map_pages(0x1000'0000, kRam + 0x10'0000, k4K, 1, kRW, &mapped);
  const uint64_t c = root->layout().ctx_offset(1);
  root->write(c + ip::IMTTLBR0, static_cast<uint32_t>(e.pgt->ttbr()), 4);
  root->write(c + ip::IMTTUBR0, static_cast<uint32_t>(e.pgt->ttbr() >> 32), 4);
  root->write(c + ip::IMTTBCR, ip::IMTTBCR_EAE | ip::imttbcr::SL0_TWOBIT::prep(ip::SL0_TWOBIT_LVL1), 4);
  root->write(c + ip::IMCTR, ip::IMCTR_MMUEN, 4);
  leaf->write(leaf->layout().utlb_offset(3) + ip::IMUCTR, ip::IMUCTR_MMUEN | ip::IMUCTR_TTSEL::prep(1), 4);
  if (leaf->translate(3, 0x1000'0000, hw::Access::read).kind != hw::TranslateOutcome::Kind::translated)
    state.SkipWithError("no translation");
  for (auto _ : state) benchmark::DoNotOptimize(leaf->translate(3, 0x1000'0040, hw::Access::read));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IpmmuTranslateHit);

}  // namespace

BENCHMARK_MAIN();
