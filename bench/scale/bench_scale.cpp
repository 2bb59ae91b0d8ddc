// Issue 15 section 7: N plain masters (a made-up compatible, distinct stream
// IDs) behind one SMMUv3, booted with the generic endpoint driver until every
// master is bound and attached; two sizes and the ratio of their times
// (linear: the ratio of the sizes). Also 10^4 DMA test masters, each with its
// emulated device model, for host memory per model.
//
// Time: parsing the blob, building the machine, populating, probing (the
// arm-smmu-v3 module is autoloaded) and boot-complete. Teardown is reported
// separately. Memory: the process's peak RSS during the boot (VmHWM, reset
// before each boot) over its RSS before it, per master.
#include <benchmark/benchmark.h>

#include <malloc.h>
#include <time.h>

#include <chrono>
#include <fstream>
#include <string>

#include "kernel/kernel.h"
#include "masters_platform.h"

using namespace modiommu;

namespace {

// "VmRSS:    1234 kB" style fields of /proc/self/status, in bytes.
uint64_t status_bytes(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  return 0;
}

// Hands freed heap back to the system (an earlier boot's), then resets
// VmHWM to the current RSS (proc(5), clear_refs "5").
void reset_peak_rss() {
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
}

// CPU time of the whole process: on a shared machine wall time also counts
// other people's work.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct Boot {
  double boot_s = 0, boot_cpu_s = 0, teardown_s = 0;
  uint64_t bound = 0, attached = 0, peak_bytes = 0;
  std::string error;
};

Boot boot_masters(uint64_t masters, const char* compatible, bool generic,
                  iommu::DomainType domain = iommu::DomainType::dma) {
  using clock = std::chrono::steady_clock;
  Boot r;
  const auto dtb = modiommu::testing::masters_platform_dtb(masters, compatible);
  reset_peak_rss();
  const uint64_t rss_before = status_bytes("VmRSS");
  const auto t0 = clock::now();
  const double c0 = cpu_seconds();
  {
    KernelOptions o;
    o.module_dirs = {BENCH_MODULE_DIR};
    o.generic_endpoints = generic;
    o.iommu.default_domain = domain;
    auto k = std::make_unique<Kernel>(o);
    auto tree = of::Tree::from_blob(dtb, "masters.dtb");
    if (!tree.ok()) {
      r.error = tree.error().str();
      return r;
    }
    Status s = k->boot(std::move(tree).value());
    if (!s.ok()) {
      r.error = s.error().str();
      return r;
    }
    k->boot_complete();
    const auto t1 = clock::now();
    r.boot_s = std::chrono::duration<double>(t1 - t0).count();
    r.boot_cpu_s = cpu_seconds() - c0;
    r.peak_bytes = status_bytes("VmHWM") - rss_before;
    for (Device* d : k->core().devices()) {
      r.bound += d->state() == DeviceState::bound;
      r.attached += k->iommu().device_domain(*d) != nullptr;
    }
    const auto t2 = clock::now();
    k.reset();
    r.teardown_s = std::chrono::duration<double>(clock::now() - t2).count();
  }
  return r;
}

// {small, large, 1: DMA default domains | 0: identity}. Every DMA domain
// takes one of the SMMU's 2^16 ASIDs (as in Linux), so more than 65,535
// masters can all attach only to identity domains.
void BM_PlainMasters(benchmark::State& state) {
  const auto n_small = static_cast<uint64_t>(state.range(0)), n_large = static_cast<uint64_t>(state.range(1));
  const auto domain = state.range(2) ? iommu::DomainType::dma : iommu::DomainType::identity;
  Boot small, large;
  for (auto _ : state) {
    small = boot_masters(n_small, "acme,widget", true, domain);
    large = boot_masters(n_large, "acme,widget", true, domain);
    if (!small.error.empty() || !large.error.empty()) {
      state.SkipWithError((small.error + large.error).c_str());
      return;
    }
    state.SetIterationTime(large.boot_s);
  }
  state.counters["boot_small_s"] = small.boot_s;
  state.counters["boot_large_s"] = large.boot_s;
  state.counters["ratio_large_small"] = large.boot_s / small.boot_s;
  state.counters["boot_small_cpu_s"] = small.boot_cpu_s;
  state.counters["boot_large_cpu_s"] = large.boot_cpu_s;
  state.counters["cpu_ratio_large_small"] = large.boot_cpu_s / small.boot_cpu_s;
  state.counters["teardown_large_s"] = large.teardown_s;
  state.counters["attached_small"] = static_cast<double>(small.attached);
  state.counters["attached_large"] = static_cast<double>(large.attached);
  state.counters["peak_rss_large_MiB"] = static_cast<double>(large.peak_bytes) / (1 << 20);
  state.counters["bytes_per_master_large"] = static_cast<double>(large.peak_bytes) / static_cast<double>(n_large);
}

void BM_DmatestMasters(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  Boot r;
  for (auto _ : state) {
    r = boot_masters(n, "modiommu,dmatest", false);
    if (!r.error.empty()) {
      state.SkipWithError(r.error.c_str());
      return;
    }
    state.SetIterationTime(r.boot_s);
  }
  state.counters["boot_cpu_s"] = r.boot_cpu_s;
  state.counters["bound"] = static_cast<double>(r.bound);
  state.counters["attached"] = static_cast<double>(r.attached);
  state.counters["peak_rss_MiB"] = static_cast<double>(r.peak_bytes) / (1 << 20);
  state.counters["bytes_per_master"] = static_cast<double>(r.peak_bytes) / static_cast<double>(n);
}

}  // namespace

BENCHMARK(BM_PlainMasters)->Args({10'000, 100'000, 0})->Args({10'000, 60'000, 1})->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DmatestMasters)->Arg(10'000)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
