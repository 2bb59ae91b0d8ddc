// arm-smmu (SMMU v1/v2/MMU-500) driver against the SMMUv2 model: generic
// binding with masks and stream-match-mask, stream-map entry sharing and
// conflicts, DMA through context banks, faults, identity/blocked domains,
// unbind leaving the hardware aborting, SMMUv1 (AArch32 LPAE) banks, the
// legacy binding's error cases and a mixed tree.
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "dmatest_io.h"
#include "iommu_driver_kernel.h"
#include "core/device.h"
#include "hw/dmatest.h"
#include "hw/machine.h"
#include "hw/smmuv2/smmuv2.h"
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

// Register offsets the tests read back (IHI 0062 10.6).
constexpr uint32_t kSCR0 = 0x0, kSMR = 0x800, kS2CR = 0xc00;

std::string irqs(int first, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += fmt::format("{}<0 {} 4>", i ? ", " : "", first + i);
  return out;
}

// A tree around `body` (nodes under the root; the GIC has phandle gic).
std::string tree_with(const std::string& body) {
  return "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
         " memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x40000000>; };\n"
         " gic: interrupt-controller@8000000 { compatible = \"arm,gic-v3\"; #interrupt-cells = <3>;"
         " #address-cells = <0>; interrupt-controller; reg = <0x0 0x8000000 0x0 0x10000>; };\n" +
         body + "};\n";
}

std::string smmu_node(const std::string& label, uint64_t base, const std::string& compat, const std::string& extra,
                      int ctx_irqs = 8) {
  return fmt::format(" {}: iommu@{:x} {{ compatible = {}; reg = <0x0 {:#x} 0x0 0x10000>; #global-interrupts = <1>;"
                     " interrupts = {}; {} }};\n",
                     label, base, compat, base, irqs(int(base >> 20) % 400 + 32, ctx_irqs + 1), extra);
}

std::string master(uint64_t base, const std::string& extra) {
  return fmt::format(" m{:x}: dma@{:x} {{ compatible = \"modiommu,dmatest\"; reg = <0x0 {:#x} 0x0 0x1000>; {} }};\n",
                     base, base, base, extra);
}

class SmmuKernel : public test::IommuDriverKernel {
 public:
  explicit SmmuKernel(const std::string& platform_or_dts, KernelOptions opts = {}, bool is_text = false)
      : IommuDriverKernel("arm_smmu", platform_or_dts, std::move(opts), is_text) {}
  std::shared_ptr<hw::smmuv2::SmmuV2> model(Device* smmu) { return model_of<hw::smmuv2::SmmuV2>(smmu); }
  // SMR index holding (id, mask), -1 if none (valid, 15-bit IDs).
  int find_smr(Device* smmu, uint32_t id, uint32_t mask) {
    IoMem io = regs(smmu);
    for (int i = 0; i < 127; ++i) {
      const uint32_t v = io.readl(kSMR + 4 * uint32_t(i));
      if ((v >> 31) && (v & 0x7fff) == id && ((v >> 16) & 0x7fff) == mask) return i;
    }
    return -1;
  }
};

std::string mmu500() { return source_dir() + "/platforms/virt-mmu500.dts"; }

TEST(ArmSmmu, GenericBindingProgramsStreamMatchEntries) {
  SmmuKernel s(mmu500());
  ASSERT_TRUE(s.ok);
  Device* smmu0 = s.dev("9100000.iommu");
  Device* smmu1 = s.dev("9200000.iommu");
  for (auto [name, smmu, sid] : std::vector<std::tuple<std::string, Device*, uint32_t>>{
           {"10000000.dma", smmu0, 0x400}, {"10001000.dma", smmu0, 0x420},
           {"10002000.dma", smmu1, 0x10}, {"10003000.dma", smmu1, 0x21}}) {
    Device* m = s.dev(name);
    EXPECT_EQ(m->state(), DeviceState::bound) << name;
    auto info = s.k.iommu().info(*m);
    ASSERT_TRUE(info) << name;
    EXPECT_EQ(info->iommu, smmu->name()) << name;
    EXPECT_EQ(info->stream_ids, std::vector<uint32_t>{sid}) << name;
  }
  // <sid mask> specifiers and the SMMU's stream-match-mask reach the SMRs.
  EXPECT_GE(s.find_smr(smmu0, 0x400, 0), 0);
  EXPECT_GE(s.find_smr(smmu0, 0x420, 0xf), 0);
  EXPECT_GE(s.find_smr(smmu1, 0x10, 0x7c00), 0);
  EXPECT_GE(s.find_smr(smmu1, 0x21, 0x7c00), 0);
  // Enabled, unmatched streams fault, nothing bypasses.
  const uint32_t scr0 = s.regs(smmu0).readl(kSCR0);
  EXPECT_EQ(scr0 & 1u, 0u);           // CLIENTPD clear
  EXPECT_NE(scr0 & (1u << 10), 0u);   // USFCFG
  // Each master has its own group, hence its own context bank.
  EXPECT_NE(s.k.iommu().info(*s.dev("10000000.dma"))->group, s.k.iommu().info(*s.dev("10001000.dma"))->group);
}

