// qcom_iommu driver against the Qualcomm MSM IOMMU model on the bundled
// MSM8916-like platform: context bank children bound by the module's second
// driver, masters on one or two banks, one group per device, DMA through
// LPAE tables, faults reported per device, no identity domain, unbind
// leaving every bank blocking (SCTLR.M on an empty table, never bypassing).
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/device.h"
#include "dmatest_io.h"
#include "hw/dmatest.h"
#include "hw/qcom/qcom_iommu.h"
#include "hw/smmuv2/regs.h"
#include "iommu/iommu.h"
#include "iommu_driver_kernel.h"
#include "kernel/kernel.h"
#include "test_paths.h"

namespace modiommu {
namespace {

using hw::DmaTest;
using iommu::DmaDirection;
using iommu::DomainType;
namespace v2 = hw::smmuv2;

class QcomKernel : public test::IommuDriverKernel {
 public:
  explicit QcomKernel(KernelOptions opts = {})
      : IommuDriverKernel("qcom_iommu", test_paths::source_dir() + "/platforms/msm8916-like.dts", std::move(opts),
                          false) {}
  void round_trip(Device* m, uint64_t seed) { IommuDriverKernel::round_trip(m, seed, uint64_t{1} << 32); }
  std::shared_ptr<hw::qcom::QcomIommu> model(Device* iommu) { return model_of<hw::qcom::QcomIommu>(iommu); }
};

TEST(QcomIommu, BanksBindMastersAttachWithTheirBanksOneGroupEach) {
  QcomKernel s;
  ASSERT_TRUE(s.ok);
  for (const char* b : {"1e24000.iommu-ctx", "1e25000.iommu-ctx", "1e34000.iommu-ctx", "1e35000.iommu-ctx",
                        "1f09000.iommu-ctx", "1f0a000.iommu-ctx"}) {
    Device* d = s.dev(b);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->state(), DeviceState::bound) << b;
    EXPECT_NE(s.regs(d).readl(v2::CB_SCTLR) & v2::SCTLR_M, 0u) << b;  // no bank left off
  }
  Device* apps = s.dev("1ef0000.iommu");
  Device* two = s.dev("10002000.dma");
  EXPECT_EQ(s.k.iommu().info(*two)->iommu, apps->name());
  EXPECT_EQ(s.k.iommu().info(*two)->stream_ids, (std::vector<uint32_t>{20, 21}));
  EXPECT_EQ(s.k.iommu().info(*s.dev("10001000.dma"))->stream_ids, std::vector<uint32_t>{4});
  EXPECT_NE(s.k.iommu().info(*two)->group, s.k.iommu().info(*s.dev("10000000.dma"))->group);
  // Both banks of the master walk the same table, each under its own ASID.
  const uint64_t t20 = s.regs(s.dev("1e34000.iommu-ctx")).readq(v2::CB_TTBR0);
  const uint64_t t21 = s.regs(s.dev("1e35000.iommu-ctx")).readq(v2::CB_TTBR0);
  EXPECT_EQ(t20 & 0xffffffffffull, t21 & 0xffffffffffull);
  EXPECT_EQ(t20 >> 48, 20u);
  EXPECT_EQ(t21 >> 48, 21u);
  EXPECT_EQ(s.regs(s.dev("1e34000.iommu-ctx")).readl(v2::CB_TCR) & v2::TCR_EAE, v2::TCR_EAE);
}

TEST(QcomIommu, DmaTranslatesOnEveryMasterAndUnmapInvalidates) {
  QcomKernel s;
  ASSERT_TRUE(s.ok);
  for (const char* name : {"10000000.dma", "10001000.dma", "10002000.dma", "10003000.dma"}) {
    Device* m = s.dev(name);
    s.round_trip(m, 40);
    auto st = s.port(m).stats();
    EXPECT_GT(st.translated, 0u) << name;
    EXPECT_EQ(st.bypassed, 0u) << name;
    EXPECT_EQ(st.escapes, 0u) << name;
  }
  Device* m = s.dev("10000000.dma");
  auto model = s.model(s.dev("1ef0000.iommu"));
  const uint64_t pa = test::filled_page(s.k, 3);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(model->tlb_size(), 0u);
  ASSERT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::to_device).ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusFault);  // TLBIVAL reached the bank
}

