// tegra-smmu driver against the Tegra SMMU model on the bundled
// Tegra210-like platform and small trees: registers as Linux's probe sets
// them, DMA through the two-level tables, groups as tegra_smmu_device_group
// forms them, ASIDs per domain, faults reported per device (decoded from
// the MC client), identity and blocked domains, unbind leaving the
// described swgroups blocked (never bypassing), the host1x-like parent's
// children behind their own swgroups, #iommu-cells checks.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/device.h"
#include "dmatest_io.h"
#include "hw/dmatest.h"
#include "hw/tegra/regs.h"
#include "hw/tegra/tegra_smmu.h"
#include "iommu/iommu.h"
#include "iommu_driver_kernel.h"
#include "kernel/kernel.h"
#include "test_paths.h"

namespace modiommu {
namespace {

using hw::DmaTest;
using iommu::DmaDirection;
using iommu::DomainType;
namespace tg = hw::tegra;

constexpr const char* kMc = "70019000.memory-controller";

class TegraKernel : public test::IommuDriverKernel {
 public:
  explicit TegraKernel(const std::string& platform_or_dts, KernelOptions opts = {}, bool is_text = false)
      : IommuDriverKernel("tegra_smmu", platform_or_dts, with_populate(std::move(opts)), is_text) {}
  // The family's 32-bit IOVA aperture.
  void round_trip(Device* m, uint64_t seed) { IommuDriverKernel::round_trip(m, seed, uint64_t{1} << 32); }
  std::shared_ptr<tg::TegraSmmu> model() { return model_of<tg::TegraSmmu>(dev(kMc)); }
  uint32_t asid_of(uint64_t asid_reg) { return static_cast<uint32_t>(model()->read(asid_reg, 4)); }

 private:
  static KernelOptions with_populate(KernelOptions o) {
    o.populate = PopulatePolicy::drivers;  // the host1x-like parent's children
    return o;
  }
};

std::string tegra210() { return test_paths::source_dir() + "/platforms/tegra210-like.dts"; }

TEST(TegraSmmu, ProbeProgramsAsLinuxAndAttachesEverySwgroup) {
  TegraKernel s(tegra210());
  ASSERT_TRUE(s.ok);
  auto m = s.model();
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->enabled());
  EXPECT_NE(m->read(tg::SMMU_PTC_CONFIG, 4) & tg::PTC_CONFIG_ENABLE, 0u);
  EXPECT_EQ(tg::TlbActiveLines::get(static_cast<uint32_t>(m->read(tg::SMMU_TLB_CONFIG, 4))), 48u);
  EXPECT_NE(m->read(tg::MC_INTMASK, 4) & tg::MC_INT_INVALID_SMMU_PAGE, 0u);
  // DC and DCB share the "display" group and so one DMA domain: one ASID.
  const uint32_t dc = s.asid_of(0x240), dcb = s.asid_of(0x244), sdmmc = s.asid_of(0xa94);
  EXPECT_NE(dc & tg::SMMU_ASID_ENABLE, 0u);
  EXPECT_EQ(dc, dcb);
  EXPECT_NE(dc, sdmmc);
  EXPECT_NE(sdmmc & tg::SMMU_ASID_ENABLE, 0u);
  // display0a..: the DC clients' enable bits (MC_SMMU_TRANSLATION_ENABLE_0 bits 1, 3, 5).
  EXPECT_EQ(m->read(0x228, 4) & 0x2a, 0x2au);
  Device* a = s.dev("54200000.dma");
  Device* b = s.dev("54240000.dma");
  EXPECT_EQ(s.k.iommu().info(*a)->stream_ids, std::vector<uint32_t>{1});
  EXPECT_EQ(s.k.iommu().info(*a)->group, s.k.iommu().info(*b)->group);
  EXPECT_NE(s.k.iommu().info(*a)->group, s.k.iommu().info(*s.dev("700b0000.dma"))->group);
  EXPECT_NE(s.k.iommu().info(*s.dev("700b0000.dma"))->group, s.k.iommu().info(*s.dev("70090000.dma"))->group);
  EXPECT_EQ(s.k.iommu().info(*a)->domain, DomainType::dma);
}

TEST(TegraSmmu, DmaTranslatesForEveryMasterIncludingHost1xChildren) {
  TegraKernel s(tegra210());
  ASSERT_TRUE(s.ok);
  for (const char* name : {"54200000.dma", "54240000.dma", "700b0000.dma", "70090000.dma", "50000000.dma",
                           "54340000.dma", "54080000.dma"}) {
    Device* m = s.dev(name);
    ASSERT_NE(m, nullptr);
    ASSERT_EQ(m->state(), DeviceState::bound) << name;
    s.round_trip(m, 40);
    auto st = s.port(m).stats();
    EXPECT_GT(st.translated, 0u) << name;
    EXPECT_EQ(st.bypassed, 0u) << name;
    EXPECT_EQ(st.escapes, 0u) << name;
  }
  // Children have their own swgroups: VIC (22), VI (23), not the parent's HC.
  EXPECT_EQ(s.k.iommu().info(*s.dev("54340000.dma"))->stream_ids, std::vector<uint32_t>{22});
  EXPECT_GT(s.model()->stats().tlb_hits, 0u);
}

TEST(TegraSmmu, UnmapFlushesPtcAndTlb) {
  TegraKernel s(tegra210());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("700b0000.dma");
  for (int i = 0; i < 8; ++i) {
    const uint64_t pa = test::filled_page(s.k, 3 + i);
    auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
    ASSERT_TRUE(iova.ok());
    EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);  // now in the TLB and PTC
    ASSERT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::to_device).ok());
    EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusFault) << i;
  }
}

