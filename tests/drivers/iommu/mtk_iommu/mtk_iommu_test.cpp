// mtk_iommu driver against the M4U and SMI larb models on the bundled
// MT8183-like platform: port IDs and larbs, one group per M4U, DMA through
// the v7s tables, faults reported per device, identity domains through the
// larb bypass, unbind leaving the hardware blocking, rebind, bad trees.
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/device.h"
#include "dmatest_io.h"
#include "iommu_driver_kernel.h"
#include "hw/dmatest.h"
#include "hw/machine.h"
#include "hw/mtk/m4u.h"
#include "hw/mtk/smi_larb.h"
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
using ::modiommu::test_paths::source_dir;

std::string mt8183() { return source_dir() + "/platforms/mt8183-like.dts"; }

class MtkKernel : public test::IommuDriverKernel {
 public:
  explicit MtkKernel(const std::string& platform_or_dts, KernelOptions opts = {}, bool is_text = false)
      : IommuDriverKernel("mtk_iommu", platform_or_dts, std::move(opts), is_text) {}

  std::shared_ptr<hw::mtk::M4u> m4u() {
    return std::dynamic_pointer_cast<hw::mtk::M4u>(k.platform().model(dev("10205000.iommu")->fwnode())->translator);
  }
  // The larb model of a larb node (the platform keeps it alive).
  hw::mtk::SmiLarb& larb(const std::string& name) {
    static hw::mtk::SmiLarb none("none", 0, hw::mtk::SmiLarb::Layout::nonsec_con);
    auto* l = dynamic_cast<hw::mtk::SmiLarb*>(k.platform().model(dev(name)->fwnode())->mmio.get());
    if (!l) ADD_FAILURE() << name << " has no SMI larb model";
    return l ? *l : none;
  }
};

TEST(MtkIommu, PortIdsLarbsAndOneGroup) {
  MtkKernel s(mt8183());
  ASSERT_TRUE(s.ok);
  Device* m4u = s.dev("10205000.iommu");
  EXPECT_EQ(m4u->state(), DeviceState::bound);
  for (auto [name, ids] : std::vector<std::pair<std::string, std::vector<uint32_t>>>{
           {"14020000.dma", {0x0}}, {"14021000.dma", {0x2}}, {"16020000.dma", {0x20, 0x21}}}) {
    Device* m = s.dev(name);
    EXPECT_EQ(m->state(), DeviceState::bound) << name;
    auto info = s.k.iommu().info(*m);
    ASSERT_TRUE(info) << name;
    EXPECT_EQ(info->iommu, m4u->name());
    EXPECT_EQ(info->stream_ids, ids) << name;
  }
  // Linux mtk_iommu_device_group: every client of one M4U in one group.
  auto g0 = s.k.iommu().info(*s.dev("14020000.dma"))->group;
  EXPECT_EQ(s.k.iommu().info(*s.dev("14021000.dma"))->group, g0);
  EXPECT_EQ(s.k.iommu().info(*s.dev("16020000.dma"))->group, g0);
  // The larbs route the described ports through the M4U.
  EXPECT_EQ(s.larb("14017000.larb").mmu_mask(), 0x5u);
  EXPECT_EQ(s.larb("16010000.larb").mmu_mask(), 0x3u);
  EXPECT_NE(s.regs(m4u).readl(0x000), 0u);  // MMU_PT_BASE_ADDR: the domain's table
}

TEST(MtkIommu, DmaTranslatesThroughTheM4u) {
  MtkKernel s(mt8183());
  ASSERT_TRUE(s.ok);
  for (const char* name : {"14020000.dma", "14021000.dma", "16020000.dma"}) {
    Device* m = s.dev(name);
    s.round_trip(m, 40);
    auto st = s.port(m).stats();
    EXPECT_GT(st.translated, 0u) << name;
    EXPECT_EQ(st.bypassed, 0u) << name;
    EXPECT_EQ(st.escapes, 0u) << name;
  }
  EXPECT_GT(s.m4u()->stats().tlb_misses, 0u);
}

