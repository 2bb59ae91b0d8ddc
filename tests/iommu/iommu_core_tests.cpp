// The IOMMU core's modular probe policy (BEHAVIOUR.md 1, 2, 4), groups,
// domains, faults and the DMA API, against a fake IOMMU driver.
#include "../core/test_util.h"
#include "fake_iommu.h"
#include "iommu/dma.h"

using namespace modiommu;
using modiommu::testing::dev;
using modiommu::testing::dts;
using modiommu::testing::FakeIommuDriver;
using modiommu::testing::FakeMasterDriver;

namespace {

const char* kBoard = R"(
  memory@40000000 { device_type = "memory"; reg = <0x40000000 0x10000000>; };
  iommu: iommu@9000000 { compatible = "fake,iommu"; reg = <0x9000000 0x1000>; #iommu-cells = <1>; };
  off: iommu@9100000 { compatible = "fake,iommu"; reg = <0x9100000 0x1000>; #iommu-cells = <1>; status = "disabled"; };
  nodrv: iommu@9200000 { compatible = "nobody,iommu"; reg = <0x9200000 0x1000>; #iommu-cells = <1>; };
  m0: master@1000 { compatible = "fake,master"; reg = <0x1000 0x100>; iommus = <&iommu 0x10>; };
  m1: master@2000 { compatible = "fake,master"; reg = <0x2000 0x100>; iommus = <&iommu 0x11>; };
  master@3000 { compatible = "fake,master"; reg = <0x3000 0x100>; iommus = <&off 0x12>; };
  master@4000 { compatible = "fake,master"; reg = <0x4000 0x100>; iommus = <&nodrv 0x13>; };
  master@5000 { compatible = "fake,master"; reg = <0x5000 0x100>; };
)";

struct Rig {
  explicit Rig(KernelOptions o = {}) : k(o), iommu_drv(k), master_drv(k) {}
  // Registers the master driver (and the IOMMU driver unless told not to).
  void boot(bool with_iommu_driver = true) {
    ASSERT_TRUE(k.boot(dts(kBoard)).ok());
    ASSERT_TRUE(k.core().register_driver(&master_drv).ok());
    if (with_iommu_driver) {
      ASSERT_TRUE(k.core().register_driver(&iommu_drv).ok());
    }
  }
  ~Rig() {
    k.core().unregister_driver(&master_drv);
    k.core().unregister_driver(&iommu_drv);
  }
  Kernel k;
  FakeIommuDriver iommu_drv;
  FakeMasterDriver master_drv;
};

TEST(IommuPolicy, RegisteredIommuAttachesWithStreamIdsGroupAndLink) {
  Rig r;
  r.boot();
  Device* m0 = dev(r.k, "1000.master");
  ASSERT_EQ(m0->state(), DeviceState::bound);
  auto info = r.k.iommu().info(*m0);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->iommu, "9000000.iommu");
  EXPECT_EQ(info->stream_ids, std::vector<uint32_t>{0x10});
  ASSERT_TRUE(info->domain);
  EXPECT_EQ(*info->domain, iommu::DomainType::dma);
  EXPECT_NE(info->group, r.k.iommu().info(*dev(r.k, "2000.master"))->group) << "platform devices: one group each";
  bool managed = false;
  for (auto& l : r.k.core().links())
    if (l.consumer == m0 && l.supplier->name() == "9000000.iommu") managed = l.kind == LinkKind::managed;
  EXPECT_TRUE(managed) << "every consumer gets a managed link to its IOMMU";
}

// Linux: a driver's of_xlate/probe_device -ENODEV by policy (ipmmu-vmsa's
// allowlist) leaves the device with no IOMMU; it probes and runs untranslated.
TEST(IommuPolicy, DriverPolicyDeclineLeavesTheDeviceOutWithItsReason) {
  Rig r;
  r.iommu_drv.ops.decline["1000.master"] = "fake: not on the list";
  r.iommu_drv.ops.refuse.insert("2000.master");
  r.boot();
  Device* m0 = dev(r.k, "1000.master");
  ASSERT_EQ(m0->state(), DeviceState::bound);
  auto info = r.k.iommu().info(*m0);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->left_out, "fake: not on the list");
  EXPECT_EQ(info->iommu, "");
  EXPECT_EQ(info->group, -1);
  EXPECT_FALSE(info->domain.has_value());
  EXPECT_FALSE(info->bypass_fallback);
  EXPECT_EQ(r.k.iommu().device_domain(*m0), nullptr);
  EXPECT_EQ(r.iommu_drv.ops.probed.count("1000.master"), 0u);
  // Any other probe_device error still stops the consumer's probe (ENODEV:
  // it stays unbound), with nothing left out.
  Device* m1 = dev(r.k, "2000.master");
  EXPECT_NE(m1->state(), DeviceState::bound);
  EXPECT_FALSE(r.k.iommu().info(*m1) && !r.k.iommu().info(*m1)->left_out.empty());
  // Its link to the IOMMU stays: unbinding the IOMMU unbinds it first, and
  // it is left out again when the IOMMU comes back.
  Device* iommu = dev(r.k, "9000000.iommu");
  ASSERT_TRUE(r.k.core().unbind(*iommu).ok());
  r.k.core().process();
  EXPECT_NE(m0->state(), DeviceState::bound);
  ASSERT_TRUE(r.k.core().bind(*iommu, r.iommu_drv).ok());
  r.k.core().process();
  ASSERT_EQ(m0->state(), DeviceState::bound);
  EXPECT_EQ(r.k.iommu().info(*m0)->left_out, "fake: not on the list");
}

TEST(IommuPolicy, DisabledIommuNodeMeansNoIommu) {
  Rig r;
  r.boot();
  Device* d = dev(r.k, "3000.master");
  EXPECT_EQ(d->state(), DeviceState::bound);
  auto info = r.k.iommu().info(*d);
  EXPECT_TRUE(!info || info->iommu.empty());
}

TEST(IommuPolicy, DefersWhileDriverCanAppearThenAttachesWhenItRegisters) {
  Rig r;
  r.boot(/*with_iommu_driver=*/false);
  Device* m0 = dev(r.k, "1000.master");
  EXPECT_EQ(m0->state(), DeviceState::deferred);
  EXPECT_NE(r.k.core().reason(*m0).find("9000000.iommu"), std::string::npos) << r.k.core().reason(*m0);
  ASSERT_TRUE(r.k.core().register_driver(&r.iommu_drv).ok());
  EXPECT_EQ(m0->state(), DeviceState::bound);
  EXPECT_EQ(r.k.iommu().info(*m0)->iommu, "9000000.iommu");
}

TEST(IommuPolicy, NoDriverCanAppearBypassesAtOnceWithWarning) {
  Rig r;
  r.boot();
  Device* d = dev(r.k, "4000.master");
  EXPECT_EQ(d->state(), DeviceState::deferred) << "sources not final yet: it waits";
  r.k.boot_complete();  // sources final: decided now, no timeout involved
  EXPECT_EQ(d->state(), DeviceState::bound);
  EXPECT_TRUE(r.k.iommu().info(*d)->bypass_fallback);
  EXPECT_GE(r.k.log().count("WITHOUT isolation"), 1u);
}

TEST(IommuPolicy, NoDriverCanAppearFailsUnderSecurePolicy) {
  KernelOptions o;
  o.iommu.missing = iommu::MissingIommu::fail;
  Rig r(o);
  r.boot();
  r.k.boot_complete();
  Device* d = dev(r.k, "4000.master");
  EXPECT_EQ(d->state(), DeviceState::failed);
  EXPECT_NE(d->deferred_reason().find("--missing-iommu=fail"), std::string::npos);
}

TEST(IommuPolicy, FallbackDeviceIsMovedUnderItsIommuWhenItRegisters) {
  // BEHAVIOUR.md 1: unlike Linux, a device that fell back is not stuck.
  Rig r;
  r.boot(false);
  r.k.core().set_sources_final(true);
  r.k.boot_complete();
  Device* m0 = dev(r.k, "1000.master");
  // Its IOMMU has a driver that is not registered and no module: bypass.
  ASSERT_EQ(m0->state(), DeviceState::bound);
  ASSERT_TRUE(r.k.iommu().info(*m0)->bypass_fallback);
  ASSERT_TRUE(r.k.core().register_driver(&r.iommu_drv).ok());
  EXPECT_EQ(m0->state(), DeviceState::bound);
  auto info = r.k.iommu().info(*m0);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->bypass_fallback);
  EXPECT_EQ(info->iommu, "9000000.iommu");
  EXPECT_GE(r.k.log().count("move it under the IOMMU"), 1u);
}