TEST(TegraSmmu, FaultIsReportedToTheMasterOfTheFaultingClient) {
  TegraKernel s(tegra210());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("70090000.dma");  // XUSB_HOST
  Device* other = s.dev("700b0000.dma");
  iommu::IommuDomain* dom = s.k.iommu().device_domain(*m);
  ASSERT_NE(dom, nullptr);
  std::mutex mu;
  std::vector<std::pair<Device*, iommu::FaultInfo>> seen;
  dom->set_fault_handler([&](Device* d, const iommu::FaultInfo& f) {
    std::lock_guard g(mu);
    seen.emplace_back(d, f);
  });
  const uint64_t bad = 0xe5432000;
  EXPECT_EQ(s.transfer(m, bad, 64, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, bad + 0x3000, 64, true), DmaTest::kStatusFault);
  {
    std::lock_guard g(mu);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].first, m);
    EXPECT_EQ(seen[0].second.iova, bad);
    EXPECT_FALSE(seen[0].second.write);
    EXPECT_EQ(seen[0].second.stream_id, 12u);
    EXPECT_NE(seen[0].second.reason.find("xusb_hostr"), std::string::npos) << seen[0].second.reason;
    EXPECT_EQ(seen[1].second.iova, bad + 0x3000);
    EXPECT_TRUE(seen[1].second.write);
    EXPECT_NE(seen[1].second.reason.find("xusb_hostw"), std::string::npos);
  }
  EXPECT_EQ(s.k.iommu().info(*m)->faults, 2u);
  EXPECT_EQ(s.k.iommu().info(*other)->faults, 0u);
  EXPECT_EQ(s.model()->read(tg::MC_INTSTATUS, 4), 0u);  // cleared by the handler
  s.round_trip(m, 9);
}

