// rockchip-iommu driver against the Rockchip IOMMU model on the bundled
// RK3568-like platform and small trees: every bank programmed alike, DMA
// through v1 and v2 tables, one group per IOMMU, faults reported per device,
// identity and blocked domains, unbind leaving the banks blocked (never
// bypassing), rockchip,disable-mmu-reset, #iommu-cells checks.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/device.h"
#include "dmatest_io.h"
#include "iommu_driver_kernel.h"
#include "hw/dmatest.h"
#include "hw/rockchip/regs.h"
#include "hw/rockchip/rk_iommu.h"
#include "iommu/iommu.h"
#include "kernel/kernel.h"
#include "module/loader.h"
#include "of/tree.h"
#include "sim/harness.h"
#include "test_paths.h"

namespace modiommu {
namespace {

using hw::DmaTest;
using iommu::DmaDirection;
using iommu::DomainType;
namespace rk = hw::rockchip;

class RkKernel : public test::IommuDriverKernel {
 public:
  explicit RkKernel(const std::string& platform_or_dts, KernelOptions opts = {}, bool is_text = false)
      : IommuDriverKernel("rockchip_iommu", platform_or_dts, std::move(opts), is_text) {}
  // The family's 32-bit IOVA aperture.
  void round_trip(Device* m, uint64_t seed) { IommuDriverKernel::round_trip(m, seed, uint64_t{1} << 32); }
  std::shared_ptr<rk::RkIommu> model(Device* iommu) { return model_of<rk::RkIommu>(iommu); }
};

std::string rk3568() { return test_paths::source_dir() + "/platforms/rk3568-like.dts"; }

std::string tree_with(const std::string& body) {
  return "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
         " memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x10000000>; };\n"
         " gic: interrupt-controller@8000000 { compatible = \"arm,gic-v3\"; #interrupt-cells = <3>;"
         " #address-cells = <0>; interrupt-controller; reg = <0x0 0x8000000 0x0 0x10000>; };\n" +
         body + "};\n";
}

TEST(RockchipIommu, EveryBankIsProgrammedAlikeAndMastersShareAGroup) {
  RkKernel s(rk3568());
  ASSERT_TRUE(s.ok);
  Device* vop = s.dev("fe043e00.iommu");
  auto model = s.model(vop);
  ASSERT_TRUE(model);
  ASSERT_EQ(model->banks().size(), 2u);
  const uint32_t dte0 = static_cast<uint32_t>(model->banks()[0]->read(rk::MMU_DTE_ADDR, 4));
  for (const auto& b : model->banks()) {
    EXPECT_TRUE(b->paging_enabled());
    EXPECT_EQ(b->read(rk::MMU_DTE_ADDR, 4), dte0);
    EXPECT_EQ(b->read(rk::MMU_INT_MASK, 4), rk::IRQ_MASK);
    EXPECT_NE(b->read(rk::MMU_AUTO_GATING, 4) & rk::AUTO_GATING_DISABLE_FETCH_DTE_TIME_LIMIT, 0u);
  }
  Device* a = s.dev("fe100000.dma");
  Device* b = s.dev("fe101000.dma");
  EXPECT_EQ(s.k.iommu().info(*a)->iommu, vop->name());
  EXPECT_EQ(s.k.iommu().info(*a)->stream_ids, std::vector<uint32_t>{0});
  EXPECT_EQ(s.k.iommu().info(*a)->group, s.k.iommu().info(*b)->group);
  EXPECT_EQ(s.k.iommu().device_domain(*a), s.k.iommu().device_domain(*b));
  EXPECT_NE(s.k.iommu().info(*a)->group, s.k.iommu().info(*s.dev("fe102000.dma"))->group);
}

TEST(RockchipIommu, DmaTranslatesThroughV1AndV2TablesReadsAndWritesOnTheirBanks) {
  RkKernel s(rk3568());
  ASSERT_TRUE(s.ok);
  for (const char* name : {"fe100000.dma", "fe101000.dma", "fe102000.dma", "fe103000.dma"}) {
    Device* m = s.dev(name);
    s.round_trip(m, 40);
    auto st = s.port(m).stats();
    EXPECT_GT(st.translated, 0u) << name;
    EXPECT_EQ(st.bypassed, 0u) << name;
    EXPECT_EQ(st.escapes, 0u) << name;
  }
  // The VOP's reads went through bank 0, its writes through bank 1.
  auto vop = s.model(s.dev("fe043e00.iommu"));
  EXPECT_GT(vop->banks()[0]->stats().tlb_misses, 0u);
  EXPECT_GT(vop->banks()[1]->stats().tlb_misses, 0u);
  EXPECT_EQ(s.model(s.dev("fdff1a00.iommu"))->banks()[0]->version(), rk::Version::v1);
}

TEST(RockchipIommu, UnmapZapsTheLine) {
  RkKernel s(rk3568());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("fe102000.dma");
  const uint64_t pa = test::filled_page(s.k, 3);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);  // now in the IOTLB
  EXPECT_GT(s.model(s.dev("fdea0800.iommu"))->banks()[0]->tlb_size(), 0u);
  ASSERT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::to_device).ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusFault);
}

