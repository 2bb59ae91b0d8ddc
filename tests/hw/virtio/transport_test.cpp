// virtio-mmio transport: identification, feature handshake, queue setup,
// config space, interrupts and reset (virtio 1.2 4.2.2, 3.1.1).
#include <gtest/gtest.h>

#include "test_driver.h"

namespace modiommu::hw::virtio::testing {
namespace {

using namespace viommu;

TEST(VirtioMmio, IdentifiesAsVersion2VirtioIommu) {
  TestDriver d;
  EXPECT_EQ(d.reg(mmio::kMagicValue), 0x74726976u);
  EXPECT_EQ(d.reg(mmio::kVersion), 2u);
  EXPECT_EQ(d.reg(mmio::kDeviceId), 23u);
  EXPECT_NE(d.reg(mmio::kVendorId), 0u);
  const uint64_t f = d.device_features();
  EXPECT_TRUE(f & kFVersion1);
  EXPECT_EQ(f & ~kFVersion1, VirtioIommuOptions{}.features);
}

TEST(VirtioMmio, FeaturesOkNeedsVersion1) {
  TestDriver d;
  EXPECT_FALSE(d.negotiate(kFMapUnmap));
  EXPECT_TRUE(d.negotiate(kFMapUnmap | kFVersion1));
}

TEST(VirtioMmio, FeaturesOkRejectsUnofferedBits) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.features = kFMapUnmap;
  TestDriver d(o);
  EXPECT_FALSE(d.negotiate(kFVersion1 | kFMapUnmap | kFProbe));
  EXPECT_TRUE(d.negotiate(kFVersion1 | kFMapUnmap));
}

TEST(VirtioMmio, DriverOkWithoutFeaturesOkIsRefused) {
  TestDriver d;
  d.set_reg(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusDriverOk);
  EXPECT_EQ(d.reg(mmio::kStatus) & kStatusDriverOk, 0u);
}

TEST(VirtioMmio, QueueRegisters) {
  TestDriver d;
  d.set_reg(mmio::kQueueSel, 0);
  EXPECT_EQ(d.reg(mmio::kQueueNumMax), 64u);
  d.set_reg(mmio::kQueueSel, 2);  // only two queues
  EXPECT_EQ(d.reg(mmio::kQueueNumMax), 0u);
  d.init();
  d.set_reg(mmio::kQueueSel, 1);
  EXPECT_EQ(d.reg(mmio::kQueueReady), 1u);
}

TEST(VirtioMmio, ConfigSpaceLayout) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.page_size_mask = 0x40201000;
  o.input_start = 0x1000;
  o.input_end = 0xffffffffffull;
  o.domain_start = 3;
  o.domain_end = 99;
  o.probe_size = 256;
  TestDriver d(o);
  const uint64_t c = kMmioBase + mmio::kConfig;
  EXPECT_EQ(d.bus.read64(c + 0), 0x40201000u);
  EXPECT_EQ(d.bus.read64(c + 8), 0x1000u);
  EXPECT_EQ(d.bus.read64(c + 16), 0xffffffffffull);
  EXPECT_EQ(d.bus.read32(c + 24), 3u);
  EXPECT_EQ(d.bus.read32(c + 28), 99u);
  EXPECT_EQ(d.bus.read32(c + 32), 256u);
  EXPECT_EQ(d.bus.read(c + 36, 1), 0u);
}

TEST(VirtioMmio, BypassConfigWritableOnlyWhenNegotiated) {
  TestDriver d;
  const uint64_t bypass = kMmioBase + mmio::kConfig + 36;
  d.init(kFVersion1 | kFMapUnmap);
  d.bus.write(bypass, 1, 1);
  EXPECT_EQ(d.bus.read(bypass, 1), 0u);
  d.init(kFVersion1 | kFMapUnmap | kFBypassConfig);
  d.bus.write(bypass, 1, 1);
  EXPECT_EQ(d.bus.read(bypass, 1), 1u);
}

