// virtio-iommu requests (virtio 1.2 5.13.6): each request type, and one test
// per status code the device returns for a bad request.
#include <gtest/gtest.h>

#include "test_driver.h"

namespace modiommu::hw::virtio::testing {
namespace {

using namespace viommu;

constexpr uint32_t kRW = kMapFRead | kMapFWrite;

class Requests : public ::testing::Test {
 protected:
  void SetUp() override { d.init(); }
  TestDriver d;
};

TEST_F(Requests, AttachCreatesDomainAndDetachDestroysIt) {
  EXPECT_EQ(d.attach(7, 0x10), kSOk);
  EXPECT_EQ(d.attach(7, 0x11), kSOk);
  EXPECT_EQ(d.iommu->endpoint_domain(0x10), 7);
  EXPECT_EQ(d.iommu->stats().domains, 1u);
  ASSERT_EQ(d.map(7, 0x100000, 0x100fff, kRam, kRW), kSOk);
  EXPECT_EQ(d.detach(7, 0x10), kSOk);
  EXPECT_EQ(d.iommu->stats().domains, 1u);  // 0x11 still attached
  EXPECT_EQ(d.detach(7, 0x11), kSOk);
  EXPECT_EQ(d.iommu->stats().domains, 0u);
  EXPECT_EQ(d.iommu->stats().mappings, 0u);  // mappings went with the domain
  EXPECT_EQ(d.map(7, 0x100000, 0x100fff, kRam, kRW), kSNoEnt);
}

TEST_F(Requests, AttachToAnotherDomainMovesTheEndpoint) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.attach(2, 0x10), kSOk);
  EXPECT_EQ(d.iommu->endpoint_domain(0x10), 2);
  EXPECT_EQ(d.iommu->stats().domains, 1u);  // domain 1 lost its only endpoint
}

TEST_F(Requests, MapAndUnmapCountMappings) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.map(1, 0x0, 0xfff, kRam, kRW), kSOk);
  EXPECT_EQ(d.map(1, 0x2000, 0x3fff, kRam + 0x2000, kMapFRead), kSOk);
  EXPECT_EQ(d.iommu->stats().mappings, 2u);
  EXPECT_EQ(d.unmap(1, 0x0, 0xffff), kSOk);
  EXPECT_EQ(d.iommu->stats().mappings, 0u);
}

TEST_F(Requests, UnmapOfNothingIsOk) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.unmap(1, 0x100000, 0x1fffff), kSOk);
}

TEST_F(Requests, UnmapRemovesOnlyWhollyCoveredMappings) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.map(1, 0x1000, 0x1fff, kRam, kRW), kSOk);
  ASSERT_EQ(d.map(1, 0x2000, 0x2fff, kRam, kRW), kSOk);
  ASSERT_EQ(d.map(1, 0x5000, 0x5fff, kRam, kRW), kSOk);
  EXPECT_EQ(d.unmap(1, 0x1000, 0x2fff), kSOk);
  EXPECT_EQ(d.iommu->stats().mappings, 1u);
}

TEST_F(Requests, ProbeReportsMsiWindow) {
  std::vector<uint8_t> props;
  ASSERT_EQ(d.probe(0x10, 512, &props), kSOk);
  ASSERT_EQ(props.size(), 512u);
  ProbeResvMem p;
  std::memcpy(&p, props.data(), sizeof p);
  EXPECT_EQ(p.type, kProbeTResvMem);
  EXPECT_EQ(p.length, 20u);
  EXPECT_EQ(p.subtype, kResvMemTMsi);
  EXPECT_EQ(p.start, 0x8000000u);
  EXPECT_EQ(p.end, 0x80fffffu);
  // The rest is PROBE_T_NONE (zeros), not the 0xee the driver left there.
  for (size_t i = sizeof p; i < props.size(); ++i) ASSERT_EQ(props[i], 0) << "at " << i;
}

TEST_F(Requests, ProbeConfigurableRegions) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.resv = {{kResvMemTReserved, 0x1000, 0x1fff}, {kResvMemTMsi, 0xfee00000, 0xfeefffff}};
  TestDriver d2(o);
  d2.init();
  std::vector<uint8_t> props;
  ASSERT_EQ(d2.probe(0x11, 512, &props), kSOk);
  ProbeResvMem p[2];
  std::memcpy(p, props.data(), sizeof p);
  EXPECT_EQ(p[0].subtype, kResvMemTReserved);
  EXPECT_EQ(p[0].end, 0x1fffu);
  EXPECT_EQ(p[1].subtype, kResvMemTMsi);
  EXPECT_EQ(p[1].start, 0xfee00000u);
}

