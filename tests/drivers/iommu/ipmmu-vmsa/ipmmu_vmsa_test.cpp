// ipmmu-vmsa driver against the IPMMU-VMSA model: root and cache IPMMUs,
// micro-TLBs, one group per cache, DMA through root contexts, faults per
// device, identity/blocked domains, unbinding leaving every micro-TLB it
// gave out blocked, and Linux's allowlist policy.
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dmatest_io.h"
#include "iommu_driver_kernel.h"
#include "core/device.h"
#include "hw/dmatest.h"
#include "hw/ipmmu/ipmmu.h"
#include "hw/machine.h"
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

// Gen3 register offsets the tests read back (Linux ipmmu-vmsa.c).
constexpr uint32_t kIMCTR = 0x0, kIMTTLBR0 = 0x10;
uint32_t imuctr(unsigned n) { return n < 32 ? 0x300 + n * 16 : 0x600 + (n - 32) * 16; }

class IpmmuKernel : public test::IommuDriverKernel {
 public:
  explicit IpmmuKernel(const std::string& platform_or_dts, KernelOptions opts = {}, bool is_text = false)
      : IommuDriverKernel("ipmmu_vmsa", platform_or_dts, std::move(opts), is_text) {}
  // The family's 32-bit IOVA aperture.
  void round_trip(Device* m, uint64_t seed) { IommuDriverKernel::round_trip(m, seed, uint64_t{1} << 32); }
  std::shared_ptr<hw::ipmmu::Ipmmu> model(Device* mmu) { return model_of<hw::ipmmu::Ipmmu>(mmu); }
};

std::string gen3() { return source_dir() + "/platforms/rcar-gen3-like.dts"; }
std::string h3() { return source_dir() + "/platforms/rcar-h3-allowlist.dts"; }

TEST(Ipmmu, MastersAttachWithTheirMicroTlbOneGroupPerCache) {
  IpmmuKernel s(gen3());
  ASSERT_TRUE(s.ok);
  Device* ds0 = s.dev("e6740000.iommu");
  Device* hc = s.dev("e6570000.iommu");
  Device* root = s.dev("e67b0000.iommu");
  EXPECT_EQ(root->state(), DeviceState::bound);
  for (auto [name, mmu, utlb] : std::vector<std::tuple<std::string, Device*, uint32_t>>{
           {"10000000.dma", ds0, 0}, {"10001000.dma", ds0, 1}, {"10002000.dma", hc, 2}, {"10003000.dma", hc, 33}}) {
    Device* m = s.dev(name);
    EXPECT_EQ(m->state(), DeviceState::bound) << name;
    auto info = s.k.iommu().info(*m);
    ASSERT_TRUE(info) << name;
    EXPECT_EQ(info->iommu, mmu->name()) << name;
    EXPECT_EQ(info->stream_ids, std::vector<uint32_t>{utlb}) << name;
    EXPECT_EQ(info->domain, DomainType::dma) << name;
    // The micro-TLB is on and points at a root context other than the
    // blocking context 0; that context is on in the root.
    const uint32_t u = s.regs(mmu).readl(imuctr(utlb));
    EXPECT_EQ(u & 1u, 1u) << name;
    const unsigned ctx = (u >> 4) & 0xf;
    EXPECT_NE(ctx, 0u) << name;
    EXPECT_EQ(s.regs(root).readl(ctx * 0x40 + kIMCTR) & 1u, 1u) << name;
    EXPECT_NE(s.regs(root).readl(ctx * 0x40 + kIMTTLBR0), 0u) << name;
  }
  // Linux ipmmu_find_group: one group per IPMMU instance.
  auto grp = [&](const char* n) { return s.k.iommu().info(*s.dev(n))->group; };
  EXPECT_EQ(grp("10000000.dma"), grp("10001000.dma"));
  EXPECT_EQ(grp("10002000.dma"), grp("10003000.dma"));
  EXPECT_NE(grp("10000000.dma"), grp("10002000.dma"));
  // The caches link to their root: it cannot unbind first.
  const auto sup = s.k.core().suppliers(*ds0);
  EXPECT_NE(std::find(sup.begin(), sup.end(), root), sup.end());
}