TEST(RockchipIommu, PageFaultIsReportedToTheMasterWithAddressAndDirection) {
  RkKernel s(rk3568());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("fe103000.dma");  // alone behind the v1 IOMMU
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
  // The handler completed the fault: the bank is ready for the next one.
  auto bank = s.model(s.dev("fdff1a00.iommu"))->banks()[0];
  EXPECT_EQ(bank->read(rk::MMU_STATUS, 4) & rk::STATUS_PAGE_FAULT_ACTIVE, 0u);
  EXPECT_EQ(bank->read(rk::MMU_INT_RAWSTAT, 4), 0u);
  s.round_trip(m, 9);
}

TEST(RockchipIommu, IdentityDomainTurnsPagingOffBlockedFaults) {
  KernelOptions o;
  o.iommu.per_device["fe102000.dma"] = DomainType::identity;
  o.iommu.per_device["fe103000.dma"] = DomainType::blocked;
  RkKernel s(rk3568(), o);
  ASSERT_TRUE(s.ok);
  Device* id = s.dev("fe102000.dma");
  Device* blk = s.dev("fe103000.dma");
  EXPECT_EQ(s.k.iommu().info(*id)->domain, DomainType::identity);
  // Linux 6.x rk_iommu_identity_attach -> rk_iommu_disable: paging off.
  EXPECT_FALSE(s.model(s.dev("fdea0800.iommu"))->banks()[0]->paging_enabled());
  const uint64_t pa = test::filled_page(s.k, 5);
  EXPECT_EQ(s.transfer(id, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(id).stats().bypassed, 0u);
  EXPECT_EQ(s.port(id).stats().escapes, 0u);  // sanctioned: identity domain
  EXPECT_TRUE(s.model(s.dev("fdff1a00.iommu"))->banks()[0]->paging_enabled());
  EXPECT_EQ(s.transfer(blk, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(blk).stats().bypassed, 0u);
}

TEST(RockchipIommu, UnbindLeavesEveryBankBlockingAndRebindRestores) {
  RkKernel s(rk3568());
  ASSERT_TRUE(s.ok);
  Device* vop = s.dev("fe043e00.iommu");
  Device* m = s.dev("fe100000.dma");
  ASSERT_TRUE(s.k.core().unbind(*vop).ok());
  s.k.core().process();
  EXPECT_EQ(vop->state(), DeviceState::unbound);
  EXPECT_NE(m->state(), DeviceState::bound);  // its link unbound it first
  for (const auto& b : s.model(vop)->banks()) {
    EXPECT_TRUE(b->paging_enabled());  // paging off would pass DMA untranslated
    EXPECT_EQ(b->read(rk::MMU_INT_MASK, 4), 0u);
  }
  // The master's DMA (programmed behind the driver's back) faults, both ways.
  const uint64_t pa = test::filled_page(s.k, 6);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, pa, 4096, true), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
  ASSERT_TRUE(s.k.core().bind(*vop, *s.k.core().find_driver("rk_iommu")).ok());
  s.k.core().process();
  EXPECT_EQ(m->state(), DeviceState::bound);
  s.round_trip(m, 77);
}

TEST(RockchipIommu, ResetStateBypassIsCountedAsAnEscape) {
  // The accounting must see what a driver that left the banks in their
  // reset state (paging off) would let through: FORCE_RESET behind the
  // driver's back, then DMA from a master the tree puts behind the IOMMU.
  RkKernel s(rk3568());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("fe102000.dma");
  s.regs(s.dev("fdea0800.iommu")).writel(rk::MMU_COMMAND, rk::CMD_FORCE_RESET);
  const uint64_t pa = test::filled_page(s.k, 8);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(m).stats().bypassed, 0u);
  EXPECT_GT(s.port(m).stats().escapes, 0u);
}

