// BEHAVIOUR.md 3: IOMMU modules unload safely under DMA
// (tests/include/unload_under_dma.h): rmmod/modprobe cycles of each IOMMU
// module under continuous DMA on its bundled board: no escape (the hardware
// is left blocking, never bypassing), no corruption, no leak (ASan), no race
// (TSan). One threaded test executable for every family: the sanitizer
// builds link it once.
#include "e2e_util.h"
#include "hw/dmatest.h"
#include "dmatest_io.h"
#include "sim/harness.h"
#include "sim/state.h"
#include "unload_under_dma.h"

using namespace modiommu;

namespace {

std::vector<Device*> masters(Kernel& k) { return test::dmatest_masters(k); }

TEST(UnloadUnderDma, TwoHundredCyclesZeroEscapesZeroCorruption) {
  test::unload_under_dma({.platform = "virt-smmuv3.dts", .module = "arm-smmu-v3", .cycles = 200, .masters = 4});
}

TEST(UnloadUnderDma, RockchipIommuHundredCycles) {
  test::unload_under_dma({.platform = "rk3568-like.dts", .module = "rockchip-iommu", .cycles = 100, .masters = 4});
}

// The context banks are left blocking: SCTLR.M on an empty table.
TEST(UnloadUnderDma, QcomIommuThirtyCycles) {
  test::unload_under_dma({.platform = "msm8916-like.dts", .module = "qcom_iommu", .cycles = 30, .masters = 4});
}

// Left enabled on an empty directory with no master's bypass bit set.
TEST(UnloadUnderDma, Sun50iIommuThirtyCycles) {
  test::unload_under_dma({.platform = "sun50i-h6-like.dts", .module = "sun50i-iommu", .cycles = 30, .masters = 4});
}

// A master behind two SysMMUs among them; each left on fault entries.
TEST(UnloadUnderDma, ExynosIommuThirtyCycles) {
  test::unload_under_dma({.platform = "exynos5433-like.dts", .module = "exynos-iommu", .cycles = 30, .masters = 5});
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
