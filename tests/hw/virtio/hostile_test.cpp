// Hostile virtqueues (virtio 1.2 2.7): loops, out-of-RAM buffers, ordering
// violations and bad indices give DEVICE_NEEDS_RESET, never a crash or hang;
// plus Virtqueue unit behaviour.
#include <gtest/gtest.h>

#include "test_driver.h"

namespace modiommu::hw::virtio::testing {
namespace {

using namespace viommu;

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    d.init();
    rbuf = d.queues[0].data;
    wbuf = rbuf + 0x2000;
    uint8_t attach[4 + sizeof(AttachBody)] = {kReqAttach};
    ASSERT_TRUE(d.mem.write(rbuf, attach, sizeof attach).ok());
  }
  void expect_needs_reset(const char* what) {
    EXPECT_TRUE(d.reg(mmio::kStatus) & kStatusNeedsReset) << what;
    EXPECT_TRUE(d.reg(mmio::kInterruptStatus) & mmio::kIntConfigChange) << what;
    EXPECT_NE(d.transport->last_device_error().find(what), std::string::npos) << d.transport->last_device_error();
    // Notifications are ignored until reset; a reset brings the device back.
    d.init();
    EXPECT_FALSE(d.reg(mmio::kStatus) & kStatusNeedsReset);
    EXPECT_EQ(d.attach(1, 0x10), kSOk);
  }
  TestDriver d;
  uint64_t rbuf = 0, wbuf = 0;
};

TEST_F(Hostile, DescriptorLoop) {
  d.write_desc(0, 0, rbuf, 20, kDescFNext, 1);
  d.write_desc(0, 1, rbuf, 4, kDescFNext, 0);  // back to 0
  d.make_available(0, 0);
  expect_needs_reset("loops");
}

TEST_F(Hostile, SelfLoop) {
  d.write_desc(0, 3, rbuf, 20, kDescFNext, 3);
  d.make_available(0, 3);
  expect_needs_reset("loops");
}

TEST_F(Hostile, BufferOutsideRam) {
  d.write_desc(0, 0, rbuf, 20, kDescFNext, 1);
  d.write_desc(0, 1, 0x1000, 4, kDescFWrite, 0);
  d.make_available(0, 0);
  expect_needs_reset("outside RAM");
}

TEST_F(Hostile, BufferWrappingAddressSpace) {
  d.write_desc(0, 0, ~uint64_t{0} - 2, 20, 0, 0);
  d.make_available(0, 0);
  expect_needs_reset("outside RAM");
}

TEST_F(Hostile, ReadableAfterWritable) {
  d.write_desc(0, 0, wbuf, 4, kDescFWrite | kDescFNext, 1);
  d.write_desc(0, 1, rbuf, 20, 0, 0);
  d.make_available(0, 0);
  expect_needs_reset("device-readable after a device-writable");
}

TEST_F(Hostile, IndirectDescriptor) {
  d.write_desc(0, 0, rbuf, 16, kDescFIndirect, 0);
  d.make_available(0, 0);
  expect_needs_reset("INDIRECT");
}

TEST_F(Hostile, NextOutOfRange) {
  d.write_desc(0, 0, rbuf, 20, kDescFNext, kQSize);
  d.make_available(0, 0);
  expect_needs_reset("next");
}

TEST_F(Hostile, HeadOutOfRange) {
  d.make_available(0, 500);
  expect_needs_reset("names descriptor");
}

TEST_F(Hostile, AvailIndexJump) {
  const uint16_t idx = 1000;
  ASSERT_TRUE(d.mem.write(d.queues[0].avail + 2, &idx, 2).ok());
  d.set_reg(mmio::kQueueNotify, 0);
  expect_needs_reset("ahead");
}

TEST_F(Hostile, HostileEventQueueOnFault) {
  d.write_desc(1, 0, wbuf, 24, kDescFWrite | kDescFNext, 0);  // loops to itself
  d.make_available(1, 0);
  EXPECT_EQ(d.iommu->translate(0x10, 0, Access::read).kind, TranslateOutcome::Kind::faulted);
  EXPECT_EQ(d.iommu->stats().faults_lost, 1u);
  expect_needs_reset("loops");
}

TEST_F(Hostile, ManyRequestsInOneKick) {
  // Several chains queued before one notify all complete, in order.
  for (uint16_t i = 0; i < 4; ++i) {
    const uint64_t r = rbuf + 0x100 * i, w = wbuf + 0x100 * i;
    uint8_t attach[4 + sizeof(AttachBody)] = {kReqAttach};
    AttachBody b{};
    b.domain = 1 + i;
    b.endpoint = 0x10;
    std::memcpy(attach + 4, &b, sizeof b);
    ASSERT_TRUE(d.mem.write(r, attach, sizeof attach).ok());
    d.write_desc(0, 2 * i, r, sizeof attach, kDescFNext, 2 * i + 1);
    d.write_desc(0, 2 * i + 1, w, 4, kDescFWrite, 0);
    d.make_available(0, 2 * i, false);
  }
  d.set_reg(mmio::kQueueNotify, 0);
  EXPECT_EQ(d.used_idx(0), 4u);
  EXPECT_EQ(d.iommu->endpoint_domain(0x10), 4);
}