TEST(Ipmmu, DmaTranslatesThroughRootContexts) {
  IpmmuKernel s(gen3());
  ASSERT_TRUE(s.ok);
  for (const char* name : {"10000000.dma", "10001000.dma", "10002000.dma", "10003000.dma"}) {
    Device* m = s.dev(name);
    s.round_trip(m, 40);
    auto st = s.port(m).stats();
    EXPECT_GT(st.translated, 0u) << name;
    EXPECT_EQ(st.bypassed, 0u) << name;
    EXPECT_EQ(st.escapes, 0u) << name;
  }
  EXPECT_GT(s.model(s.dev("e6740000.iommu"))->stats().tlb_misses, 0u);
  EXPECT_GT(s.model(s.dev("e6570000.iommu"))->stats().tlb_misses, 0u);
}

TEST(Ipmmu, FaultsReachTheDeviceThroughTheRootInterrupt) {
  IpmmuKernel s(gen3());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("10003000.dma");
  iommu::IommuDomain* dom = s.k.iommu().device_domain(*m);
  ASSERT_NE(dom, nullptr);
  std::mutex mu;
  std::vector<iommu::FaultInfo> seen;
  dom->set_fault_handler([&](Device*, const iommu::FaultInfo& f) {
    std::lock_guard g(mu);
    seen.push_back(f);
  });
  const uint64_t bad = 0xdead0000;
  EXPECT_EQ(s.transfer(m, bad, 64, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, bad + 0x3000, 64, true), DmaTest::kStatusFault);
  // A copy taken under the handler's lock: the kernel calls below must not
  // run under it (the handler runs under the IRQ line, which runs under the
  // driver core's lock at probe: the lock order of docs/architecture.md).
  const std::vector<iommu::FaultInfo> got = [&] {
    std::lock_guard g(mu);
    return seen;
  }();
  // IMSTR names the context, not the micro-TLB: both masters of the
  // group (micro-TLBs 2 and 33) hear of each fault.
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].iova, bad);
  EXPECT_EQ(got[1].iova, bad);
  EXPECT_EQ(std::min(got[0].stream_id, got[1].stream_id), 2u);
  EXPECT_EQ(std::max(got[0].stream_id, got[1].stream_id), 33u);
  EXPECT_EQ(got[0].reason, "IMSTR.TF (translation)");
  EXPECT_EQ(got[2].iova, bad + 0x3000);  // IMSTR was cleared: the second one latched
  EXPECT_EQ(s.k.iommu().info(*m)->faults, 2u);
  EXPECT_EQ(s.k.iommu().info(*s.dev("10002000.dma"))->faults, 2u);
  EXPECT_EQ(s.k.iommu().info(*s.dev("10000000.dma"))->faults, 0u);  // another cache, another context
}

TEST(Ipmmu, StrictUnmapFlushesTheTlb) {
  IpmmuKernel s(gen3());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("10000000.dma");
  const uint64_t pa = s.filled_page(3);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);  // cached in the leaf now
  ASSERT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::to_device).ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusFault);
}

