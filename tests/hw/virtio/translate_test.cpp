// virtio-iommu DMA translation, bypass policy and fault events (virtio 1.2
// 5.13.4, 5.13.6.9), and concurrent DMA during request processing.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "hw/dma.h"
#include "test_driver.h"

namespace modiommu::hw::virtio::testing {
namespace {

using namespace viommu;
using Kind = TranslateOutcome::Kind;

TEST(VirtioIommuTranslate, MappedRangeTranslatesWithSpanToMappingEnd) {
  TestDriver d;
  d.init();
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.map(1, 0x100000, 0x103fff, kRam + 0x20000, kMapFRead | kMapFWrite), kSOk);
  auto t = d.iommu->translate(0x10, 0x101234, Access::write);
  EXPECT_EQ(t.kind, Kind::translated);
  EXPECT_EQ(t.pa, kRam + 0x21234);
  EXPECT_EQ(t.span, 0x104000u - 0x101234u);
  EXPECT_EQ(d.iommu->translate(0x10, 0x104000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(d.iommu->translate(0x10, 0xfffff, Access::read).kind, Kind::faulted);
}

TEST(VirtioIommuTranslate, BurstMatchesPieceByPiece) {
  TestDriver d;
  d.init();
  d.post_event_buffers(2);
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.map(1, 0x10000, 0x11fff, kRam + 0x80000, kMapFRead), kSOk);
  ASSERT_EQ(d.map(1, 0x12000, 0x12fff, kRam + 0x10000, kMapFRead), kSOk);
  TranslateOutcome fast[8], slow[8];
  const size_t n = d.iommu->translate_burst(0x10, 0x10800, 0x4000, Access::read, fast, 8);
  const size_t m = d.iommu->DmaTranslator::translate_burst(0x10, 0x10800, 0x4000, Access::read, slow, 8);
  ASSERT_EQ(n, 3u);
  ASSERT_EQ(m, n);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(fast[i].kind, slow[i].kind) << i;
    EXPECT_EQ(fast[i].pa, slow[i].pa) << i;
    EXPECT_EQ(fast[i].span, slow[i].span) << i;
  }
  EXPECT_EQ(fast[0].pa, kRam + 0x80800);
  EXPECT_EQ(fast[0].span, 0x1800u);
  EXPECT_EQ(fast[1].pa, kRam + 0x10000);
  EXPECT_EQ(fast[2].kind, Kind::faulted);
  Fault f{};
  ASSERT_TRUE(d.next_fault(&f));
  EXPECT_EQ(f.address, 0x13000u);  // the piece that faulted
  // Length clamps the last span; max bounds the count.
  ASSERT_EQ(d.iommu->translate_burst(0x10, 0x10000, 0x2100, Access::read, fast, 8), 2u);
  EXPECT_EQ(fast[1].span, 0x100u);
  EXPECT_EQ(d.iommu->translate_burst(0x10, 0x10000, 0x3000, Access::read, fast, 1), 1u);
  EXPECT_EQ(d.iommu->translate_burst(0x10, 0x10000, 0, Access::read, fast, 8), 0u);
}

TEST(VirtioIommuTranslate, PermissionsFromMapFlags) {
  TestDriver d;
  d.init();
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.map(1, 0x0, 0xfff, kRam, kMapFRead), kSOk);
  ASSERT_EQ(d.map(1, 0x1000, 0x1fff, kRam, kMapFWrite), kSOk);
  EXPECT_EQ(d.iommu->translate(0x10, 0x10, Access::read).kind, Kind::translated);
  EXPECT_EQ(d.iommu->translate(0x10, 0x10, Access::write).kind, Kind::faulted);
  EXPECT_EQ(d.iommu->translate(0x10, 0x1010, Access::write).kind, Kind::translated);
  EXPECT_EQ(d.iommu->translate(0x10, 0x1010, Access::read).kind, Kind::faulted);
}

TEST(VirtioIommuTranslate, DomainsAreIsolated) {
  TestDriver d;
  d.init();
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.attach(2, 0x11), kSOk);
  ASSERT_EQ(d.map(1, 0x0, 0xfff, kRam, kMapFRead), kSOk);
  EXPECT_EQ(d.iommu->translate(0x10, 0x0, Access::read).kind, Kind::translated);
  EXPECT_EQ(d.iommu->translate(0x11, 0x0, Access::read).kind, Kind::faulted);
}

TEST(VirtioIommuTranslate, UnmapStopsTranslation) {
  TestDriver d;
  d.init();
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.map(1, 0x0, 0xfff, kRam, kMapFRead), kSOk);
  ASSERT_EQ(d.unmap(1, 0x0, 0xfff), kSOk);
  EXPECT_EQ(d.iommu->translate(0x10, 0x0, Access::read).kind, Kind::faulted);
}

