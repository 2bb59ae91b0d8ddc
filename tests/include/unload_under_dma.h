// BEHAVIOUR.md 3, one test for every IOMMU module: CYCLES rmmod/modprobe
// cycles of MODULE on PLATFORM while every DMA test master runs continuous
// DMA and two more threads issue single transfers. Each cycle: the module
// comes back and every master binds and restarts DMA; rmmod unbinds them
// first (deferred again) and nothing reaches memory untranslated. At the
// end: no corruption, no device left attached, and everything attaches and
// moves data once more.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/device.h"
#include "dmatest_io.h"
#include "kernel/kernel.h"
#include "module/loader.h"
#include "sim/harness.h"
#include "sim/state.h"
#include "test_paths.h"

namespace modiommu::test {

struct UnloadUnderDma {
  std::string platform;  // under platforms/
  std::string module;    // as modprobe names it
  int cycles = 30;
  size_t masters = 0;    // DMA test masters the platform has
};

inline void unload_under_dma(const UnloadUnderDma& p) {
  KernelOptions o;
  o.module_dirs = {test_paths::modules_dir()};
  o.preload = {"dmatest"};
  o.autoload = false;
  Kernel k(o);
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(test_paths::source_dir() + "/platforms/" + p.platform).ok()) << p.platform;
  k.boot_complete();
  const std::vector<Device*> ms = dmatest_masters(k);
  ASSERT_EQ(ms.size(), p.masters) << p.platform;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> single_ok{0};
  std::vector<std::thread> side;
  // Joined on every way out, a failed ASSERT included.
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads) t.join();
    }
  } joiner{stop, side};
  for (int t = 0; t < 2; ++t)
    side.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!stop) {
        Device* d = ms[rng() % ms.size()];
        // Refused cleanly (ENODEV) while the endpoint is gone.
        Status s = harness.with_endpoint(*d, [&](DmaEndpoint& ep) {
          return ep.running() ? Status{} : ep.transfer(rng() & 1 ? DmaXfer::write : DmaXfer::read, 4096u << (rng() % 5));
        });
        if (s.ok()) single_ok++;
      }
    });

  for (int i = 0; i < p.cycles; ++i) {
    ASSERT_TRUE(k.modules().modprobe(p.module).ok()) << p.module << " cycle " << i;
    for (size_t j = 0; j < ms.size(); ++j) {
      ASSERT_EQ(ms[j]->state(), DeviceState::bound) << ms[j]->name() << " cycle " << i;
      Status s = harness.with_endpoint(*ms[j], [&](DmaEndpoint& ep) {
        return ep.start(j % 2 ? DmaXfer::read : DmaXfer::write, size_t{4096} << (i % 6));
      });
      ASSERT_TRUE(s.ok() || s.error().code == Errc::busy) << s.error().str();
    }
    RmmodFlags f;
    f.wait = true;
    Status r = k.modules().rmmod(p.module, f);
    ASSERT_TRUE(r.ok()) << r.error().str();
    for (Device* m : ms) ASSERT_EQ(m->state(), DeviceState::deferred) << m->name() << " cycle " << i;
    ASSERT_EQ(sim::dma_totals(k).escapes, 0u) << "cycle " << i;
  }
  stop = true;
  for (auto& t : side) t.join();
  side.clear();

  EXPECT_EQ(sim::dma_totals(k).escapes, 0u);
  EXPECT_EQ(k.log().count("corrupted"), 0u);
  EXPECT_EQ(k.log().count("still attached"), 0u);
  EXPECT_GT(sim::dma_totals(k).transfers, static_cast<uint64_t>(p.cycles)) << "DMA really ran";
  EXPECT_GT(single_ok.load(), 0u);
  // Back once more: everything attaches again with fresh domains.
  ASSERT_TRUE(k.modules().modprobe(p.module).ok());
  for (Device* m : ms) {
    EXPECT_EQ(m->state(), DeviceState::bound) << m->name();
    EXPECT_TRUE(harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 65536); }).ok())
        << m->name();
  }
}

}  // namespace modiommu::test