TEST(Virtqueue, PopsSegmentsAndGathersAcrossThem) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRam, 1 << 20).ok());
  Virtqueue q(mem, 0);
  ASSERT_TRUE(q.enable({8, kRam, kRam + 0x1000, kRam + 0x2000}, 8).ok());
  const char a[] = "abc", b[] = "defg";
  ASSERT_TRUE(mem.write(kRam + 0x10000, a, 3).ok());
  ASSERT_TRUE(mem.write(kRam + 0x20000, b, 4).ok());
  struct D {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
  } descs[3] = {{kRam + 0x10000, 3, kDescFNext, 5}, {0, 0, 0, 0}, {kRam + 0x30000, 16, kDescFWrite, 0}};
  ASSERT_TRUE(mem.write(kRam, &descs[0], 16).ok());
  D d5{kRam + 0x20000, 4, kDescFNext, 2};
  ASSERT_TRUE(mem.write(kRam + 5 * 16, &d5, 16).ok());
  ASSERT_TRUE(mem.write(kRam + 2 * 16, &descs[2], 16).ok());
  const uint16_t head = 0, idx = 1;
  ASSERT_TRUE(mem.write(kRam + 0x1004, &head, 2).ok());
  ASSERT_TRUE(mem.write(kRam + 0x1002, &idx, 2).ok());
  auto c = q.pop();
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->has_value());
  const VirtqChain& ch = **c;
  EXPECT_EQ(ch.readable.size(), 2u);
  EXPECT_EQ(ch.readable_len, 7u);
  EXPECT_EQ(ch.writable_len, 16u);
  char got[7];
  ASSERT_TRUE(q.read_chain(ch, 0, got, 7).ok());
  EXPECT_EQ(std::string(got, 7), "abcdefg");
  ASSERT_TRUE(q.read_chain(ch, 2, got, 3).ok());
  EXPECT_EQ(std::string(got, 3), "cde");
  EXPECT_FALSE(q.read_chain(ch, 5, got, 3).ok());  // past the readable part
  ASSERT_TRUE(q.write_chain(ch, 12, "wxyz", 4).ok());
  EXPECT_FALSE(q.write_chain(ch, 14, "wxyz", 4).ok());
  // Nothing more available.
  auto none = q.pop();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(q.push(ch, 16).value());
  uint16_t used_idx = 0;
  uint32_t elem[2];
  ASSERT_TRUE(mem.read(kRam + 0x2002, &used_idx, 2).ok());
  ASSERT_TRUE(mem.read(kRam + 0x2004, elem, 8).ok());
  EXPECT_EQ(used_idx, 1u);
  EXPECT_EQ(elem[0], 0u);
  EXPECT_EQ(elem[1], 16u);
}

TEST(Virtqueue, PushAfterResetIsDropped) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRam, 1 << 20).ok());
  Virtqueue q(mem, 0);
  ASSERT_TRUE(q.enable({4, kRam, kRam + 0x1000, kRam + 0x2000}, 4).ok());
  VirtqChain stale;
  stale.generation = 0;  // before enable
  auto r = q.push(stale, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
}

TEST(Virtqueue, EnableRejectsBadLayouts) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRam, 1 << 20).ok());
  Virtqueue q(mem, 0);
  EXPECT_FALSE(q.enable({0, kRam, kRam + 0x1000, kRam + 0x2000}, 16).ok());
  EXPECT_FALSE(q.enable({32, kRam, kRam + 0x1000, kRam + 0x2000}, 16).ok());  // > max
  EXPECT_FALSE(q.enable({16, kRam + 8, kRam + 0x1000, kRam + 0x2000}, 16).ok());
  EXPECT_FALSE(q.enable({16, kRam, kRam + 0x1001, kRam + 0x2000}, 16).ok());
  EXPECT_FALSE(q.enable({16, kRam, kRam + 0x1000, kRam + 0x2002}, 16).ok());
  EXPECT_FALSE(q.enable({16, kRam, kRam + 0x1000, kRam + (1 << 20) - 8}, 16).ok());
  EXPECT_FALSE(q.ready());
  EXPECT_TRUE(q.enable({16, kRam, kRam + 0x1000, kRam + 0x2000}, 16).ok());
  EXPECT_TRUE(q.ready());
}

}  // namespace
}  // namespace modiommu::hw::virtio::testing