TEST(VirtioIommuTranslate, BypassDomainPassesThrough) {
  TestDriver d;
  d.init();
  ASSERT_EQ(d.attach(1, 0x10, kAttachFBypass), kSOk);
  auto t = d.iommu->translate(0x10, 0x12345678, Access::write);
  EXPECT_EQ(t.kind, Kind::bypassed);
  EXPECT_EQ(t.pa, 0x12345678u);
  EXPECT_GE(t.span, 1u);
}

TEST(VirtioIommuTranslate, UnattachedFollowsBypassConfigField) {
  TestDriver d;
  d.init();
  EXPECT_EQ(d.iommu->translate(0x10, 0x1000, Access::read).kind, Kind::faulted);  // bypass = 0
  d.bus.write(kMmioBase + mmio::kConfig + 36, 1, 1);
  EXPECT_EQ(d.iommu->translate(0x10, 0x1000, Access::read).kind, Kind::bypassed);
  ASSERT_EQ(d.attach(1, 0x10), kSOk);  // attached: the domain decides
  EXPECT_EQ(d.iommu->translate(0x10, 0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(d.iommu->translate(0x99, 0x1000, Access::read).kind, Kind::faulted);  // unknown endpoint
}

TEST(VirtioIommuTranslate, BypassConfigIgnoredWhenNotNegotiated) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.bypass = 1;
  TestDriver d(o);
  d.init(kFVersion1 | kFMapUnmap);
  EXPECT_EQ(d.iommu->translate(0x10, 0x1000, Access::read).kind, Kind::faulted);
  d.init(kFVersion1 | kFMapUnmap | kFBypassConfig);
  EXPECT_EQ(d.iommu->translate(0x10, 0x1000, Access::read).kind, Kind::bypassed);
}

TEST(VirtioIommuTranslate, LegacyBypassFeature) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.features |= kFBypass;
  TestDriver d(o);
  d.init(kFVersion1 | kFMapUnmap | kFBypass);
  EXPECT_EQ(d.iommu->translate(0x10, 0x1000, Access::read).kind, Kind::bypassed);
}

TEST(VirtioIommuTranslate, BootBypassBeforeFeaturesOk) {
  VirtioIommuOptions o = TestDriver::default_opts();
  o.boot_bypass = true;
  TestDriver d(o);
  EXPECT_EQ(d.iommu->translate(0x10, 0x1000, Access::read).kind, Kind::bypassed);
  d.init(kFVersion1 | kFMapUnmap);
  EXPECT_EQ(d.iommu->translate(0x10, 0x1000, Access::read).kind, Kind::faulted);
}

TEST(VirtioIommuFaults, MappingFaultDeliveredWithFields) {
  TestDriver d;
  d.init();
  d.post_event_buffers(2);
  ASSERT_EQ(d.attach(1, 0x11), kSOk);
  const uint64_t irqs = d.irq_count();
  EXPECT_EQ(d.iommu->translate(0x11, 0xdead000, Access::write).kind, Kind::faulted);
  Fault f{};
  uint32_t len = 0;
  ASSERT_TRUE(d.next_fault(&f, &len));
  EXPECT_EQ(len, sizeof(Fault));
  EXPECT_EQ(f.reason, kFaultRMapping);
  EXPECT_EQ(f.flags, kFaultFWrite | kFaultFAddress);
  EXPECT_EQ(f.endpoint, 0x11u);
  EXPECT_EQ(f.address, 0xdead000u);
  EXPECT_GT(d.irq_count(), irqs);
  EXPECT_EQ(d.iommu->stats().faults_reported, 1u);
}

TEST(VirtioIommuFaults, UnattachedEndpointIsDomainFault) {
  TestDriver d;
  d.init();
  d.post_event_buffers(1);
  EXPECT_EQ(d.iommu->translate(0x12, 0x4000, Access::read).kind, Kind::faulted);
  Fault f{};
  ASSERT_TRUE(d.next_fault(&f));
  EXPECT_EQ(f.reason, kFaultRDomain);
  EXPECT_EQ(f.flags, kFaultFRead | kFaultFAddress);
  EXPECT_EQ(f.endpoint, 0x12u);
}

TEST(VirtioIommuFaults, UnknownEndpointIsUnknownFault) {
  TestDriver d;
  d.init();
  d.post_event_buffers(1);
  EXPECT_EQ(d.iommu->translate(0x77, 0x4000, Access::read).kind, Kind::faulted);
  Fault f{};
  ASSERT_TRUE(d.next_fault(&f));
  EXPECT_EQ(f.reason, kFaultRUnknown);
  EXPECT_EQ(f.endpoint, 0x77u);
}

TEST(VirtioIommuFaults, NoEventBufferCountsLost) {
  TestDriver d;
  d.init();
  d.post_event_buffers(1);
  d.iommu->translate(0x10, 0x0, Access::read);
  d.iommu->translate(0x10, 0x1000, Access::read);
  d.iommu->translate(0x10, 0x2000, Access::read);
  EXPECT_EQ(d.iommu->stats().faults_reported, 1u);
  EXPECT_EQ(d.iommu->stats().faults_lost, 2u);
  Fault f{};
  ASSERT_TRUE(d.next_fault(&f));
  EXPECT_EQ(f.address, 0x0u);
  EXPECT_FALSE(d.next_fault(&f));
}