TEST(ArmSmmu, DmaTranslatesThroughContextBanks) {
  SmmuKernel s(mmu500());
  ASSERT_TRUE(s.ok);
  for (const char* name : {"10000000.dma", "10001000.dma", "10002000.dma", "10003000.dma"}) {
    Device* m = s.dev(name);
    s.round_trip(m, 40);
    auto st = s.port(m).stats();
    EXPECT_GT(st.translated, 0u) << name;
    EXPECT_EQ(st.bypassed, 0u) << name;
    EXPECT_EQ(st.escapes, 0u) << name;
  }
  EXPECT_GT(s.model(s.dev("9100000.iommu"))->stats().tlb_misses, 0u);
}

TEST(ArmSmmu, MaskedStreamIdsShareTheEntryOthersFault) {
  SmmuKernel s(mmu500());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("10001000.dma");  // <0x420 0xf>
  auto tr = s.k.platform().model(s.dev("9100000.iommu")->fwnode())->translator;
  const uint64_t pa = s.filled_page(9);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  s.port(m).set_translator(tr, 0x42f);  // inside the mask
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);
  s.port(m).set_translator(tr, 0x430);  // outside: unidentified stream
  const uint64_t gf = s.model(s.dev("9100000.iommu"))->stats().global_faults;
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.model(s.dev("9100000.iommu"))->stats().global_faults, gf + 1);
  EXPECT_NE(s.log().find("unidentified stream (USF)"), std::string::npos);
  s.port(m).set_translator(tr, 0x420);
}

TEST(ArmSmmu, UnmappedIovaFaultIsReportedWithItsAddress) {
  SmmuKernel s(mmu500());
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
  const uint64_t bad = 0x765432000;
  EXPECT_EQ(s.transfer(m, bad, 64, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, bad + 0x3000, 64, true), DmaTest::kStatusFault);
  // A copy under the handler's lock: no kernel call runs under it.
  const std::vector<iommu::FaultInfo> got = [&] {
    std::lock_guard g(mu);
    return seen;
  }();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].iova, bad);
  EXPECT_EQ(got[0].stream_id, 0x21u);
  EXPECT_FALSE(got[0].write);
  EXPECT_EQ(got[0].reason, "FSR.TF (translation)");
  EXPECT_EQ(got[1].iova, bad + 0x3000);
  EXPECT_TRUE(got[1].write);
  EXPECT_EQ(s.k.iommu().info(*m)->faults, 2u);
}

TEST(ArmSmmu, StrictUnmapInvalidatesTheTlb) {
  SmmuKernel s(mmu500());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("10000000.dma");
  const uint64_t pa = s.filled_page(3);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);  // now in the bank's TLB
  ASSERT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::to_device).ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusFault);
}

