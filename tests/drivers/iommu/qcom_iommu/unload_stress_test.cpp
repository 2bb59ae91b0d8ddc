// BEHAVIOUR.md 3 for the Qualcomm MSM IOMMU module: 30 rmmod/modprobe cycles
// of qcom_iommu on the MSM8916-like board while every DMA master runs
// continuous DMA and other threads issue single transfers: no escape (the
// context banks are left blocking, never bypassing), no corruption, and
// everything attaches again.
#include <atomic>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "core/device.h"
#include "dmatest_io.h"
#include "kernel/kernel.h"
#include "module/loader.h"
#include "sim/harness.h"
#include "sim/state.h"
#include "test_paths.h"

namespace modiommu {
namespace {

TEST(QcomIommuUnloadUnderDma, ThirtyCyclesZeroEscapes) {
  KernelOptions o;
  o.module_dirs = {test_paths::modules_dir()};
  o.preload = {"dmatest"};
  o.autoload = false;
  Kernel k(o);
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(test_paths::source_dir() + "/platforms/msm8916-like.dts").ok());
  k.boot_complete();
  auto ms = test::dmatest_masters(k);
  ASSERT_EQ(ms.size(), 4u);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> single_ok{0};
  std::vector<std::thread> side;
  for (int t = 0; t < 2; ++t)
    side.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!stop) {
        Device* d = ms[rng() % ms.size()];
        Status s = harness.with_endpoint(*d, [&](DmaEndpoint& ep) {
          return ep.running() ? Status{} : ep.transfer(rng() & 1 ? DmaXfer::write : DmaXfer::read, 4096u << (rng() % 5));
        });
        if (s.ok()) single_ok++;
      }
    });

  const int cycles = 30;
  for (int i = 0; i < cycles; ++i) {
    ASSERT_TRUE(k.modules().modprobe("qcom_iommu").ok()) << "cycle " << i;
    for (size_t j = 0; j < ms.size(); ++j) {
      ASSERT_EQ(ms[j]->state(), DeviceState::bound) << ms[j]->name() << " cycle " << i;
      Status s = harness.with_endpoint(*ms[j], [&](DmaEndpoint& ep) {
        return ep.start(j % 2 ? DmaXfer::read : DmaXfer::write, size_t{4096} << (i % 6));
      });
      ASSERT_TRUE(s.ok() || s.error().code == Errc::busy) << s.error().str();
    }
    RmmodFlags f;
    f.wait = true;
    Status r = k.modules().rmmod("qcom_iommu", f);
    ASSERT_TRUE(r.ok()) << r.error().str();
    for (Device* m : ms) ASSERT_EQ(m->state(), DeviceState::deferred) << m->name() << " cycle " << i;
    ASSERT_EQ(sim::dma_totals(k).escapes, 0u) << "cycle " << i;
  }
  stop = true;
  for (auto& t : side) t.join();

  EXPECT_EQ(sim::dma_totals(k).escapes, 0u);
  EXPECT_EQ(k.log().count("corrupted"), 0u);
  EXPECT_EQ(k.log().count("still attached"), 0u);
  EXPECT_GT(sim::dma_totals(k).transfers, static_cast<uint64_t>(cycles)) << "DMA really ran";
  EXPECT_GT(single_ok.load(), 0u);
  ASSERT_TRUE(k.modules().modprobe("qcom_iommu").ok());
  for (Device* m : ms) {
    EXPECT_EQ(m->state(), DeviceState::bound);
    EXPECT_TRUE(harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 65536); }).ok());
  }
}

}  // namespace
}  // namespace modiommu