TEST(VirtioIommuFaults, TooSmallEventBufferReturnedEmpty) {
  TestDriver d;
  d.init();
  d.post_event_buffers(1, 8);
  d.iommu->translate(0x10, 0x0, Access::read);
  Fault f{};
  uint32_t len = 99;
  ASSERT_TRUE(d.next_fault(&f, &len));
  EXPECT_EQ(len, 0u);
  EXPECT_EQ(d.iommu->stats().faults_lost, 1u);
  EXPECT_FALSE(d.reg(mmio::kStatus) & kStatusNeedsReset);
}

// The transport unbinds the model when it goes away; a translator still held
// by DMA masters then reports faults as lost instead of touching freed queues.
TEST(VirtioIommuFaults, FaultAfterTransportGoneIsLost) {
  TestDriver d;
  d.init();
  d.post_event_buffers(1);
  ASSERT_TRUE(d.bus.unmap(kMmioBase).ok());
  d.transport.reset();
  EXPECT_EQ(d.iommu->translate(0x10, 0x0, Access::read).kind, Kind::faulted);
  EXPECT_EQ(d.iommu->stats().faults_lost, 1u);
  EXPECT_EQ(d.iommu->stats().faults_reported, 0u);
}

// Interrupts are raised with no transport lock held: a handler may read and
// acknowledge InterruptStatus (and kick the event queue) from the callback.
TEST(VirtioIommuFaults, HandlerMayAccessRegistersFromInterrupt) {
  TestDriver d;
  d.init();
  std::atomic<int> acked{0};
  d.irq_.add_listener([&] {
    const uint32_t isr = d.reg(mmio::kInterruptStatus);
    d.set_reg(mmio::kInterruptAck, isr);
    d.set_reg(mmio::kQueueNotify, 1);
    if (isr) ++acked;
  });
  d.post_event_buffers(1);
  EXPECT_EQ(d.attach(1, 0x10), kSOk);
  d.iommu->translate(0x10, 0x5000, Access::read);
  EXPECT_EQ(acked.load(), 2);
  EXPECT_EQ(d.reg(mmio::kInterruptStatus), 0u);
  Fault f{};
  ASSERT_TRUE(d.next_fault(&f));
  EXPECT_EQ(f.address, 0x5000u);
}

TEST(VirtioIommuDma, UpstreamPortMovesDataThroughMapping) {
  TestDriver d;
  d.init();
  auto port = std::make_unique<UpstreamPort>(d.mem);
  port->set_translator(d.iommu, 0x10);
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  ASSERT_EQ(d.map(1, 0x10000, 0x11fff, kRam + 0x400000, kMapFRead | kMapFWrite), kSOk);
  const char msg[] = "through the virtio-iommu";
  ASSERT_TRUE(port->write(0x10ff8, msg, sizeof msg).ok());  // crosses a page
  char back[sizeof msg] = {};
  ASSERT_TRUE(d.mem.read(kRam + 0x400ff8, back, sizeof back).ok());
  EXPECT_STREQ(back, msg);
  DmaFault fault;
  EXPECT_FALSE(port->read(0x12000, back, 4, &fault).ok());
  EXPECT_EQ(fault.iova, 0x12000u);
}

// DMA threads translate while the driver maps and unmaps: every answer must
// be either the mapped address or a fault, never a stale or torn one.
TEST(VirtioIommuDma, ConcurrentTranslateAndRequests) {
  TestDriver d;
  d.init();
  ASSERT_EQ(d.attach(1, 0x10), kSOk);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> translated{0}, bad{0};
  std::vector<std::thread> dma;
  for (int t = 0; t < 2; ++t)
    dma.emplace_back([&] {
      while (!stop.load()) {
        for (uint64_t page = 0; page < 8; ++page) {
          auto r = d.iommu->translate(0x10, page * 0x1000 + 8, Access::read);
          if (r.kind == Kind::translated) {
            ++translated;
            if (r.pa != kRam + 0x200000 + page * 0x1000 + 8) ++bad;
          } else if (r.kind != Kind::faulted) {
            ++bad;
          }
        }
      }
    });
  for (int round = 0; round < 200; ++round) {
    ASSERT_EQ(d.map(1, 0x0, 0x7fff, kRam + 0x200000, kMapFRead), kSOk);
    ASSERT_EQ(d.unmap(1, 0x0, 0x7fff), kSOk);
  }
  ASSERT_EQ(d.map(1, 0x0, 0x7fff, kRam + 0x200000, kMapFRead), kSOk);
  while (translated.load() == 0) std::this_thread::yield();
  stop = true;
  for (auto& t : dma) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(translated.load(), 0u);
}

}  // namespace
}  // namespace modiommu::hw::virtio::testing