TEST(MtkIommu, StrictUnmapInvalidatesTheTlb) {
  MtkKernel s(mt8183());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("14020000.dma");
  const uint64_t pa = s.filled_page(3);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);
  const uint64_t inv = s.m4u()->stats().invalidations;
  ASSERT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::to_device).ok());
  EXPECT_GT(s.m4u()->stats().invalidations, inv);
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusFault);
}

TEST(MtkIommu, FaultIsReportedForTheDeviceWithLarbAndPort) {
  MtkKernel s(mt8183());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("16020000.dma");  // larb 1: SMI common port 7 on mt8183
  iommu::IommuDomain* dom = s.k.iommu().device_domain(*m);
  ASSERT_NE(dom, nullptr);
  std::mutex mu;
  std::vector<std::pair<Device*, iommu::FaultInfo>> seen;
  dom->set_fault_handler([&](Device* d, const iommu::FaultInfo& f) {
    std::lock_guard g(mu);
    seen.emplace_back(d, f);
  });
  const uint64_t bad = 0x7654'3000;
  EXPECT_EQ(s.transfer(m, bad, 64, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, bad + 0x3000, 64, true), DmaTest::kStatusFault);
  // A copy under the handler's lock: no kernel call runs under it.
  const std::vector<std::pair<Device*, iommu::FaultInfo>> got = [&] {
    std::lock_guard g(mu);
    return seen;
  }();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, m);
  EXPECT_EQ(got[0].second.iova, bad);
  EXPECT_EQ(got[0].second.stream_id, 0x20u);  // MTK_M4U_ID(1, 0), larb remapped back
  EXPECT_FALSE(got[0].second.write);
  EXPECT_NE(got[0].second.reason.find("larb 1 port 0"), std::string::npos) << got[0].second.reason;
  EXPECT_EQ(got[1].second.iova, bad + 0x3000);
  EXPECT_TRUE(got[1].second.write);
  EXPECT_EQ(s.k.iommu().info(*m)->faults, 2u);
}

