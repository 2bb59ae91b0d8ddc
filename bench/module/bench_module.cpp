// insmod+init+rmmod of a trivial module vs bare dlopen+dlclose of the same
// object (goal: within 1.5x).
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "kernel/driver_context.h"
#include "module/loader.h"

using namespace modiommu;

namespace {

// The loader only passes the context through to init/exit, and the trivial
// module never looks into it.
class NullContext final : public DriverContext {
 public:
  [[noreturn]] static void unused() { std::abort(); }
  Log& log() override { unused(); }
  DriverCore& core() override { unused(); }
  Bus& platform_bus() override { unused(); }
  PciCore& pci() override { unused(); }
  iommu::IommuCore& iommu() override { unused(); }
  iommu::DmaApi& dma() override { unused(); }
  mm::PageAllocator& pages() override { unused(); }
  hw::PhysicalMemory& ram() override { unused(); }
  const of::Tree* tree() const override { return nullptr; }
  Result<IoMem> ioremap(Device&, size_t) override { unused(); }
  Result<IrqHandle> request_irq(Device&, const std::string&, std::function<void()>) override { unused(); }
  std::vector<std::string> modules_for_alias(const std::string&) override { return {}; }
  bool generic_endpoints() const override { return false; }
  PopulatePolicy populate_policy() const override { return PopulatePolicy::bus_only; }
  void register_endpoint(Device&, DmaEndpoint*, CodeOwner*) override {}
  void unregister_endpoint(Device&) override {}
};

}  // namespace

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
  NullContext k;
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
  NullContext k;
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
