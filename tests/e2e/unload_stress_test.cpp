// BEHAVIOUR.md 3: IOMMU modules unload safely under DMA. 200 rmmod/modprobe
// cycles of arm-smmu-v3 while every DMA master runs continuous DMA and other
// threads issue single transfers: no escape, no corruption, no leak (ASan),
// no race (TSan).
#include <atomic>
#include <random>
#include <thread>

#include "e2e_util.h"
#include "hw/dmatest.h"
#include "dmatest_io.h"
#include "sim/harness.h"
#include "sim/state.h"

using namespace modiommu;

namespace {

std::vector<Device*> masters(Kernel& k) { return test::dmatest_masters(k); }

TEST(UnloadUnderDma, TwoHundredCyclesZeroEscapesZeroCorruption) {
  Kernel k(e2e::module_options({"dmatest"}));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(e2e::platform("virt-smmuv3.dts")).ok());
  k.boot_complete();
  auto ms = masters(k);
  ASSERT_EQ(ms.size(), 4u);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> single_ok{0}, single_refused{0};
  // Side threads: single transfers whenever an endpoint is there; refused
  // cleanly (ENODEV) while it is not.
  std::vector<std::thread> side;
  for (int t = 0; t < 2; ++t)
    side.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!stop) {
        Device* d = ms[rng() % ms.size()];
        Status s = harness.with_endpoint(*d, [&](DmaEndpoint& ep) {
          return ep.running() ? Status{} : ep.transfer(rng() & 1 ? DmaXfer::write : DmaXfer::read, 4096u << (rng() % 5));
        });
        (s.ok() ? single_ok : single_refused)++;
      }
    });

  const int cycles = 200;
  for (int i = 0; i < cycles; ++i) {
    ASSERT_TRUE(k.modules().modprobe("arm-smmu-v3").ok()) << "cycle " << i;
    for (size_t j = 0; j < ms.size(); ++j) {
      ASSERT_EQ(ms[j]->state(), DeviceState::bound) << ms[j]->name() << " cycle " << i;
      Status s = harness.with_endpoint(*ms[j], [&](DmaEndpoint& ep) {
        return ep.start(j % 2 ? DmaXfer::read : DmaXfer::write, size_t{4096} << (i % 6));
      });
      ASSERT_TRUE(s.ok() || s.error().code == Errc::busy) << s.error().str();
    }
    RmmodFlags f;
    f.wait = true;
    Status r = k.modules().rmmod("arm-smmu-v3", f);
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
  // Back once more: everything attaches again with fresh domains.
  ASSERT_TRUE(k.modules().modprobe("arm-smmu-v3").ok());
  for (Device* m : ms) {
    EXPECT_EQ(m->state(), DeviceState::bound);
    EXPECT_TRUE(harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 65536); }).ok());
  }
}

TEST(Isolation, OneDeviceCannotReachAnothersBuffers) {
  Kernel k(e2e::module_options({"dmatest", "arm-smmu-v3"}));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(e2e::platform("virt-smmuv3.dts")).ok());
  k.boot_complete();
  auto ms = masters(k);
  ASSERT_GE(ms.size(), 2u);
  Device* a = ms[0];
  Device* b = ms[1];
  // A buffer mapped for A only.
  auto pa = k.pages().alloc(4096);
  ASSERT_TRUE(pa.ok());
  ASSERT_TRUE(k.machine().memory().fill(*pa, 0x5a, 4096).ok());
  auto iova = k.dma().map_single(*a, *pa, 4096, iommu::DmaDirection::bidirectional);
  ASSERT_TRUE(iova.ok());
  // B, programmed by a rogue, writes to A's IOVA.
  auto regs = k.ioremap(*b, 0);
  ASSERT_TRUE(regs.ok());
  regs->writeq(0x28, 0x1234);  // PATTERN
  regs->writeq(0x18, *iova);   // DST
  regs->writel(0x20, 4096);    // LEN
  regs->writel(0x24, 1);       // buffer -> memory
  regs->writel(0x0c, 0xe);     // clear status
  regs->writel(0x08, 1);       // GO
  EXPECT_TRUE(regs->readl(0x0c) & hw::DmaTest::kStatusFault) << "B must fault";
  std::vector<uint8_t> after(4096);
  ASSERT_TRUE(k.machine().memory().read(*pa, after.data(), after.size()).ok());
  for (uint8_t v : after) ASSERT_EQ(v, 0x5a) << "A's buffer was reached by B";
  EXPECT_GE(k.iommu().info(*b)->faults, 1u);
  EXPECT_EQ(k.iommu().info(*a)->faults, 0u);
  ASSERT_TRUE(k.dma().unmap_single(*a, *iova, 4096, iommu::DmaDirection::bidirectional).ok());
  ASSERT_TRUE(k.pages().free(*pa).ok());
  EXPECT_EQ(sim::dma_totals(k).escapes, 0u);
}

}  // namespace