TEST(VirtioMmio, UsedBufferInterruptAndAck) {
  TestDriver d;
  d.init();
  const uint64_t before = d.irq_count();
  EXPECT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_GT(d.irq_count(), before);
  EXPECT_TRUE(d.reg(mmio::kInterruptStatus) & mmio::kIntUsedBuffer);
  d.set_reg(mmio::kInterruptAck, mmio::kIntUsedBuffer);
  EXPECT_EQ(d.reg(mmio::kInterruptStatus) & mmio::kIntUsedBuffer, 0u);
}

TEST(VirtioMmio, NoInterruptWhenDriverSuppressesIt) {
  TestDriver d;
  d.init();
  const uint16_t no_irq = kAvailFNoInterrupt;
  ASSERT_TRUE(d.mem.write(d.queues[0].avail, &no_irq, 2).ok());
  const uint64_t before = d.irq_count();
  EXPECT_EQ(d.attach(1, 0x10), kSOk);
  EXPECT_EQ(d.irq_count(), before);
}

TEST(VirtioMmio, NotifyBeforeDriverOkIsIgnored) {
  TestDriver d;
  ASSERT_TRUE(d.negotiate(d.device_features()));
  d.setup_queue(0);
  d.setup_queue(1);
  viommu::AttachBody b{};
  b.domain = 1;
  b.endpoint = 0x10;
  std::vector<uint8_t> rd(4 + sizeof b, 0);
  rd[0] = kReqAttach;
  std::memcpy(rd.data() + 4, &b, sizeof b);
  EXPECT_TRUE(d.request(rd.data(), rd.size(), 4).empty());
  EXPECT_EQ(d.used_idx(0), 0u);
}

TEST(VirtioMmio, ResetClearsStatusQueuesAndDeviceState) {
  TestDriver d;
  d.init();
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.iommu->endpoint_domain(0x10), 1);
  d.set_reg(mmio::kStatus, 0);
  EXPECT_EQ(d.reg(mmio::kStatus), 0u);
  d.set_reg(mmio::kQueueSel, 0);
  EXPECT_EQ(d.reg(mmio::kQueueReady), 0u);
  EXPECT_EQ(d.iommu->endpoint_domain(0x10), -1);
  EXPECT_EQ(d.iommu->stats().domains, 0u);
  // And it comes back up.
  d.init();
  EXPECT_EQ(d.attach(2, 0x10), kSOk);
}

TEST(VirtioMmio, QueueLayoutIgnoredWhileReady) {
  TestDriver d;
  d.init();
  d.set_reg(mmio::kQueueSel, 0);
  d.set_reg(mmio::kQueueDescLow, 0x1234);  // ignored: queue is live
  EXPECT_EQ(d.attach(1, 0x10), kSOk);
}

TEST(VirtioMmio, BadQueueLayoutSetsNeedsReset) {
  TestDriver d;
  ASSERT_TRUE(d.negotiate(d.device_features()));
  d.set_reg(mmio::kQueueSel, 0);
  d.set_reg(mmio::kQueueNum, 3);  // not a power of two
  d.set_reg(mmio::kQueueDescLow, static_cast<uint32_t>(kRam));
  d.set_reg(mmio::kQueueDriverLow, static_cast<uint32_t>(kRam + 0x1000));
  d.set_reg(mmio::kQueueDeviceLow, static_cast<uint32_t>(kRam + 0x2000));
  d.set_reg(mmio::kQueueReady, 1);
  EXPECT_EQ(d.reg(mmio::kQueueReady), 0u);
  EXPECT_TRUE(d.reg(mmio::kStatus) & kStatusNeedsReset);
  EXPECT_TRUE(d.reg(mmio::kInterruptStatus) & mmio::kIntConfigChange);
  EXPECT_NE(d.transport->last_device_error().find("power of two"), std::string::npos);
}

TEST(VirtioMmio, NonWordRegisterAccessReadsZero) {
  TestDriver d;
  EXPECT_EQ(d.bus.read(kMmioBase + mmio::kMagicValue, 2), 0u);
  EXPECT_EQ(d.bus.read(kMmioBase + mmio::kMagicValue, 4), 0x74726976u);
}

}  // namespace
}  // namespace modiommu::hw::virtio::testing
