// insmod+init+rmmod of a trivial module vs bare dlopen+dlclose of the same
// object (goal: within 1.5x).
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdio>

#include "module/loader.h"

namespace modiommu {
class Kernel {};
}  // namespace modiommu

using namespace modiommu;

static const char* kTrivial = BENCH_MODULE_DIR "/bench_trivial.so";

static void BM_DlopenDlclose(benchmark::State& state) {
  for (auto _ : state) {
    void* h = dlopen(kTrivial, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      state.SkipWithError(dlerror());
      return;
    }
    benchmark::DoNotOptimize(dlsym(h, "modiommu_module_descriptor"));
    dlclose(h);
  }
}
BENCHMARK(BM_DlopenDlclose);

static void BM_InsmodRmmod(benchmark::State& state) {
  Kernel k;
  ModuleLoader loader(k);
  for (auto _ : state) {
    auto m = loader.insmod(kTrivial);
    if (!m) {
      state.SkipWithError(m.error().str().c_str());
      return;
    }
    if (!loader.rmmod("bench_trivial")) {
      state.SkipWithError("rmmod failed");
      return;
    }
  }
}
BENCHMARK(BM_InsmodRmmod);

static void BM_PinUnpin(benchmark::State& state) {
  Kernel k;
  ModuleLoader loader(k);
  if (!loader.insmod(kTrivial)) {
    state.SkipWithError("insmod failed");
    return;
  }
  auto m = loader.find("bench_trivial");
  for (auto _ : state) {
    ModuleRef r = ModuleRef::try_get(m);
    benchmark::DoNotOptimize(r.ok());
  }
}
BENCHMARK(BM_PinUnpin);

BENCHMARK_MAIN();