TEST(TegraSmmu, IdentityDomainDisablesTheSwgroupBlockedFaults) {
  KernelOptions o;
  o.iommu.per_device["70090000.dma"] = DomainType::identity;
  o.iommu.per_device["700b0000.dma"] = DomainType::blocked;
  TegraKernel s(tegra210(), o);
  ASSERT_TRUE(s.ok);
  Device* id = s.dev("70090000.dma");
  Device* blk = s.dev("700b0000.dma");
  EXPECT_EQ(s.k.iommu().info(*id)->domain, DomainType::identity);
  // Linux 6.12 tegra_smmu_identity_attach -> tegra_smmu_disable.
  EXPECT_EQ(s.asid_of(0x288) & tg::SMMU_ASID_ENABLE, 0u);
  const uint64_t pa = test::filled_page(s.k, 5);
  EXPECT_EQ(s.transfer(id, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(id).stats().bypassed, 0u);
  EXPECT_EQ(s.port(id).stats().escapes, 0u);  // sanctioned: identity domain
  EXPECT_EQ(s.transfer(blk, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(blk).stats().bypassed, 0u);
}

TEST(TegraSmmu, UnbindLeavesDescribedSwgroupsBlockingAndRebindRestores) {
  TegraKernel s(tegra210());
  ASSERT_TRUE(s.ok);
  Device* mc = s.dev(kMc);
  Device* m = s.dev("54200000.dma");
  ASSERT_TRUE(s.k.core().unbind(*mc).ok());
  s.k.core().process();
  EXPECT_EQ(mc->state(), DeviceState::unbound);
  EXPECT_NE(m->state(), DeviceState::bound);  // its link unbound it first
  EXPECT_TRUE(s.model()->enabled());  // SMMU_CONFIG off would pass DMA untranslated
  // Every described swgroup on the blocking ASID (127).
  for (uint64_t reg : {0x240, 0x244, 0xa94, 0x288, 0x250, 0x284, 0x280})
    EXPECT_EQ(s.asid_of(reg), tg::SMMU_ASID_ENABLE | 127u) << fmt::format("{:#x}", reg);
  const uint64_t pa = test::filled_page(s.k, 6);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, pa, 4096, true), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
  ASSERT_TRUE(s.k.core().bind(*mc, *s.k.core().find_driver("tegra-smmu")).ok());
  s.k.core().process();
  EXPECT_EQ(m->state(), DeviceState::bound);
  s.round_trip(m, 77);
}

TEST(TegraSmmu, ResetStateBypassIsCountedAsAnEscape) {
  // What a driver that left SMMU_CONFIG off would let through.
  TegraKernel s(tegra210());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("700b0000.dma");
  s.regs(s.dev(kMc)).writel(tg::SMMU_CONFIG, 0);
  const uint64_t pa = test::filled_page(s.k, 8);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(m).stats().escapes, 0u);
}

TEST(TegraSmmu, BadSpecifiersAndUnknownSwgroupsDoNotRunUntranslated) {
  const std::string dts =
      "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
      " memory@80000000 { device_type = \"memory\"; reg = <0x0 0x80000000 0x0 0x10000000>; };\n"
      " gic: interrupt-controller@50041000 { compatible = \"arm,gic-v3\"; #interrupt-cells = <3>;"
      " #address-cells = <0>; interrupt-controller; reg = <0x0 0x50041000 0x0 0x1000>; };\n"
      " mc: memory-controller@70019000 { compatible = \"nvidia,tegra132-mc\"; reg = <0x0 0x70019000 0x0 0x1000>;"
      " interrupts = <0 77 4>; #iommu-cells = <1>; };\n"
      " dma@10000000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x10000000 0x0 0x1000>; iommus = <&mc 10>; };\n"
      " dma@10001000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x10001000 0x0 0x1000>; iommus = <&mc 0>; };\n"
      "};\n";
  TegraKernel s(dts, {}, true);
  ASSERT_TRUE(s.ok);
  // Tegra132 uses Tegra124's table: swgroup 10 is VDE.
  Device* vde = s.dev("10000000.dma");
  ASSERT_EQ(vde->state(), DeviceState::bound);
  s.round_trip(vde, 21);
  EXPECT_EQ(s.port(vde).stats().escapes, 0u);
  // Swgroup 0 (PTC) has no ASID register: the master does not probe.
  EXPECT_NE(s.dev("10001000.dma")->state(), DeviceState::bound);
  EXPECT_NE(s.log().find("no ASID register"), std::string::npos) << s.log();
}

}  // namespace
}  // namespace modiommu
