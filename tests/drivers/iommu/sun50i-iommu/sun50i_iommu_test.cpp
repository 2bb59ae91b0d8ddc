// sun50i-iommu driver against the sun50i IOMMU model on the bundled
// H6-like platform and small trees: master IDs from the cell, one group per
// IOMMU, DMA through the two-level tables, faults reported per device with
// the master's ID, identity through the bypass bits, blocked domains,
// unbind leaving the IOMMU blocking (never bypassing), #iommu-cells checks.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/device.h"
#include "dmatest_io.h"
#include "hw/dmatest.h"
#include "hw/sun50i/regs.h"
#include "hw/sun50i/sun50i_iommu.h"
#include "iommu/iommu.h"
#include "iommu_driver_kernel.h"
#include "kernel/kernel.h"
#include "of/tree.h"
#include "test_paths.h"

namespace modiommu {
namespace {

using hw::DmaTest;
using iommu::DmaDirection;
using iommu::DomainType;
namespace hs = hw::sun50i;

class SunKernel : public test::IommuDriverKernel {
 public:
  explicit SunKernel(const std::string& platform_or_dts, KernelOptions opts = {}, bool is_text = false)
      : IommuDriverKernel("sun50i_iommu", platform_or_dts, std::move(opts), is_text) {}
  void round_trip(Device* m, uint64_t seed) { IommuDriverKernel::round_trip(m, seed, uint64_t{1} << 32); }
  std::shared_ptr<hs::Sun50iIommu> model(Device* iommu) { return model_of<hs::Sun50iIommu>(iommu); }
};

std::string h6() { return test_paths::source_dir() + "/platforms/sun50i-h6-like.dts"; }

std::string tree_with(const std::string& body) {
  return "/dts-v1/;\n/ {\n #address-cells = <1>; #size-cells = <1>; interrupt-parent = <&gic>;\n"
         " memory@40000000 { device_type = \"memory\"; reg = <0x40000000 0x10000000>; };\n"
         " gic: interrupt-controller@3021000 { compatible = \"arm,gic-400\"; #interrupt-cells = <3>;"
         " interrupt-controller; reg = <0x3021000 0x1000>; };\n" +
         body + "};\n";
}

TEST(Sun50iIommu, MasterIdsFromTheCellOneGroupPerIommu) {
  SunKernel s(h6());
  ASSERT_TRUE(s.ok);
  Device* iommu = s.dev("30f0000.iommu");
  auto model = s.model(iommu);
  ASSERT_TRUE(model);
  EXPECT_TRUE(model->enabled());
  EXPECT_EQ(model->bypass(), 0u);
  EXPECT_EQ(model->read(hs::IOMMU_INT_ENABLE_REG, 4), hs::INT_MASK);
  EXPECT_NE(model->read(hs::IOMMU_TTB_REG, 4), 0u);
  Device* a = s.dev("1000000.dma");
  Device* b = s.dev("1001000.dma");
  EXPECT_EQ(s.k.iommu().info(*a)->iommu, iommu->name());
  EXPECT_EQ(s.k.iommu().info(*a)->stream_ids, std::vector<uint32_t>{0});
  EXPECT_EQ(s.k.iommu().info(*b)->stream_ids, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(s.k.iommu().info(*a)->group, s.k.iommu().info(*b)->group);
  EXPECT_EQ(s.k.iommu().device_domain(*a), s.k.iommu().device_domain(*b));
  EXPECT_NE(s.k.iommu().info(*a)->group, s.k.iommu().info(*s.dev("1003000.dma"))->group);
}

TEST(Sun50iIommu, DmaTranslatesForEveryMaster) {
  SunKernel s(h6());
  ASSERT_TRUE(s.ok);
  for (const char* name : {"1000000.dma", "1001000.dma", "1002000.dma", "1003000.dma"}) {
    Device* m = s.dev(name);
    s.round_trip(m, 40);
    auto st = s.port(m).stats();
    EXPECT_GT(st.translated, 0u) << name;
    EXPECT_EQ(st.bypassed, 0u) << name;
    EXPECT_EQ(st.escapes, 0u) << name;
  }
  EXPECT_GT(s.model(s.dev("30f0000.iommu"))->stats().tlb_misses, 0u);
  EXPECT_GT(s.model(s.dev("30e0000.iommu"))->stats().tlb_misses, 0u);
}

TEST(Sun50iIommu, UnmapFlushesTheTlb) {
  SunKernel s(h6());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("1002000.dma");
  const uint64_t pa = test::filled_page(s.k, 3);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);  // now in the TLB
  EXPECT_GT(s.model(s.dev("30f0000.iommu"))->tlb_size(), 0u);
  ASSERT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::to_device).ok());
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusFault);
}