TEST(RockchipIommu, DisableMmuResetIsHonoured) {
  RkKernel s(rk3568());
  ASSERT_TRUE(s.ok);
  // fdff1a00 has rockchip,disable-mmu-reset; fdea0800 does not.
  EXPECT_EQ(s.model(s.dev("fdff1a00.iommu"))->banks()[0]->stats().force_resets, 0u);
  EXPECT_GE(s.model(s.dev("fdea0800.iommu"))->banks()[0]->stats().force_resets, 1u);
  EXPECT_NE(s.log().find("force reset disabled"), std::string::npos);
}

TEST(RockchipIommu, IommuCellsMustBeZeroClocksAreOptional) {
  const std::string dts = tree_with(
      " a: iommu@9000000 { compatible = \"rockchip,rk3568-iommu\"; reg = <0x0 0x9000000 0x0 0x100>;"
      " interrupts = <0 10 4>; #iommu-cells = <1>; };\n"
      " b: iommu@9001000 { compatible = \"rockchip,iommu\"; reg = <0x0 0x9001000 0x0 0x100>;"
      " interrupts = <0 11 4>; #iommu-cells = <0>; clocks = <&b>, <&b>; clock-names = \"aclk\", \"iface\"; };\n"
      " dma@10000000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x10000000 0x0 0x1000>; iommus = <&a 5>; };\n"
      " dma@10001000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x10001000 0x0 0x1000>; iommus = <&b>; };\n");
  RkKernel s(dts, {}, true);
  ASSERT_TRUE(s.ok);
  EXPECT_NE(s.dev("9000000.iommu")->state(), DeviceState::bound);
  EXPECT_NE(s.log().find("#iommu-cells is 1: the binding wants 0"), std::string::npos) << s.log();
  EXPECT_EQ(s.dev("9001000.iommu")->state(), DeviceState::bound);
  Device* m = s.dev("10001000.dma");
  EXPECT_EQ(m->state(), DeviceState::bound);
  s.round_trip(m, 11);
  // Its IOMMU failed: the master runs by the --missing-iommu policy (bypass).
  auto info = s.k.iommu().info(*s.dev("10000000.dma"));
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->bypass_fallback);
}

TEST(RockchipIommu, V2WalksTablesAbove4GiBV1CannotProbeThere) {
  // RAM only above 4 GiB: v2 tables and buffers use the packed address bits
  // 39:32; a v1 IOMMU has no page it could walk (Linux: GFP_DMA32).
  const std::string dts =
      "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
      " memory@a00000000 { device_type = \"memory\"; reg = <0xa 0x0 0x0 0x10000000>; };\n"
      " gic: interrupt-controller@8000000 { compatible = \"arm,gic-v3\"; #interrupt-cells = <3>;"
      " #address-cells = <0>; interrupt-controller; reg = <0x0 0x8000000 0x0 0x10000>; };\n"
      " v2: iommu@9000000 { compatible = \"rockchip,rk3568-iommu\"; reg = <0x0 0x9000000 0x0 0x100>;"
      " interrupts = <0 10 4>; #iommu-cells = <0>; };\n"
      " v1: iommu@9001000 { compatible = \"rockchip,iommu\"; reg = <0x0 0x9001000 0x0 0x100>;"
      " interrupts = <0 11 4>; #iommu-cells = <0>; };\n"
      " dma@10000000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x10000000 0x0 0x1000>; iommus = <&v2>; };\n"
      " dma@10001000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x10001000 0x0 0x1000>; iommus = <&v1>; };\n"
      "};\n";
  RkKernel s(dts, {}, true);
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("10000000.dma");
  ASSERT_EQ(m->state(), DeviceState::bound);
  s.round_trip(m, 21);
  const uint32_t dte_addr = static_cast<uint32_t>(s.model(s.dev("9000000.iommu"))->banks()[0]->read(rk::MMU_DTE_ADDR, 4));
  EXPECT_EQ(rk::entry_address(rk::Version::v2, dte_addr) >> 32, 0xau);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
  EXPECT_NE(s.dev("9001000.iommu")->state(), DeviceState::bound);
  EXPECT_NE(s.log().find("no page below 32 bits"), std::string::npos) << s.log();
}

}  // namespace
}  // namespace modiommu