// --- one test per status code for bad requests ---

TEST_F(Requests, UnknownTypeIsUnsupp) {
  uint8_t rd[8] = {42};
  auto w = d.request(rd, sizeof rd, 4);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0], kSUnsupp);
}

TEST_F(Requests, MapWithoutMapUnmapFeatureIsUnsupp) {
  TestDriver d2;
  d2.init(kFVersion1 | kFProbe);
  ASSERT_EQ(d2.attach(1, 0x10), kSOk);
  EXPECT_EQ(d2.map(1, 0, 0xfff, kRam, kRW), kSUnsupp);
}

TEST_F(Requests, ProbeWithoutProbeFeatureIsUnsupp) {
  TestDriver d2;
  d2.init(kFVersion1 | kFMapUnmap);
  EXPECT_EQ(d2.probe(0x10, 512, nullptr), kSUnsupp);
}

TEST_F(Requests, ShortRequestIsInval) {
  uint8_t rd[8] = {kReqMap};  // a MAP needs 4 + 32 readable bytes
  auto w = d.request(rd, sizeof rd, 4);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0], kSInval);
}

TEST_F(Requests, AttachReservedNonZeroIsInval) {
  AttachBody b{};
  b.domain = 1;
  b.endpoint = 0x10;
  b.reserved[2] = 1;
  EXPECT_EQ(d.simple(kReqAttach, b), kSInval);
  EXPECT_EQ(d.iommu->endpoint_domain(0x10), -1);
}

TEST_F(Requests, AttachUnknownFlagIsInval) { EXPECT_EQ(d.attach(1, 0x10, 0x2), kSInval); }

TEST_F(Requests, AttachBypassFlagMismatchIsInval) {
  ASSERT_EQ(d.attach(1, 0x10, kAttachFBypass), kSOk);
  EXPECT_EQ(d.attach(1, 0x11, 0), kSInval);
}

TEST_F(Requests, AttachBypassWithoutBypassConfigIsInval) {
  TestDriver d2;
  d2.init(kFVersion1 | kFMapUnmap);
  EXPECT_EQ(d2.attach(1, 0x10, kAttachFBypass), kSInval);
}

TEST_F(Requests, MapUnknownFlagIsInval) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.map(1, 0, 0xfff, kRam, 0x8), kSInval);
}

TEST_F(Requests, MapOverlapIsInval) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.map(1, 0x2000, 0x3fff, kRam, kRW), kSOk);
  EXPECT_EQ(d.map(1, 0x3000, 0x4fff, kRam, kRW), kSInval);
  EXPECT_EQ(d.map(1, 0x1000, 0x2fff, kRam, kRW), kSInval);
  EXPECT_EQ(d.map(1, 0x0000, 0x7fff, kRam, kRW), kSInval);
  EXPECT_EQ(d.iommu->stats().mappings, 1u);
}

TEST_F(Requests, MapEndBeforeStartIsInval) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.map(1, 0x2000, 0xfff, kRam, kRW), kSInval);
}

TEST_F(Requests, MapIntoBypassDomainIsInval) {
  ASSERT_EQ(d.attach(1, 0x10, kAttachFBypass), kSOk);
  EXPECT_EQ(d.map(1, 0, 0xfff, kRam, kRW), kSInval);
}

TEST_F(Requests, MmioFlagWithoutMmioFeatureIsInval) {
  TestDriver d2;
  d2.init(kFVersion1 | kFMapUnmap);
  ASSERT_EQ(d2.attach(1, 0x10), kSOk);
  EXPECT_EQ(d2.map(1, 0, 0xfff, 0x9000000, kRW | kMapFMmio), kSInval);
  EXPECT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.map(1, 0, 0xfff, 0x9000000, kRW | kMapFMmio), kSOk);
}

TEST_F(Requests, DetachNotAttachedIsInval) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.detach(2, 0x10), kSInval);  // wrong domain
  EXPECT_EQ(d.detach(1, 0x11), kSInval);  // endpoint never attached
  EXPECT_EQ(d.iommu->endpoint_domain(0x10), 1);
}

TEST_F(Requests, UnmapSplittingAMappingIsRangeAndKeepsIt) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.map(1, 0x1000, 0x4fff, kRam, kRW), kSOk);
  ASSERT_EQ(d.map(1, 0x8000, 0x8fff, kRam, kRW), kSOk);
  EXPECT_EQ(d.unmap(1, 0x2000, 0x2fff), kSRange);
  EXPECT_EQ(d.unmap(1, 0x0, 0x1fff), kSRange);
  EXPECT_EQ(d.unmap(1, 0x4000, 0x8fff), kSRange);  // nothing removed, not even 0x8000
  EXPECT_EQ(d.iommu->stats().mappings, 2u);
  EXPECT_EQ(d.iommu->translate(0x10, 0x8000, Access::read).kind, TranslateOutcome::Kind::translated);
}