TEST(Sun50iIommu, FaultsAreReportedToTheMasterThatFaulted) {
  SunKernel s(h6());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("1002000.dma");  // master 3
  Device* other = s.dev("1000000.dma");
  iommu::IommuDomain* dom = s.k.iommu().device_domain(*m);
  ASSERT_NE(dom, nullptr);
  std::mutex mu;
  std::vector<std::pair<std::string, iommu::FaultInfo>> seen;
  dom->set_fault_handler([&](Device* d, const iommu::FaultInfo& f) {
    std::lock_guard g(mu);
    seen.emplace_back(d ? d->name() : "", f);
  });
  const uint64_t bad = 0xe5432000;
  EXPECT_EQ(s.transfer(m, bad, 64, false), DmaTest::kStatusFault);
  // A read-only mapping written: a permission fault, its direction known.
  const uint64_t pa = test::filled_page(s.k, 4);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.transfer(m, *iova, 64, true), DmaTest::kStatusFault);
  {
    std::lock_guard g(mu);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].first, m->name());
    EXPECT_EQ(seen[0].second.iova, bad);
    EXPECT_EQ(seen[0].second.stream_id, 3u);
    EXPECT_FALSE(seen[0].second.write);
    EXPECT_EQ(seen[1].first, m->name());
    EXPECT_EQ(seen[1].second.iova, *iova);
    EXPECT_TRUE(seen[1].second.write);
  }
  EXPECT_EQ(s.k.iommu().info(*m)->faults, 2u);
  EXPECT_EQ(s.k.iommu().info(*other)->faults, 0u);
  auto model = s.model(s.dev("30f0000.iommu"));
  EXPECT_EQ(model->read(hs::IOMMU_INT_STA_REG, 4), 0u);  // handled and cleared
  EXPECT_EQ(s.transfer(m, *iova, 4096, false), DmaTest::kStatusDone);
  s.round_trip(other, 9);
}

