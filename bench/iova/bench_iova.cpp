// IOVA allocator cost: one alloc + free pair, 4 KiB and 1 MiB, 1 and 2
// threads sharing a domain, per-thread caches on vs tree only.
//   bench_iova --benchmark_filter=AllocFree
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "iommu/iova.h"

namespace {

using modiommu::iommu::IovaDomain;
using modiommu::iommu::IovaOptions;

constexpr uint64_t kAperture48 = (uint64_t{1} << 48) - 1;

std::unique_ptr<IovaDomain> make_domain(bool rcache, size_t preload) {
  IovaOptions o;
  o.rcache = rcache;
  auto d = IovaDomain::create(4096, 1, kAperture48, o);
  if (!d.ok()) {
    std::fprintf(stderr, "%s\n", d.error().str().c_str());
    std::abort();
  }
  // Optional background population: allocations that stay live, so the tree
  // is as big as a busy device's.
  for (size_t i = 0; i < preload; ++i) (void)d.value()->alloc(4096 << (i % 4), kAperture48);
  return std::move(d).value();
}

// One domain per configuration, shared by all threads of a run (created on
// first use; thread-safe static initialisation).
IovaDomain& domain(bool rcache, bool loaded) {
  static auto cached = make_domain(true, 0);
  static auto tree = make_domain(false, 0);
  static auto cached_loaded = make_domain(true, 100000);
  static auto tree_loaded = make_domain(false, 100000);
  if (loaded) return rcache ? *cached_loaded : *tree_loaded;
  return rcache ? *cached : *tree;
}

// args: size bytes, rcache (0/1), preloaded tree (0/1)
void BM_AllocFree(benchmark::State& st) {
  const size_t size = static_cast<size_t>(st.range(0));
  IovaDomain& d = domain(st.range(1) != 0, st.range(2) != 0);
  for (auto _ : st) {
    auto r = d.alloc_fast(size, kAperture48);
    if (!r.ok()) {
      st.SkipWithError(r.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(*r);
    if (!d.free_fast(*r, size).ok()) {
      st.SkipWithError("free_fast failed");
      break;
    }
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_AllocFree)
    ->ArgNames({"size", "rcache", "loaded"})
    ->ArgsProduct({{4096, 1 << 20}, {1, 0}, {0, 1}})
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// Bursts: 256 mapped at once (a network ring), then all unmapped; exercises
// magazine swaps and the depot rather than one hot entry.
void BM_AllocFreeBurst(benchmark::State& st) {
  const size_t size = static_cast<size_t>(st.range(0));
  IovaDomain& d = domain(st.range(1) != 0, false);
  std::vector<uint64_t> held(256);
  for (auto _ : st) {
    for (auto& h : held) {
      auto r = d.alloc_fast(size, kAperture48);
      if (!r.ok()) {
        st.SkipWithError(r.error().message.c_str());
        return;
      }
      h = *r;
    }
    for (uint64_t h : held) {
      if (!d.free_fast(h, size).ok()) {
        st.SkipWithError("free_fast failed");
        return;
      }
    }
  }
  st.SetItemsProcessed(st.iterations() * static_cast<int64_t>(held.size()));
}
BENCHMARK(BM_AllocFreeBurst)
    ->ArgNames({"size", "rcache"})
    ->ArgsProduct({{4096}, {1, 0}})
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