TEST_F(Requests, MapUnalignedIsRange) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.map(1, 0x1800, 0x1fff, kRam, kRW), kSRange);
  EXPECT_EQ(d.map(1, 0x1000, 0x17ff, kRam, kRW), kSRange);
  EXPECT_EQ(d.map(1, 0x1000, 0x1fff, kRam + 0x10, kRW), kSRange);
}

TEST_F(Requests, MapOutsideInputRangeIsRange) {
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.map(1, 1ull << 48, (1ull << 48) + 0xfff, kRam, kRW), kSRange);
}

TEST_F(Requests, AttachOutsideDomainRangeIsRange) { EXPECT_EQ(d.attach(0x10000, 0x10), kSRange); }

TEST_F(Requests, AttachUnknownEndpointIsNoent) { EXPECT_EQ(d.attach(1, 0x99), kSNoEnt); }

TEST_F(Requests, DetachUnknownEndpointIsNoent) { EXPECT_EQ(d.detach(1, 0x99), kSNoEnt); }

TEST_F(Requests, MapUnknownDomainIsNoent) { EXPECT_EQ(d.map(5, 0, 0xfff, kRam, kRW), kSNoEnt); }

TEST_F(Requests, UnmapUnknownDomainIsNoent) { EXPECT_EQ(d.unmap(5, 0, 0xfff), kSNoEnt); }

TEST_F(Requests, ProbeUnknownEndpointIsNoent) { EXPECT_EQ(d.probe(0x99, 512, nullptr), kSNoEnt); }

TEST_F(Requests, AddedEndpointExists) {
  EXPECT_EQ(d.attach(1, 0x99), kSNoEnt);
  d.iommu->add_endpoint(0x99);
  EXPECT_EQ(d.attach(1, 0x99), kSOk);
}

TEST_F(Requests, ProbeBufferSmallerThanProbeSizeIsInval) { EXPECT_EQ(d.probe(0x10, 64, nullptr), kSInval); }

TEST_F(Requests, MapBeyondMappingLimitIsNomem) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.max_mappings = 2;
  TestDriver d2(o);
  d2.init();
  ASSERT_EQ(d2.attach(1, 0x10), kSOk);
  EXPECT_EQ(d2.map(1, 0x0000, 0x0fff, kRam, kRW), kSOk);
  EXPECT_EQ(d2.map(1, 0x1000, 0x1fff, kRam, kRW), kSOk);
  EXPECT_EQ(d2.map(1, 0x2000, 0x2fff, kRam, kRW), kSNoMem);
  ASSERT_EQ(d2.unmap(1, 0x0, 0xfff), kSOk);
  EXPECT_EQ(d2.map(1, 0x2000, 0x2fff, kRam, kRW), kSOk);
}

TEST_F(Requests, MapOfNonRamIsFaultWhenChecked) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.map_phys_must_be_ram = true;
  TestDriver d2(o);
  d2.init();
  ASSERT_EQ(d2.attach(1, 0x10), kSOk);
  EXPECT_EQ(d2.map(1, 0, 0xfff, 0x1000, kRW), kSFault);
  EXPECT_EQ(d2.map(1, 0, 0xfff, 0x1000, kRW | kMapFMmio), kSOk);  // device memory is fine
  EXPECT_EQ(d2.map(1, 0x1000, 0x1fff, kRam, kRW), kSOk);
}

TEST_F(Requests, ProbePropertiesNotFittingIsDeverr) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.probe_size = 32;  // room for one RESV_MEM property, not two
  o.resv = {{kResvMemTMsi, 0x1000, 0x1fff}, {kResvMemTMsi, 0x3000, 0x3fff}};
  TestDriver d2(o);
  d2.init();
  EXPECT_EQ(d2.probe(0x10, 32, nullptr), kSDevErr);
}

TEST_F(Requests, NoRoomForTailGetsEmptyCompletion) {
  uint8_t rd[4 + sizeof(AttachBody)] = {kReqAttach};
  auto w = d.request(rd, sizeof rd, 2);  // 2 writable bytes: no tail fits
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(d.used_idx(0), 1u);  // returned, not swallowed
  EXPECT_FALSE(d.reg(mmio::kStatus) & kStatusNeedsReset);
  EXPECT_EQ(d.attach(1, 0x10), kSOk);  // queue still works
}

}  // namespace
}  // namespace modiommu::hw::virtio::testing