TEST(MtkIommu, IdentityDomainBypassesThroughTheLarb) {
  KernelOptions o;
  o.iommu.per_device["14020000.dma"] = DomainType::identity;
  MtkKernel s(mt8183(), o);
  ASSERT_TRUE(s.ok);
  Device* id = s.dev("14020000.dma");
  EXPECT_EQ(s.k.iommu().info(*id)->domain, DomainType::identity);
  const uint64_t pa = s.filled_page(5);
  EXPECT_EQ(s.transfer(id, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(id).stats().bypassed, 0u);
  EXPECT_EQ(s.port(id).stats().escapes, 0u);  // sanctioned: identity domain
  EXPECT_FALSE(s.larb("14017000.larb").mmu_enabled(0));
  // One group per M4U (Linux): the whole group takes the identity domain,
  // and each member's larb ports bypass the M4U with it.
  for (auto [name, larb, port] : std::vector<std::tuple<std::string, std::string, unsigned>>{
           {"14021000.dma", "14017000.larb", 2}, {"16020000.dma", "16010000.larb", 0}}) {
    EXPECT_EQ(s.k.iommu().info(*s.dev(name))->domain, DomainType::identity) << name;
    EXPECT_FALSE(s.larb(larb).mmu_enabled(port)) << name;
  }
}

TEST(MtkIommu, BlockedDomainIsAnEmptyTableForTheGroup) {
  KernelOptions o;
  o.iommu.per_device["14020000.dma"] = DomainType::blocked;
  MtkKernel s(mt8183(), o);
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("14020000.dma");
  ASSERT_EQ(m->state(), DeviceState::bound) << s.log();
  EXPECT_EQ(s.k.iommu().info(*m)->domain, DomainType::blocked);
  EXPECT_NE(s.regs(s.dev("10205000.iommu")).readl(0x000), 0u);  // a table, empty
  EXPECT_TRUE(s.larb("14017000.larb").mmu_enabled(0));
  const uint64_t pa = s.filled_page(8);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
}

TEST(MtkIommu, UnbindLeavesTheM4uBlockingAndRebindRestores) {
  MtkKernel s(mt8183());
  ASSERT_TRUE(s.ok);
  Device* m4u = s.dev("10205000.iommu");
  Device* m = s.dev("16020000.dma");
  ASSERT_TRUE(s.k.core().unbind(*m4u).ok());
  s.k.core().process();
  EXPECT_EQ(m4u->state(), DeviceState::unbound);
  EXPECT_NE(m->state(), DeviceState::bound);
  EXPECT_EQ(s.regs(m4u).readl(0x000), 0u);  // no table: every access faults
  EXPECT_EQ(s.larb("16010000.larb").mmu_mask(), 0x3u);  // still routed to the M4U
  const uint64_t pa = s.filled_page(6);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
  ASSERT_TRUE(s.k.core().bind(*m4u, *s.k.core().find_driver("mtk-iommu")).ok());
  s.k.core().process();
  EXPECT_EQ(m->state(), DeviceState::bound);
  s.round_trip(m, 77);
  EXPECT_EQ(s.harness.freed_table_walks(), 0u);
}

// MT8195-like: Linux's banks_portmsk puts PCIe on bank 0 and USB on bank 4
// of the infra IOMMU, each bank its own group and table; the VDO M4U (34-bit
// IOVA, larb 0) beside it.
TEST(MtkIommu, InfraBanksAreGroupsWithTheirOwnTables) {
  MtkKernel s(source_dir() + "/platforms/mt8195-like.dts");
  ASSERT_TRUE(s.ok);
  Device* infra = s.dev("10315000.iommu");
  Device* pcie = s.dev("11230000.dma");
  Device* usb = s.dev("11201000.dma");
  Device* disp = s.dev("1c000000.dma");
  for (Device* m : {pcie, usb, disp}) ASSERT_EQ(m->state(), DeviceState::bound) << m->name();
  EXPECT_NE(s.k.iommu().info(*pcie)->group, s.k.iommu().info(*usb)->group);
  const uint32_t pt0 = s.regs(infra).readl(0x000), pt4 = s.regs(infra).readl(4 * 0x1000 + 0x000);
  EXPECT_NE(pt0, 0u);
  EXPECT_NE(pt4, 0u);
  EXPECT_NE(pt0, pt4);
  for (Device* m : {pcie, usb, disp}) {
    s.round_trip(m, 90);
    EXPECT_GT(s.port(m).stats().translated, 0u) << m->name();
    EXPECT_EQ(s.port(m).stats().escapes, 0u) << m->name();
  }
  EXPECT_EQ(s.larb("1c018000.larb").mmu_mask(), 0x5u);
}

// MT8173 (mt8173.dtsi shapes): larbs without mediatek,larb-id take their
// position in mediatek,larbs, and their enables are the SMI_LARB_MMU_EN
// bitmap at 0xf00 (Linux mtk-smi.c); the M4U uses MMU_INV_SEL at 0x38.
TEST(MtkIommu, Mt8173LarbsByPositionAndTheirEnableBitmap) {
  const std::string dts =
      "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
      " memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x40000000>; };\n"
      " gic: interrupt-controller@10221000 { compatible = \"arm,gic-400\"; #interrupt-cells = <3>;"
      " interrupt-controller; reg = <0x0 0x10221000 0x0 0x1000>; };\n"
      " iommu: iommu@10205000 { compatible = \"mediatek,mt8173-m4u\"; reg = <0x0 0x10205000 0x0 0x1000>;"
      " interrupts = <0 139 8>; mediatek,larbs = <&larb0>, <&larb1>; #iommu-cells = <1>; };\n"
      " smi_common: smi@14022000 { compatible = \"mediatek,mt8173-smi-common\"; reg = <0x0 0x14022000 0x0 0x1000>; };\n"
      " larb0: larb@14021000 { compatible = \"mediatek,mt8173-smi-larb\"; reg = <0x0 0x14021000 0x0 0x1000>;"
      " mediatek,smi = <&smi_common>; };\n"
      " larb1: larb@16010000 { compatible = \"mediatek,mt8173-smi-larb\"; reg = <0x0 0x16010000 0x0 0x1000>;"
      " mediatek,smi = <&smi_common>; };\n"
      " dma@14020000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x14020000 0x0 0x1000>; iommus = <&iommu 0x5>; };\n"
      " dma@16020000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x16020000 0x0 0x1000>;"
      " iommus = <&iommu 0x20>, <&iommu 0x27>; };\n"
      "};\n";
  MtkKernel s(dts, {}, true);
  ASSERT_TRUE(s.ok);
  Device* a = s.dev("14020000.dma");
  Device* b = s.dev("16020000.dma");
  ASSERT_EQ(a->state(), DeviceState::bound) << s.log();
  ASSERT_EQ(b->state(), DeviceState::bound) << s.log();
  EXPECT_EQ(s.regs(s.dev("14021000.larb")).readl(0xf00), 1u << 5);
  EXPECT_EQ(s.regs(s.dev("16010000.larb")).readl(0xf00), (1u << 0) | (1u << 7));
  s.round_trip(a, 31);
  s.round_trip(b, 32);
  EXPECT_EQ(s.port(b).stats().escapes, 0u);
}

TEST(MtkIommu, BadTreesFailClearly) {
  const std::string head =
      "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
      " memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x40000000>; };\n"
      " gic: interrupt-controller@c000000 { compatible = \"arm,gic-v3\"; #interrupt-cells = <3>;"
      " interrupt-controller; reg = <0x0 0xc000000 0x0 0x10000>; };\n";
  // Two cells: Linux's of_xlate wants one.
  {
    const std::string dts = head +
        " iommu: iommu@10205000 { compatible = \"mediatek,mt8183-m4u\"; reg = <0x0 0x10205000 0x0 0x1000>;"
        " interrupts = <0 166 8>; mediatek,larbs = <&larb0>; #iommu-cells = <2>; };\n"
        " larb0: larb@14017000 { compatible = \"mediatek,mt8183-smi-larb\"; reg = <0x0 0x14017000 0x0 0x1000>; };\n"
        "};\n";
    MtkKernel s(dts, {}, true);
    ASSERT_TRUE(s.ok);
    EXPECT_NE(s.dev("10205000.iommu")->state(), DeviceState::bound);
    EXPECT_NE(s.log().find("#iommu-cells must be 1"), std::string::npos) << s.log();
  }
  // A master on a larb the M4U does not list; one on two larbs.
  {
    const std::string dts = head +
        " iommu: iommu@10205000 { compatible = \"mediatek,mt8183-m4u\"; reg = <0x0 0x10205000 0x0 0x1000>;"
        " interrupts = <0 166 8>; mediatek,larbs = <&larb0>; #iommu-cells = <1>; };\n"
        " larb0: larb@14017000 { compatible = \"mediatek,mt8183-smi-larb\"; reg = <0x0 0x14017000 0x0 0x1000>;"
        " mediatek,smi = <&larb0>; };\n"
        " dma@14020000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x14020000 0x0 0x1000>; iommus = <&iommu 0x40>; };\n"
        " dma@14021000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x14021000 0x0 0x1000>;"
        " iommus = <&iommu 0x1>, <&iommu 0x21>; };\n"
        " dma@14022000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x14022000 0x0 0x1000>; iommus = <&iommu 0x3>; };\n"
        "};\n";
    MtkKernel s(dts, {}, true);
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(s.dev("10205000.iommu")->state(), DeviceState::bound);
    EXPECT_NE(s.dev("14020000.dma")->state(), DeviceState::bound);
    EXPECT_NE(s.dev("14021000.dma")->state(), DeviceState::bound);
    EXPECT_EQ(s.dev("14022000.dma")->state(), DeviceState::bound);
    EXPECT_NE(s.log().find("does not list in mediatek,larbs"), std::string::npos) << s.log();
    EXPECT_NE(s.log().find("can only use one larb"), std::string::npos) << s.log();
  }
}

}  // namespace
}  // namespace modiommu