TEST(IommuPolicy, IommuUnbindUnbindsConsumersFirstAndRebindRestores) {
  Rig r;
  r.boot();
  Device* iommu = dev(r.k, "9000000.iommu");
  Device* m0 = dev(r.k, "1000.master");
  ASSERT_TRUE(r.k.core().unbind(*iommu).ok());
  EXPECT_EQ(m0->state(), DeviceState::deferred);
  EXPECT_TRUE(r.iommu_drv.ops.probed.empty()) << "consumers released before the IOMMU went";
  EXPECT_TRUE(r.k.iommu().iommus().empty());
  ASSERT_TRUE(r.k.core().bind(*iommu, r.iommu_drv).ok());
  EXPECT_EQ(m0->state(), DeviceState::bound);
  EXPECT_EQ(r.k.iommu().info(*m0)->iommu, "9000000.iommu");
}

TEST(IommuPolicy, PerDeviceDefaultDomain) {
  KernelOptions o;
  o.iommu.per_device["2000.master"] = iommu::DomainType::identity;
  Rig r(o);
  r.boot();
  EXPECT_EQ(*r.k.iommu().info(*dev(r.k, "1000.master"))->domain, iommu::DomainType::dma);
  EXPECT_EQ(*r.k.iommu().info(*dev(r.k, "2000.master"))->domain, iommu::DomainType::identity);
}