TEST(Ipmmu, IdentityTurnsTheMicroTlbOffBlockedFaults) {
  KernelOptions o;
  o.iommu.per_device["10000000.dma"] = DomainType::identity;
  o.iommu.per_device["10002000.dma"] = DomainType::blocked;
  IpmmuKernel s(gen3(), o);
  ASSERT_TRUE(s.ok);
  Device* id = s.dev("10000000.dma");
  Device* blk = s.dev("10002000.dma");
  EXPECT_EQ(s.k.iommu().info(*id)->domain, DomainType::identity);
  EXPECT_EQ(s.regs(s.dev("e6740000.iommu")).readl(imuctr(0)) & 1u, 0u);
  const uint64_t pa = s.filled_page(5);
  EXPECT_EQ(s.transfer(id, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(id).stats().bypassed, 0u);
  EXPECT_EQ(s.port(id).stats().escapes, 0u);  // sanctioned: identity domain
  EXPECT_EQ(s.transfer(blk, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(blk).stats().bypassed, 0u);
}

TEST(Ipmmu, UnbindingTheRootLeavesEveryMicroTlbBlockingAndRebindRestores) {
  IpmmuKernel s(gen3());
  ASSERT_TRUE(s.ok);
  Device* root = s.dev("e67b0000.iommu");
  Device* hc = s.dev("e6570000.iommu");
  Device* m = s.dev("10003000.dma");
  s.round_trip(m, 8);
  ASSERT_TRUE(s.k.core().unbind(*root).ok());
  s.k.core().process();
  EXPECT_EQ(root->state(), DeviceState::unbound);
  EXPECT_NE(hc->state(), DeviceState::bound);  // its link unbound the cache first
  EXPECT_NE(m->state(), DeviceState::bound);   // and the master before it
  // Micro-TLB 33 stays on, on context 0, which stays on with empty tables.
  const uint32_t u = s.regs(hc).readl(imuctr(33));
  EXPECT_EQ(u & 1u, 1u);
  EXPECT_EQ((u >> 4) & 0xf, 0u);
  EXPECT_EQ(s.regs(root).readl(kIMCTR) & 1u, 1u);
  for (unsigned c = 1; c < 8; ++c) EXPECT_EQ(s.regs(root).readl(c * 0x40 + kIMCTR) & 1u, 0u) << c;
  // The master's DMA (programmed behind the driver's back) faults.
  const uint64_t pa = s.filled_page(6);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
  // A micro-TLB no master was given stays as reset left it.
  EXPECT_EQ(s.regs(hc).readl(imuctr(5)), 0u);
  ASSERT_TRUE(s.k.core().bind(*root, *s.k.core().find_driver("ipmmu-vmsa")).ok());
  s.k.core().process();
  EXPECT_EQ(hc->state(), DeviceState::bound);
  EXPECT_EQ(m->state(), DeviceState::bound);
  s.round_trip(m, 77);
}

TEST(Ipmmu, AllowlistLeavesOutWhatLinuxLeavesOut) {
  IpmmuKernel s(h3());
  ASSERT_TRUE(s.ok);
  Device* mmc = s.dev("ee100000.mmc");
  Device* dmac = s.dev("e7300000.dma-controller");
  ASSERT_EQ(mmc->state(), DeviceState::bound);
  ASSERT_EQ(dmac->state(), DeviceState::bound);
  EXPECT_EQ(s.k.iommu().info(*mmc)->iommu, "e7740000.iommu");
  auto info = s.k.iommu().info(*dmac);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->iommu, "");
  EXPECT_FALSE(info->domain.has_value());
  EXPECT_EQ(info->left_out, "ipmmu-vmsa: r8a7795 device not in the allowlist");
  EXPECT_EQ(s.k.iommu().device_domain(*dmac), nullptr);
  // Its micro-TLB is never turned on: DMA untranslated, sanctioned.
  EXPECT_EQ(s.regs(s.dev("e7740000.iommu")).readl(imuctr(0)), 0u);
  const uint64_t pa = s.filled_page(9);
  auto addr = s.k.dma().map_single(*dmac, pa, 4096, DmaDirection::bidirectional);
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(*addr, pa);  // dma-direct
  EXPECT_EQ(s.transfer(dmac, *addr, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(dmac).stats().bypassed, 0u);
  EXPECT_EQ(s.port(dmac).stats().escapes, 0u);
  s.round_trip(mmc, 10);
  EXPECT_EQ(s.port(mmc).stats().bypassed, 0u);
}

// A tree around `body` (nodes under the root; the GIC has phandle gic).
std::string tree_with(const std::string& body) {
  return "/dts-v1/;\n/ {\n compatible = \"modiommu,test\"; #address-cells = <2>; #size-cells = <2>;"
         " interrupt-parent = <&gic>;\n"
         " memory@48000000 { device_type = \"memory\"; reg = <0x0 0x48000000 0x0 0x40000000>; };\n"
         " gic: interrupt-controller@f1010000 { compatible = \"arm,gic-v3\"; #interrupt-cells = <3>;"
         " interrupt-controller; reg = <0x0 0xf1010000 0x0 0x10000>; };\n" +
         body + "};\n";
}

// Gen2 (renesas,ipmmu-vmsa): its own root, registers in the non-secure
// bank at +0x800, Linux's one context (0); context 1 blocks.
TEST(Ipmmu, Gen2InstanceUsesTheNonSecureBank) {
  IpmmuKernel s(tree_with(
                    " ipmmu: iommu@e6740000 { compatible = \"renesas,ipmmu-r8a7790\", \"renesas,ipmmu-vmsa\";"
                    " reg = <0x0 0xe6740000 0x0 0x1000>; interrupts = <0 198 4>; #iommu-cells = <1>; };\n"
                    " dma@10000000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x10000000 0x0 0x1000>;"
                    " iommus = <&ipmmu 5>; };\n"),
                {}, true);
  ASSERT_TRUE(s.ok);
  Device* mmu = s.dev("e6740000.iommu");
  Device* m = s.dev("10000000.dma");
  ASSERT_EQ(m->state(), DeviceState::bound) << s.log();
  const uint32_t u = s.regs(mmu).readl(0x800 + imuctr(5));
  EXPECT_EQ(u & 1u, 1u);
  EXPECT_EQ((u >> 4) & 0xf, 0u);
  EXPECT_EQ(s.regs(mmu).readl(imuctr(5)), 0u);  // the secure bank is not used
  s.round_trip(m, 21);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  ASSERT_TRUE(s.k.core().unbind(*mmu).ok());
  s.k.core().process();
  EXPECT_EQ((s.regs(mmu).readl(0x800 + imuctr(5)) >> 4) & 0xf, 1u);
  EXPECT_EQ(s.transfer(m, s.filled_page(2), 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
}

// Gen4 (renesas,rcar-gen4-ipmmu-vmsa): contexts from 0x10000 with a 0x1040
// stride, micro-TLBs from 0x3000, micro-TLB 40 in the second range.
TEST(Ipmmu, Gen4LayoutAndSecondMicroTlbRange) {
  IpmmuKernel s(tree_with(
                    " ipmmu_mm: iommu@eefc0000 { compatible = \"renesas,ipmmu-r8a779f0\","
                    " \"renesas,rcar-gen4-ipmmu-vmsa\"; reg = <0x0 0xeefc0000 0x0 0x20000>;"
                    " interrupts = <0 210 4>, <0 211 4>; #iommu-cells = <1>; };\n"
                    " ipmmu_ds0: iommu@eed00000 { compatible = \"renesas,ipmmu-r8a779f0\","
                    " \"renesas,rcar-gen4-ipmmu-vmsa\"; reg = <0x0 0xeed00000 0x0 0x20000>;"
                    " renesas,ipmmu-main = <&ipmmu_mm 0>; #iommu-cells = <1>; };\n"
                    " dma@10000000 { compatible = \"modiommu,dmatest\"; reg = <0x0 0x10000000 0x0 0x1000>;"
                    " iommus = <&ipmmu_ds0 40>; };\n"),
                {}, true);
  ASSERT_TRUE(s.ok);
  Device* root = s.dev("eefc0000.iommu");
  Device* ds0 = s.dev("eed00000.iommu");
  Device* m = s.dev("10000000.dma");
  ASSERT_EQ(m->state(), DeviceState::bound) << s.log();
  const uint32_t u = s.regs(ds0).readl(0x3000 + imuctr(40));
  EXPECT_EQ(u & 1u, 1u);
  const unsigned ctx = (u >> 4) & 0xf;
  EXPECT_NE(ctx, 0u);
  const uint32_t ctx_off = 0x10000 + (ctx > 7 ? 0x600 : 0) + ctx * 0x1040;
  EXPECT_EQ(s.regs(root).readl(ctx_off + kIMCTR) & 1u, 1u);
  EXPECT_NE(s.regs(root).readl(ctx_off + kIMTTLBR0), 0u);
  s.round_trip(m, 31);
  EXPECT_GT(s.port(m).stats().translated, 0u);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
}

}  // namespace
}  // namespace modiommu