TEST(ArmSmmu, IdentityDomainBypassesBlockedFaults) {
  KernelOptions o;
  o.iommu.per_device["10000000.dma"] = DomainType::identity;
  o.iommu.per_device["10001000.dma"] = DomainType::blocked;
  SmmuKernel s(mmu500(), o);
  ASSERT_TRUE(s.ok);
  Device* id = s.dev("10000000.dma");
  Device* blk = s.dev("10001000.dma");
  EXPECT_EQ(s.k.iommu().info(*id)->domain, DomainType::identity);
  const uint64_t pa = s.filled_page(5);
  EXPECT_EQ(s.transfer(id, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(id).stats().bypassed, 0u);
  EXPECT_EQ(s.port(id).stats().escapes, 0u);  // sanctioned: identity domain
  EXPECT_EQ(s.transfer(blk, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(blk).stats().bypassed, 0u);
}

TEST(ArmSmmu, UnbindLeavesHardwareAbortingAndRebindRestores) {
  SmmuKernel s(mmu500());
  ASSERT_TRUE(s.ok);
  Device* smmu = s.dev("9100000.iommu");
  Device* m = s.dev("10000000.dma");
  ASSERT_TRUE(s.k.core().unbind(*smmu).ok());
  s.k.core().process();
  EXPECT_EQ(smmu->state(), DeviceState::unbound);
  EXPECT_NE(m->state(), DeviceState::bound);  // its link unbound it first
  const uint32_t scr0 = s.regs(smmu).readl(kSCR0);
  EXPECT_EQ(scr0 & 1u, 0u);          // not CLIENTPD: that would bypass
  EXPECT_NE(scr0 & (1u << 10), 0u);  // unmatched streams fault
  EXPECT_EQ(s.find_smr(smmu, 0x400, 0), -1);
  // The master's DMA (programmed behind the driver's back) aborts.
  const uint64_t pa = s.filled_page(6);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
  ASSERT_TRUE(s.k.core().bind(*smmu, *s.k.core().find_driver("arm-smmu")).ok());
  s.k.core().process();
  EXPECT_EQ(m->state(), DeviceState::bound);
  s.round_trip(m, 77);
}

TEST(ArmSmmu, SharedStreamMatchEntryMeansOneGroupPartialOverlapIsRefused) {
  const std::string dts = tree_with(
      smmu_node("smmu", 0x9100000, "\"arm,mmu-500\"", "#iommu-cells = <2>;") +
      master(0x10000000, "iommus = <&smmu 0x100 0xf>;") +
      master(0x10001000, "iommus = <&smmu 0x104 0x3>;") +  // inside 0x100/0xf: shares the entry
      master(0x10002000, "iommus = <&smmu 0x108 0x30>;"));  // overlaps 0x100/0xf partly
  SmmuKernel s(dts, {}, true);
  ASSERT_TRUE(s.ok);
  Device* a = s.dev("10000000.dma");
  Device* b = s.dev("10001000.dma");
  Device* c = s.dev("10002000.dma");
  ASSERT_EQ(a->state(), DeviceState::bound);
  ASSERT_EQ(b->state(), DeviceState::bound);
  EXPECT_EQ(s.k.iommu().info(*a)->group, s.k.iommu().info(*b)->group);
  EXPECT_EQ(s.k.iommu().device_domain(*a), s.k.iommu().device_domain(*b));
  EXPECT_EQ(c->state(), DeviceState::failed);
  EXPECT_NE(s.log().find("stream match conflict"), std::string::npos) << s.log();
  s.round_trip(b, 11);
  // Releasing one sharer keeps the entry for the other.
  ASSERT_TRUE(s.k.core().unbind(*a).ok());
  s.k.core().process();
  EXPECT_GE(s.find_smr(s.dev("9100000.iommu"), 0x100, 0xf), 0);
  s.round_trip(b, 12);
}

TEST(ArmSmmu, ContextBanksRunOutWithAClearError) {
  std::string body = smmu_node("smmu", 0x9100000, "\"arm,mmu-500\"", "#iommu-cells = <1>;", 2);
  for (int i = 0; i < 3; ++i) body += master(0x10000000 + 0x1000 * uint64_t(i), fmt::format("iommus = <&smmu {}>;", i));
  SmmuKernel s(tree_with(body), {}, true);
  ASSERT_TRUE(s.ok);
  int bound = 0, failed = 0;
  for (int i = 0; i < 3; ++i) {
    Device* m = s.dev(fmt::format("{:x}.dma", 0x10000000 + 0x1000 * i));
    bound += m->state() == DeviceState::bound;
    failed += m->state() == DeviceState::failed;
  }
  EXPECT_EQ(bound, 2);
  EXPECT_EQ(failed, 1);
  EXPECT_NE(s.log().find("all 2 context banks are in use"), std::string::npos) << s.log();
}

TEST(ArmSmmu, SmmuV1BanksWalkAArch32LpaeTables) {
  const std::string dts = tree_with(smmu_node("smmu", 0x9100000, "\"arm,mmu-401\", \"arm,smmu-v1\"",
                                              "#iommu-cells = <1>;", 1) +
                                    master(0x10000000, "iommus = <&smmu 0x7>;"));
  SmmuKernel s(dts, {}, true);
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("10000000.dma");
  ASSERT_EQ(m->state(), DeviceState::bound) << s.log();
  EXPECT_NE(s.log().find("SMMUv1 enabled"), std::string::npos);
  s.round_trip(m, 21);
  EXPECT_GT(s.port(m).stats().translated, 0u);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
}

TEST(ArmSmmu, BadNodesFailProbeWithTheReason) {
  const std::string dts = tree_with(
      // 8 context banks need 64 KiB of registers.
      " smmu0: iommu@9100000 { compatible = \"arm,mmu-500\"; reg = <0x0 0x9100000 0x0 0x8000>;"
      " #global-interrupts = <1>; interrupts = " + irqs(40, 9) + "; #iommu-cells = <1>; };\n" +
      " smmu1: iommu@9200000 { compatible = \"arm,mmu-500\"; reg = <0x0 0x9200000 0x0 0x10000>;"
      " interrupts = " + irqs(60, 9) + "; #iommu-cells = <1>; };\n" +
      smmu_node("smmu2", 0x9300000, "\"arm,mmu-500\"", "#iommu-cells = <3>;"));
  SmmuKernel s(dts, {}, true);
  ASSERT_TRUE(s.ok);
  for (const char* n : {"9100000.iommu", "9200000.iommu", "9300000.iommu"})
    EXPECT_EQ(s.dev(n)->state(), DeviceState::failed) << n;
  const std::string log = s.log();
  EXPECT_NE(log.find("IDR1 describes 0x10000 bytes of registers but reg maps 0x8000"), std::string::npos) << log;
  EXPECT_NE(log.find("missing #global-interrupts"), std::string::npos) << log;
  EXPECT_NE(log.find("#iommu-cells is 3"), std::string::npos) << log;
}

TEST(ArmSmmu, MixedTreeWarnsAndMasterNamedTwiceIsRefused) {
  SmmuKernel s(source_dir() + "/tests/scenarios/data/mixed-bindings.dts");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.dev("10000000.dma")->state(), DeviceState::bound);
  EXPECT_EQ(s.dev("10001000.dma")->state(), DeviceState::bound);
  EXPECT_EQ(s.dev("10002000.dma")->state(), DeviceState::failed);
  const std::string log = s.log();
  EXPECT_NE(log.find("this tree mixes arm-smmu bindings"), std::string::npos) << log;
  EXPECT_NE(log.find("a master uses one arm-smmu binding, not both"), std::string::npos) << log;
}

TEST(ArmSmmu, LegacyMastersWaitForEveryLegacySmmu) {
  const std::string dts = tree_with(
      smmu_node("a", 0x9100000, "\"arm,smmu-v2\"", "mmu-masters = <&m10000000 0x10>;") +
      smmu_node("b", 0x9200000, "\"arm,smmu-v2\"", "mmu-masters = <&m10001000 0x20 0x21>;") +
      // A third legacy SMMU whose probe fails for good (registers too small):
      // once it has failed, the barrier no longer waits for it.
      " c: iommu@9300000 { compatible = \"arm,smmu-v2\"; reg = <0x0 0x9300000 0x0 0x1000>;"
      " #global-interrupts = <1>; interrupts = " + irqs(200, 9) + "; mmu-masters; };\n" +
      master(0x10000000, "#stream-id-cells = <1>;") + master(0x10001000, "#stream-id-cells = <2>;"));
  auto t = of::Tree::from_dts(dts, "legacy.dts");
  ASSERT_TRUE(t.ok());
  KernelOptions o;
  Kernel k(o);
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(std::move(t).value()).ok());
  auto drv = std::make_unique<SimpleDriver>();
  drv->name = "dmatest";
  drv->bus = &k.platform_bus();
  drv->of_match = {"modiommu,dmatest"};
  SimpleDriver* raw = drv.get();
  k.own_driver(std::move(drv));
  // The SMMUs unbound by hand, then bound one at a time.
  Device *a = nullptr, *b = nullptr, *ma = nullptr, *mb = nullptr;
  for (Device* d : k.core().devices()) {
    if (d->name() == "9100000.iommu") a = d;
    if (d->name() == "9200000.iommu") b = d;
    if (d->name() == "10000000.dma") ma = d;
    if (d->name() == "10001000.dma") mb = d;
  }
  ASSERT_TRUE(a && b && ma && mb);
  ASSERT_TRUE(k.core().unbind(*b).ok());
  k.core().process();
  ASSERT_TRUE(k.core().register_driver(raw).ok());
  k.boot_complete();
  EXPECT_EQ(ma->state(), DeviceState::deferred);
  EXPECT_NE(k.core().reason(*ma).find("9200000.iommu"), std::string::npos) << k.core().reason(*ma);
  EXPECT_EQ(mb->state(), DeviceState::deferred);
  ASSERT_TRUE(k.core().bind(*b, *k.core().find_driver("arm-smmu")).ok());
  k.core().process();
  EXPECT_EQ(ma->state(), DeviceState::bound);
  EXPECT_EQ(mb->state(), DeviceState::bound);
  auto info = k.iommu().info(*mb);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->iommu, "9200000.iommu");
  EXPECT_EQ(info->stream_ids, (std::vector<uint32_t>{0x20, 0x21}));
  Device* c = k.core().find_device("9300000.iommu");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->state(), DeviceState::failed);
}

}  // namespace
}  // namespace modiommu