TEST(IommuFaults, CountedPerDeviceAndPassedToDomainHandler) {
  Rig r;
  r.boot();
  Device* m1 = dev(r.k, "2000.master");
  iommu::IommuDomain* d = r.k.iommu().device_domain(*m1);
  ASSERT_NE(d, nullptr);
  int seen = 0;
  d->set_fault_handler([&](Device* who, const iommu::FaultInfo& f) {
    EXPECT_EQ(who, m1);
    EXPECT_EQ(f.iova, 0x1234000u);
    ++seen;
  });
  auto* inst = r.k.iommu().iommus().at(0);
  r.k.iommu().report_fault(*inst, {0x1234000, true, 0x11, "F_TRANSLATION"});
  r.k.iommu().report_fault(*inst, {0x1234000, true, 0x11, "F_TRANSLATION"});
  r.k.iommu().report_fault(*inst, {0x5, false, 0x77, "F_TRANSLATION"});  // unknown stream ID: logged only
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(r.k.iommu().info(*m1)->faults, 2u);
  EXPECT_EQ(r.k.iommu().info(*dev(r.k, "1000.master"))->faults, 0u);
}

TEST(DmaApi, MapsThroughTheDomainAndStrictUnmapRemoves) {
  Rig r;
  r.boot();
  Device* m0 = dev(r.k, "1000.master");
  auto* d = static_cast<modiommu::testing::FakeDomain*>(r.k.iommu().device_domain(*m0));
  auto iova = r.k.dma().map_single(*m0, 0x40001234, 0x2000, iommu::DmaDirection::to_device);
  ASSERT_TRUE(iova.ok()) << iova.error().str();
  EXPECT_EQ(*iova & 0xfff, 0x234u) << "offset within the page is kept";
  auto pa = d->iova_to_phys(*iova);
  ASSERT_TRUE(pa.ok());
  EXPECT_EQ(*pa, 0x40001234u);
  EXPECT_EQ(d->pages.size(), 3u) << "0x1234 + 0x2000 spans three pages";
  EXPECT_EQ(d->pages.begin()->second.prot & iommu::IOMMU_WRITE, 0) << "to_device: the device only reads";
  ASSERT_TRUE(r.k.dma().unmap_single(*m0, *iova, 0x2000, iommu::DmaDirection::to_device).ok());
  EXPECT_TRUE(d->pages.empty());
  EXPECT_GE(d->syncs.load(), 1) << "strict: invalidated at unmap";
}

TEST(DmaApi, LazyDomainBatchesInvalidation) {
  KernelOptions o;
  o.iommu.default_domain = iommu::DomainType::dma_lazy;
  Rig r(o);
  r.boot();
  Device* m0 = dev(r.k, "1000.master");
  auto* d = static_cast<modiommu::testing::FakeDomain*>(r.k.iommu().device_domain(*m0));
  for (int i = 0; i < 10; ++i) {
    auto iova = r.k.dma().map_single(*m0, 0x40000000 + i * 0x1000, 0x1000, iommu::DmaDirection::from_device);
    ASSERT_TRUE(iova.ok());
    ASSERT_TRUE(r.k.dma().unmap_single(*m0, *iova, 0x1000, iommu::DmaDirection::from_device).ok());
  }
  EXPECT_EQ(d->flush_alls.load(), 0) << "lazy: no flush per unmap";
  r.k.dma().flush_queue(*m0);
  EXPECT_EQ(d->flush_alls.load(), 1);
}

TEST(DmaApi, DirectPathRespectsTheDmaMask) {
  Rig r;
  r.boot();
  Device* plain = dev(r.k, "5000.master");
  plain->dma_mask = 0xffffffff;
  auto ok = r.k.dma().map_single(*plain, 0x40000000, 0x1000, iommu::DmaDirection::bidirectional);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 0x40000000u);
  auto bad = r.k.dma().map_single(*plain, 0x1'0000'0000, 0x1000, iommu::DmaDirection::bidirectional);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("DMA mask"), std::string::npos);
}

TEST(DmaApi, ScatterListGetsOneContiguousIovaRange) {
  Rig r;
  r.boot();
  Device* m0 = dev(r.k, "1000.master");
  std::vector<iommu::ScatterEntry> sg{{0x40010000, 0x1000}, {0x40030000, 0x2000}, {0x40050800, 0x100}};
  auto n = r.k.dma().map_sg(*m0, sg, iommu::DmaDirection::bidirectional);
  ASSERT_TRUE(n.ok()) << n.error().str();
  EXPECT_EQ(sg[1].dma, sg[0].dma + 0x1000);
  EXPECT_EQ(sg[2].dma, sg[1].dma + 0x2000 + 0x800);
  ASSERT_TRUE(r.k.dma().unmap_sg(*m0, sg, iommu::DmaDirection::bidirectional).ok());
  EXPECT_TRUE(static_cast<modiommu::testing::FakeDomain*>(r.k.iommu().device_domain(*m0))->pages.empty());
}

}  // namespace
