// virtio-iommu: one 4 KiB MAP + UNMAP round trip through the request
// virtqueue (iommu_map + iommu_unmap on an attached unmanaged domain: each
// is one request, completed by the device model inside the notify), and the
// DMA API's map_single + unmap_single of 4 KiB on a master's DMA domain
// (adds the IOVA allocator). ns per round trip.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/device.h"
#include "iommu/iommu.h"
#include "kernel/kernel.h"
#include "module/loader.h"

namespace modiommu {
namespace {

struct Setup {
  std::unique_ptr<Kernel> k;
  Device* master = nullptr;
  std::unique_ptr<iommu::IommuDomain> domain;  // unmanaged, attached to `master2`
  Device* master2 = nullptr;
  uint64_t pa = 0;
};

std::string env_or(const char* var, const char* def) {
  const char* s = std::getenv(var);
  return s ? s : def;
}

// One kernel for the whole run (benchmarks only; never torn down).
Setup& setup() {
  static std::mutex lock;
  std::lock_guard g(lock);
  static Setup s;
  if (s.k) return s;
  KernelOptions o;
  o.module_dirs = {env_or("MODIOMMU_BINARY_DIR", BENCH_BINARY_DIR) + "/modules"};
  o.preload = {"dmatest", "virtio_mmio", "virtio_iommu"};
  o.autoload = false;
  s.k = std::make_unique<Kernel>(o);
  if (!s.k->boot(env_or("MODIOMMU_SOURCE_DIR", BENCH_SOURCE_DIR) + "/platforms/virt-virtio-mmio-iommu.dts").ok())
    std::abort();
  s.k->boot_complete();
  std::vector<Device*> bound;
  for (Device* d : s.k->core().devices())
    if (d->fwnode() && d->fwnode()->is_compatible("modiommu,dmatest") && d->state() == DeviceState::bound)
      bound.push_back(d);
  if (bound.size() < 2) std::abort();
  s.master = bound[0];
  s.master2 = bound[1];
  auto d = s.k->iommu().domain_alloc_unmanaged(*s.master2);
  if (!d.ok()) std::abort();
  s.domain = std::move(d).value();
  if (!s.k->iommu().attach_device(*s.domain, *s.master2).ok()) std::abort();
  auto pa = s.k->pages().alloc(4096);
  if (!pa.ok()) std::abort();
  s.pa = *pa;
  return s;
}

void BM_MapUnmap4K(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state) {
    if (!iommu::iommu_map(*s.domain, 0x100000, s.pa, 4096, iommu::IOMMU_READ | iommu::IOMMU_WRITE).ok())
      state.SkipWithError("MAP failed");
    if (iommu::iommu_unmap(*s.domain, 0x100000, 4096) != 4096) state.SkipWithError("UNMAP failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MapUnmap4K);

void BM_DmaMapUnmapSingle4K(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state) {
    auto iova = s.k->dma().map_single(*s.master, s.pa, 4096, iommu::DmaDirection::bidirectional);
    if (!iova.ok()) {
      state.SkipWithError("map_single failed");
      break;
    }
    if (!s.k->dma().unmap_single(*s.master, *iova, 4096, iommu::DmaDirection::bidirectional).ok())
      state.SkipWithError("unmap_single failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DmaMapUnmapSingle4K);

}  // namespace
}  // namespace modiommu

BENCHMARK_MAIN();