TEST(QcomIommu, ContextFaultIsReportedToItsMasterWithAddressAndDirection) {
  QcomKernel s;
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("10003000.dma");  // banks 1 and 2 of the second instance
  iommu::IommuDomain* dom = s.k.iommu().device_domain(*m);
  ASSERT_NE(dom, nullptr);
  std::mutex mu;
  std::vector<iommu::FaultInfo> seen;
  dom->set_fault_handler([&](Device*, const iommu::FaultInfo& f) {
    std::lock_guard g(mu);
    seen.push_back(f);
  });
  const uint64_t bad = 0xe5432000;
  EXPECT_EQ(s.transfer(m, bad, 64, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, bad + 0x3000, 64, true), DmaTest::kStatusFault);
  {
    std::lock_guard g(mu);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].iova, bad);
    EXPECT_FALSE(seen[0].write);
    EXPECT_EQ(seen[1].iova, bad + 0x3000);
    EXPECT_TRUE(seen[1].write);
  }
  EXPECT_EQ(s.k.iommu().info(*m)->faults, 2u);
  // The handler cleared FSR: the bank records the next fault afresh.
  EXPECT_EQ(s.regs(s.dev("1f09000.iommu-ctx")).readl(v2::CB_FSR), 0u);
  s.round_trip(m, 9);
}

TEST(QcomIommu, NoIdentityDomainABlockedOneFaults) {
  KernelOptions o;
  o.iommu.per_device["10000000.dma"] = DomainType::identity;
  o.iommu.per_device["10001000.dma"] = DomainType::blocked;
  QcomKernel s(o);
  ASSERT_TRUE(s.ok);
  // Linux qcom_iommu_domain_alloc() offers DMA and unmanaged only.
  EXPECT_NE(s.dev("10000000.dma")->state(), DeviceState::bound);
  EXPECT_NE(s.log().find("no identity domain"), std::string::npos);
  Device* blk = s.dev("10001000.dma");
  EXPECT_EQ(s.k.iommu().info(*blk)->domain, DomainType::blocked);
  const uint64_t pa = test::filled_page(s.k, 5);
  EXPECT_EQ(s.transfer(blk, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(blk).stats().bypassed, 0u);
}

TEST(QcomIommu, UnbindLeavesEveryBankBlockingAndRebindRestores) {
  QcomKernel s;
  ASSERT_TRUE(s.ok);
  Device* apps = s.dev("1ef0000.iommu");
  Device* m = s.dev("10002000.dma");
  auto model = s.model(apps);
  ASSERT_TRUE(s.k.core().unbind(*apps).ok());
  s.k.core().process();
  EXPECT_EQ(apps->state(), DeviceState::unbound);
  EXPECT_NE(m->state(), DeviceState::bound);  // its link unbound it first
  // The banks' devices are gone with their parent; the banks still translate,
  // on an empty table: the master's DMA (behind the driver's back) faults.
  const uint64_t pa = test::filled_page(s.k, 6);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, pa, 4096, true), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
  for (uint32_t bank : {4u, 5u, 20u, 21u})
    EXPECT_EQ(model->translate(bank, 0x1000, hw::Access::read).kind, hw::TranslateOutcome::Kind::faulted) << bank;
  ASSERT_TRUE(s.k.core().bind(*apps, *s.k.core().find_driver("qcom-iommu")).ok());
  s.k.core().process();
  EXPECT_EQ(m->state(), DeviceState::bound);
  EXPECT_EQ(s.dev("1e35000.iommu-ctx")->state(), DeviceState::bound);
  s.round_trip(m, 77);
}

TEST(QcomIommu, ResetStateBypassIsCountedAsAnEscape) {
  // What a driver that turned a bank off (SCTLR.M=0, its reset state) would
  // let through must count as an escape.
  QcomKernel s;
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("10000000.dma");
  s.regs(s.dev("1e25000.iommu-ctx")).writel(v2::CB_SCTLR, 0);
  const uint64_t pa = test::filled_page(s.k, 8);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(m).stats().bypassed, 0u);
  EXPECT_GT(s.port(m).stats().escapes, 0u);
}

}  // namespace
}  // namespace modiommu
