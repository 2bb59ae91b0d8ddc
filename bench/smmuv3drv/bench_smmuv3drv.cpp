// dma_map_benchmark-style figures for the arm-smmu-v3 driver on the SMMUv3
// model: dma map_single + unmap_single of 4 KiB (strict and lazy DMA
// domains, 1 and 2 threads on one device) and of 1 MiB.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "core/device.h"
#include "kernel/kernel.h"
#include "module/loader.h"
#include "module/module.h"

namespace modiommu {
namespace {

struct Setup {
  std::unique_ptr<Kernel> k;
  std::unique_ptr<Module> mod;
  Device* master = nullptr;
};

std::string platform_path() {
  const char* s = std::getenv("MODIOMMU_SOURCE_DIR");
  return std::string(s ? s : BENCH_SOURCE_DIR) + "/platforms/virt-smmuv3.dts";
}

// One kernel per domain type, kept for the whole run (benchmarks only).
Setup& setup(iommu::DomainType type) {
  static std::mutex lock;
  std::lock_guard g(lock);
  static Setup strict, lazy;
  Setup& s = type == iommu::DomainType::dma_lazy ? lazy : strict;
  if (s.k) return s;
  KernelOptions o;
  o.iommu.default_domain = type;
  s.k = std::make_unique<Kernel>(o);
  if (!s.k->boot(platform_path()).ok()) std::abort();
  const ModuleDescriptor* desc = nullptr;
  for (const ModuleDescriptor* d : builtin_modules())
    if (d && std::string(d->name) == "arm_smmu_v3") desc = d;
  if (!desc) std::abort();
  // The kernel's initcall phase initialised the built-in driver.
  if (!s.k->modules().find("arm_smmu_v3")) std::abort();
  auto drv = std::make_unique<SimpleDriver>();
  drv->name = "dmatest";
  drv->bus = &s.k->platform_bus();
  drv->of_match = {"modiommu,dmatest"};
  SimpleDriver* raw = drv.get();
  s.k->own_driver(std::move(drv));
  (void)s.k->core().register_driver(raw);
  s.k->boot_complete();
  for (Device* d : s.k->core().devices())
    if (d->fwnode() && d->fwnode()->is_compatible("modiommu,dmatest") && d->state() == DeviceState::bound) {
      s.master = d;
      break;
    }
  if (!s.master) std::abort();
  return s;
}

void map_unmap(benchmark::State& state, iommu::DomainType type, size_t size) {
  Setup& s = setup(type);
  auto pa = s.k->pages().alloc(size);
  if (!pa.ok()) {
    state.SkipWithError("no memory");
    return;
  }
  for (auto _ : state) {
    auto iova = s.k->dma().map_single(*s.master, *pa, size, iommu::DmaDirection::bidirectional);
    if (!iova.ok()) {
      state.SkipWithError(iova.error().str().c_str());
      break;
    }
    benchmark::DoNotOptimize(*iova);
    if (!s.k->dma().unmap_single(*s.master, *iova, size, iommu::DmaDirection::bidirectional).ok()) {
      state.SkipWithError("unmap failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
  (void)s.k->pages().free(*pa);
}

void BM_MapUnmap4K_Strict(benchmark::State& st) { map_unmap(st, iommu::DomainType::dma, 4096); }
void BM_MapUnmap4K_Lazy(benchmark::State& st) { map_unmap(st, iommu::DomainType::dma_lazy, 4096); }
void BM_MapUnmap1M_Strict(benchmark::State& st) { map_unmap(st, iommu::DomainType::dma, 1 << 20); }
void BM_MapUnmap1M_Lazy(benchmark::State& st) { map_unmap(st, iommu::DomainType::dma_lazy, 1 << 20); }

BENCHMARK(BM_MapUnmap4K_Strict)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_MapUnmap4K_Lazy)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_MapUnmap1M_Strict)->UseRealTime();
BENCHMARK(BM_MapUnmap1M_Lazy)->UseRealTime();

}  // namespace
}  // namespace modiommu

BENCHMARK_MAIN();