TEST(Sun50iIommu, IdentitySetsTheBypassBitsBlockedFaults) {
  KernelOptions o;
  o.iommu.per_device["1003000.dma"] = DomainType::identity;
  SunKernel s(h6(), o);
  ASSERT_TRUE(s.ok);
  Device* id = s.dev("1003000.dma");
  EXPECT_EQ(s.k.iommu().info(*id)->domain, DomainType::identity);
  auto model = s.model(s.dev("30e0000.iommu"));
  EXPECT_TRUE(model->enabled());  // other master IDs stay blocked
  EXPECT_EQ(model->bypass(), 1u << 5);
  EXPECT_EQ(model->translate(4, 0x1000, hw::Access::read).kind, hw::TranslateOutcome::Kind::faulted);
  const uint64_t pa = test::filled_page(s.k, 5);
  EXPECT_EQ(s.transfer(id, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(id).stats().bypassed, 0u);
  EXPECT_EQ(s.port(id).stats().escapes, 0u);  // sanctioned: identity domain
}

TEST(Sun50iIommu, BlockedDomainFaults) {
  KernelOptions o;
  o.iommu.per_device["1003000.dma"] = DomainType::blocked;
  SunKernel s(h6(), o);
  ASSERT_TRUE(s.ok);
  Device* blk = s.dev("1003000.dma");
  const uint64_t pa = test::filled_page(s.k, 5);
  EXPECT_EQ(s.transfer(blk, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(blk).stats().bypassed, 0u);
  EXPECT_EQ(s.model(s.dev("30e0000.iommu"))->bypass(), 0u);
}

TEST(Sun50iIommu, UnbindLeavesTheIommuBlockingAndRebindRestores) {
  SunKernel s(h6());
  ASSERT_TRUE(s.ok);
  Device* iommu = s.dev("30f0000.iommu");
  Device* m = s.dev("1001000.dma");
  ASSERT_TRUE(s.k.core().unbind(*iommu).ok());
  s.k.core().process();
  EXPECT_EQ(iommu->state(), DeviceState::unbound);
  EXPECT_NE(m->state(), DeviceState::bound);  // its link unbound it first
  auto model = s.model(iommu);
  EXPECT_TRUE(model->enabled());  // disabled would pass DMA untranslated
  EXPECT_EQ(model->bypass(), 0u);
  EXPECT_EQ(model->read(hs::IOMMU_INT_ENABLE_REG, 4), 0u);
  const uint64_t pa = test::filled_page(s.k, 6);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusFault);
  EXPECT_EQ(s.transfer(m, pa, 4096, true), DmaTest::kStatusFault);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().escapes, 0u);
  ASSERT_TRUE(s.k.core().bind(*iommu, *s.k.core().find_driver("sun50i-iommu")).ok());
  s.k.core().process();
  EXPECT_EQ(m->state(), DeviceState::bound);
  s.round_trip(m, 77);
}

TEST(Sun50iIommu, ResetStateBypassIsCountedAsAnEscape) {
  // A driver that left the IOMMU disabled (its reset state) would let DMA
  // through untranslated: the accounting must see it.
  SunKernel s(h6());
  ASSERT_TRUE(s.ok);
  Device* m = s.dev("1000000.dma");
  s.regs(s.dev("30f0000.iommu")).writel(hs::IOMMU_ENABLE_REG, 0);
  const uint64_t pa = test::filled_page(s.k, 8);
  EXPECT_EQ(s.transfer(m, pa, 4096, false), DmaTest::kStatusDone);
  EXPECT_GT(s.port(m).stats().bypassed, 0u);
  EXPECT_GT(s.port(m).stats().escapes, 0u);
}

TEST(Sun50iIommu, IommuCellsMustBeOneAndIdsInRange) {
  SunKernel bad(tree_with(" iommu: iommu@30f0000 { compatible = \"allwinner,sun50i-h6-iommu\"; reg = <0x30f0000 0x10000>;"
                          " interrupts = <0 57 4>; #iommu-cells = <0>; };\n"),
                {}, true);
  Device* i = bad.dev("30f0000.iommu");
  ASSERT_NE(i, nullptr);
  EXPECT_NE(i->state(), DeviceState::bound);
  SunKernel s(tree_with(" iommu: iommu@30f0000 { compatible = \"allwinner,sun50i-h6-iommu\"; reg = <0x30f0000 0x10000>;"
                        " interrupts = <0 57 4>; #iommu-cells = <1>; };\n"
                        " dma@1000000 { compatible = \"modiommu,dmatest\"; reg = <0x1000000 0x1000>; iommus = <&iommu 6>; };\n"
                        " dma@1001000 { compatible = \"modiommu,dmatest\"; reg = <0x1001000 0x1000>; iommus = <&iommu 4>; };\n"),
              {}, true);
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.dev("30f0000.iommu")->state(), DeviceState::bound);
  EXPECT_NE(s.dev("1000000.dma")->state(), DeviceState::bound);  // master 6 does not exist
  Device* ok = s.dev("1001000.dma");
  EXPECT_EQ(ok->state(), DeviceState::bound);
  s.round_trip(ok, 3);
}

}  // namespace
}  // namespace modiommu
