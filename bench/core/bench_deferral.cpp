// Probe attempts and boot time for a generated platform of 10,000 devices in
// dependency chains registered in worst-case order: targeted vs linux
// deferral policy (BEHAVIOUR.md 1). The attempt counts are the result; time
// is reported alongside.
#include <benchmark/benchmark.h>

#include "../../tests/core/chain_platform.h"
#include "kernel/kernel.h"

using namespace modiommu;

static void boot_chains(benchmark::State& state, DeferredPolicy policy) {
  const int chains = static_cast<int>(state.range(0));
  const int length = static_cast<int>(state.range(1));
  const std::string text = modiommu::testing::chain_platform_dts(chains, length);
  uint64_t attempts = 0, bound = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto tree = of::Tree::from_dts(text, "chains.dts");
    if (!tree.ok()) {
      state.SkipWithError(tree.error().str().c_str());
      return;
    }
    KernelOptions o;
    o.deferred_probe = policy;
    auto k = std::make_unique<Kernel>(o);
    state.ResumeTiming();
    (void)k->boot(std::move(tree).value());
    k->boot_complete();
    state.PauseTiming();
    attempts = k->core().stats().probe_attempts;
    bound = 0;
    for (Device* d : k->core().devices()) bound += d->state() == DeviceState::bound;
    k.reset();
    state.ResumeTiming();
  }
  state.counters["devices"] = chains * length;
  state.counters["probe_attempts"] = static_cast<double>(attempts);
  state.counters["bound"] = static_cast<double>(bound);
  state.counters["attempts_per_device"] = static_cast<double>(attempts) / (chains * length);
}

static void BM_Targeted(benchmark::State& s) { boot_chains(s, DeferredPolicy::targeted); }
static void BM_Linux(benchmark::State& s) { boot_chains(s, DeferredPolicy::linux); }

// {chains, length}: 100 chains of 100, and one chain of 10,000.
BENCHMARK(BM_Targeted)->Args({100, 100})->Args({1, 10000})->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Linux)->Args({100, 100})->Args({1, 10000})->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
