// The virtio-pci device model (virtio 1.2 4.1) driven through configuration
// space and its BAR: capabilities, common configuration, negotiation, queue
// setup (and hostile layouts), notifications, ISR, reset, the PCI
// configuration access window, and a full virtio-iommu request.
#include <gtest/gtest.h>

#include "uapi/pci_regs.h"
#include "virtio_pci_driver.h"

namespace modiommu::hw::virtio::pcitest {
namespace {

namespace viommu_ = uapi::viommu;
using modiommu::uapi::pci::BAR0;

TEST(VirtioPciModel, IdentityAndCapabilitiesWalkFromConfigSpace) {
  PciDriver d;
  EXPECT_EQ(d.cfg(modiommu::uapi::pci::VENDOR_ID, 2), 0x1af4u);
  EXPECT_EQ(d.cfg(modiommu::uapi::pci::DEVICE_ID, 2), 0x1040u + viommu_::kDeviceId);
  EXPECT_EQ(d.cfg(modiommu::uapi::pci::REVISION, 1), 1u);               // 4.1.2.1: non-transitional
  EXPECT_EQ(d.cfg(0x2c, 2), 0x1af4u);                               // subsystem vendor
  EXPECT_GE(d.cfg(0x2e, 2), 0x40u);                                 // subsystem ID >= 0x40
  EXPECT_EQ(d.cfg(modiommu::uapi::pci::INTERRUPT_LINE + 1, 1), 1u);       // INTA
  EXPECT_NE(d.cfg(modiommu::uapi::pci::CLASS_PROG, 4) >> 8, 0u);
  // No legacy I/O BAR: BAR 0 is unimplemented.
  EXPECT_EQ(d.cfg(BAR0, 4), 0u);
  // BAR 4 is a 64-bit memory BAR of the advertised size (sizing, 6.2.5.1).
  const uint32_t lo = d.cfg(BAR0 + 16, 4);
  EXPECT_EQ(lo & 0x7, 0x4u);
  d.fn->config_write(BAR0 + 16, 0xffffffffu, 4);
  EXPECT_EQ(~(d.cfg(BAR0 + 16, 4) & ~0xfu) + 1, VirtioPci::kBarSize);
  d.fn->config_write(BAR0 + 16, lo, 4);
  EXPECT_EQ(d.bar_addr(4), kBarBase);

  for (uint8_t t : {vp::kCfgCommon, vp::kCfgNotify, vp::kCfgIsr, vp::kCfgDevice, vp::kCfgPci}) {
    ASSERT_EQ(d.cap_count[t], 1) << "cfg_type " << int(t);
    EXPECT_EQ(d.cfg(d.regions[t].cap + vp::kCapLen, 1),
              t == vp::kCfgNotify || t == vp::kCfgPci ? 20u : 16u);
  }
  for (uint8_t t : {vp::kCfgCommon, vp::kCfgNotify, vp::kCfgIsr, vp::kCfgDevice})
    EXPECT_EQ(d.regions[t].bar, VirtioPci::kBar) << int(t);
  EXPECT_GE(d.regions[vp::kCfgCommon].length, 0x38u);
  EXPECT_EQ(d.regions[vp::kCfgIsr].length, 1u);
  EXPECT_EQ(d.regions[vp::kCfgDevice].length, sizeof(viommu_::Config));
  EXPECT_EQ(d.notify_mult, VirtioPci::kNotifyMultiplier);
  // Every region lies inside the BAR.
  for (auto& [t, r] : d.regions) {
    if (t != vp::kCfgPci) {
      EXPECT_LE(r.addr + r.length, kBarBase + VirtioPci::kBarSize) << int(t);
    }
  }
}

TEST(VirtioPciModel, CommonConfigFields) {
  PciDriver d;
  EXPECT_EQ(d.rd(vp::kNumQueues, 2), 2u);
  const uint64_t f = d.device_features();
  EXPECT_TRUE(f & kFVersion1);
  EXPECT_TRUE(f & viommu_::kFMapUnmap);
  d.wr(vp::kDeviceFeatureSelect, 2, 4);
  EXPECT_EQ(d.rd(vp::kDeviceFeature, 4), 0u);
  EXPECT_EQ(d.rd(vp::kDeviceFeatureSelect, 4), 2u);
  // No MSI-X: both vectors read NO_VECTOR whatever is written.
  d.wr(vp::kConfigMsixVector, 3, 2);
  EXPECT_EQ(d.rd(vp::kConfigMsixVector, 2), vp::kMsiNoVector);
  EXPECT_EQ(d.rd(vp::kQueueMsixVector, 2), vp::kMsiNoVector);
  // Per-queue fields follow queue_select; out of range: size 0.
  d.wr(vp::kQueueSelect, 0, 2);
  EXPECT_EQ(d.rd(vp::kQueueSize, 2), 64u);
  const uint64_t n0 = d.rd(vp::kQueueNotifyOff, 2);
  d.wr(vp::kQueueSelect, 1, 2);
  EXPECT_EQ(d.rd(vp::kQueueSize, 2), 64u);
  EXPECT_NE(d.rd(vp::kQueueNotifyOff, 2), n0);
  d.wr(vp::kQueueSelect, 2, 2);
  EXPECT_EQ(d.rd(vp::kQueueSize, 2), 0u);
  d.wr(vp::kQueueSelect, 0xffff, 2);
  EXPECT_EQ(d.rd(vp::kQueueSelect, 2), 0xffffu);
  EXPECT_EQ(d.rd(vp::kQueueSize, 2), 0u);
  // 64-bit fields: whole, or either 32-bit half.
  d.wr(vp::kQueueSelect, 0, 2);
  d.wr(vp::kQueueDesc, 0x1122334455667700ull, 8);
  EXPECT_EQ(d.rd(vp::kQueueDesc, 4), 0x55667700u);
  EXPECT_EQ(d.rd(vp::kQueueDesc + 4, 4), 0x11223344u);
  d.wr(vp::kQueueDesc + 4, 0xaabbccdd, 4);
  EXPECT_EQ(d.rd(vp::kQueueDesc, 8), 0xaabbccdd55667700ull);
  // Wrong widths read 0 and write nothing (4.1.3.1).
  d.set_status(kStatusAcknowledge);
  EXPECT_EQ(d.rd(vp::kDeviceStatus, 2), 0u);
  EXPECT_EQ(d.rd(vp::kDeviceStatus, 1), kStatusAcknowledge);
  EXPECT_EQ(d.rd(vp::kNumQueues, 1), 0u);
  EXPECT_EQ(d.rd(vp::kDeviceFeatureSelect, 8), 0u);
  d.wr(vp::kQueueSelect, 1, 4);
  d.wr(vp::kQueueSize, 8, 1);
  EXPECT_EQ(d.rd(vp::kQueueSelect, 2), 0u);
  EXPECT_EQ(d.rd(vp::kQueueSize, 2), 64u);
  // Read-only fields ignore writes.
  d.wr(vp::kNumQueues, 9, 2);
  EXPECT_EQ(d.rd(vp::kNumQueues, 2), 2u);
}

TEST(VirtioPciModel, FeatureNegotiationAndRefusal) {
  PciDriver d;
  const uint64_t offered = d.device_features();
  EXPECT_FALSE(d.negotiate(offered & ~kFVersion1)) << "VERSION_1 is required";
  EXPECT_FALSE(d.negotiate(offered | (uint64_t{1} << 40))) << "a bit never offered";
  // DRIVER_OK without FEATURES_OK is refused.
  d.set_status(kStatusAcknowledge | kStatusDriver | kStatusDriverOk);
  EXPECT_FALSE(d.status() & kStatusDriverOk);
  ASSERT_TRUE(d.negotiate(kFVersion1 | viommu_::kFMapUnmap));
  // Features are frozen once FEATURES_OK is set.
  d.wr(vp::kDriverFeatureSelect, 0, 4);
  d.wr(vp::kDriverFeature, 0xffffffffu, 4);
  EXPECT_EQ(d.rd(vp::kDriverFeature, 4), static_cast<uint32_t>(viommu_::kFMapUnmap));
  // The driver cannot set DEVICE_NEEDS_RESET.
  d.set_status(d.status() | kStatusNeedsReset);
  EXPECT_FALSE(d.status() & kStatusNeedsReset);
}

TEST(VirtioPciModel, QueueSetupRules) {
  PciDriver d;
  // Before FEATURES_OK, queue_enable is ignored.
  d.program_queue(0, 16, kRam, kRam + 0x1000, kRam + 0x2000);
  d.wr(vp::kQueueEnable, 1, 2);
  EXPECT_EQ(d.rd(vp::kQueueEnable, 2), 0u);
  ASSERT_TRUE(d.negotiate(d.device_features()));
  d.setup_queue(0);
  EXPECT_EQ(d.rd(vp::kQueueEnable, 2), 1u);
  // Layout writes while enabled, and writing 0 to queue_enable, are ignored.
  d.wr(vp::kQueueDesc, kRam + 0x7000, 8);
  d.wr(vp::kQueueSize, 8, 2);
  d.wr(vp::kQueueEnable, 0, 2);
  EXPECT_EQ(d.rd(vp::kQueueDesc, 8), d.queues[0].desc);
  EXPECT_EQ(d.rd(vp::kQueueSize, 2), kQSize);
  EXPECT_EQ(d.rd(vp::kQueueEnable, 2), 1u);
  // Out-of-range select: nothing happens.
  d.wr(vp::kQueueSelect, 7, 2);
  d.wr(vp::kQueueEnable, 1, 2);
  EXPECT_EQ(d.rd(vp::kQueueEnable, 2), 0u);
  EXPECT_EQ(d.status() & kStatusNeedsReset, 0u);
}

TEST(VirtioPciModel, HostileLayoutsNeedReset) {
  struct Case {
    const char* what;
    uint16_t size;
    uint64_t desc, avail, used;
  };
  const Case cases[] = {
      {"size not a power of two", 12, kRam, kRam + 0x1000, kRam + 0x2000},
      {"size above the maximum", 128, kRam, kRam + 0x1000, kRam + 0x2000},
      {"size 0", 0, kRam, kRam + 0x1000, kRam + 0x2000},
      {"misaligned descriptor table", 16, kRam + 8, kRam + 0x1000, kRam + 0x2000},
      {"misaligned used ring", 16, kRam, kRam + 0x1000, kRam + 0x2002},
      {"ring outside RAM", 16, 0x1000, kRam + 0x1000, kRam + 0x2000},
      {"ring wrapping the address space", 16, ~0xfull, kRam + 0x1000, kRam + 0x2000},
  };
  for (const Case& c : cases) {
    PciDriver d;
    ASSERT_TRUE(d.negotiate(d.device_features()));
    const uint64_t irqs = d.irq.count();
    d.program_queue(0, c.size, c.desc, c.avail, c.used);
    d.wr(vp::kQueueEnable, 1, 2);
    EXPECT_EQ(d.rd(vp::kQueueEnable, 2), 0u) << c.what;
    EXPECT_TRUE(d.status() & kStatusNeedsReset) << c.what;
    EXPECT_FALSE(d.fn->last_device_error().empty()) << c.what;
    EXPECT_EQ(d.read_isr(), vp::kIsrConfig) << c.what;
    EXPECT_GT(d.irq.count(), irqs) << c.what;
    // Reset recovers.
    d.set_status(0);
    EXPECT_EQ(d.status(), 0u);
    EXPECT_TRUE(d.fn->last_device_error().empty());
  }
}

TEST(VirtioPciModel, NotifyReachesTheModelOnlyWhenLive) {
  PciDriver d;
  ASSERT_TRUE(d.negotiate(d.device_features()));
  d.setup_queue(0);
  d.setup_queue(1);
  // Before DRIVER_OK a notification is not acted on.
  viommu_::AttachBody b{};
  b.domain = 1;
  b.endpoint = 0x10;
  EXPECT_EQ(d.simple(viommu_::kReqAttach, b), 0xff);
  EXPECT_EQ(d.iommu->stats().requests, 0u);
  d.set_status(d.status() | kStatusDriverOk);
  // A byte-wide notify is ignored; a 16-bit one at the queue's address acts.
  d.bus.write(d.queues[0].notify, 0, 1);
  EXPECT_EQ(d.used_idx(0), 0);
  d.kick(0);
  EXPECT_EQ(d.used_idx(0), 1);  // the request made available earlier completed
  EXPECT_EQ(d.iommu->endpoint_domain(0x10), 1);
  EXPECT_EQ(d.iommu->stats().requests, 1u);
}

TEST(VirtioPciModel, IsrIsReadToClearAndRaisesIntx) {
  PciDriver d;
  d.init();
  const uint64_t irqs = d.irq.count();
  EXPECT_EQ(d.attach(1, 0x10), viommu_::kSOk);
  EXPECT_GT(d.irq.count(), irqs);
  EXPECT_EQ(d.bus.read(d.regions[vp::kCfgIsr].addr, 4), 0u) << "ISR is a byte";
  EXPECT_TRUE(d.cfg(modiommu::uapi::pci::STATUS, 2) & (1u << 3)) << "Interrupt Status follows the ISR";
  EXPECT_EQ(d.read_isr(), vp::kIsrQueue);
  EXPECT_FALSE(d.cfg(modiommu::uapi::pci::STATUS, 2) & (1u << 3));
  EXPECT_TRUE(d.cfg(modiommu::uapi::pci::STATUS, 2) & modiommu::uapi::pci::STATUS_CAP_LIST);
  EXPECT_EQ(d.read_isr(), 0u);
  // Interrupt Disable (Command bit 10): the ISR still records, the line stays quiet.
  d.fn->config_write(modiommu::uapi::pci::COMMAND, d.cfg(modiommu::uapi::pci::COMMAND, 2) | (1u << 10), 2);
  const uint64_t quiet = d.irq.count();
  EXPECT_EQ(d.map(1, 0x100000, 0x100fff, kRam, viommu_::kMapFRead), viommu_::kSOk);
  EXPECT_EQ(d.irq.count(), quiet);
  EXPECT_EQ(d.read_isr(), vp::kIsrQueue);
}

TEST(VirtioPciModel, ResetReturnsEverythingToDefaults) {
  PciDriver d;
  d.init();
  EXPECT_EQ(d.attach(3, 0x11), viommu_::kSOk);
  d.set_status(0);
  EXPECT_EQ(d.status(), 0u);
  EXPECT_EQ(d.iommu->endpoint_domain(0x11), -1);
  for (unsigned q = 0; q < 2; ++q) {
    d.wr(vp::kQueueSelect, q, 2);
    EXPECT_EQ(d.rd(vp::kQueueEnable, 2), 0u);
    EXPECT_EQ(d.rd(vp::kQueueSize, 2), 64u);
    EXPECT_EQ(d.rd(vp::kQueueDesc, 8), 0u);
  }
  d.wr(vp::kDriverFeatureSelect, 1, 4);
  EXPECT_EQ(d.rd(vp::kDriverFeature, 4), 0u);
  EXPECT_EQ(d.read_isr(), 0u);
  // And it comes back up.
  d.queues[0] = {};
  d.init();
  EXPECT_EQ(d.attach(3, 0x11), viommu_::kSOk);
}

TEST(VirtioPciModel, DeviceConfigAndGeneration) {
  PciDriver d;
  const uint64_t dev = d.regions[vp::kCfgDevice].addr;
  EXPECT_EQ(d.bus.read(dev + offsetof(viommu_::Config, page_size_mask), 8), 0xfffffffffffff000ull);
  EXPECT_EQ(d.bus.read(dev + offsetof(viommu_::Config, page_size_mask) + 4, 4), 0xffffffffu);
  EXPECT_EQ(d.bus.read(dev + offsetof(viommu_::Config, domain_end), 4), 0xffffu);
  EXPECT_EQ(d.bus.read(dev + sizeof(viommu_::Config), 4), 0u) << "past the config";
  // The generation reads back stable while nothing changes.
  EXPECT_EQ(d.rd(vp::kConfigGeneration, 1), d.rd(vp::kConfigGeneration, 1));
}

TEST(VirtioPciModel, PciConfigAccessWindow) {
  PciDriver d;
  const uint32_t pc = d.regions[vp::kCfgPci].cap;
  ASSERT_NE(pc, 0u);
  // Read num_queues through configuration space only (4.1.4.9).
  d.fn->config_write(pc + vp::kCapBar, VirtioPci::kBar, 1);
  d.fn->config_write(pc + vp::kCapOffset, VirtioPci::kCommonOff + vp::kNumQueues, 4);
  d.fn->config_write(pc + vp::kCapLength, 2, 4);
  EXPECT_EQ(d.cfg(pc + vp::kPciCfgData, 4) & 0xffff, 2u);
  // Write device_status through it.
  d.fn->config_write(pc + vp::kCapOffset, VirtioPci::kCommonOff + vp::kDeviceStatus, 4);
  d.fn->config_write(pc + vp::kCapLength, 1, 4);
  d.fn->config_write(pc + vp::kPciCfgData, kStatusAcknowledge, 4);
  EXPECT_EQ(d.status(), kStatusAcknowledge);
  // Bad length or BAR: ignored.
  d.fn->config_write(pc + vp::kCapLength, 3, 4);
  d.fn->config_write(pc + vp::kPciCfgData, 0, 4);
  EXPECT_EQ(d.status(), kStatusAcknowledge);
  d.fn->config_write(pc + vp::kCapLength, 1, 4);
  d.fn->config_write(pc + vp::kCapBar, 0, 1);
  d.fn->config_write(pc + vp::kPciCfgData, 0, 4);
  EXPECT_EQ(d.status(), kStatusAcknowledge);
}

TEST(VirtioPciModel, FullRequestTranslatesThroughTheIommuModel) {
  PciDriver d;
  d.init();
  EXPECT_EQ(d.attach(5, 0x10), viommu_::kSOk);
  EXPECT_EQ(d.map(5, 0x200000, 0x200fff, kRam + 0x300000, viommu_::kMapFRead | viommu_::kMapFWrite), viommu_::kSOk);
  auto t = d.iommu->translate(0x10, 0x200010, Access::write);
  EXPECT_EQ(t.kind, TranslateOutcome::Kind::translated);
  EXPECT_EQ(t.pa, kRam + 0x300010);
  EXPECT_EQ(d.iommu->translate(0x10, 0x201000, Access::read).kind, TranslateOutcome::Kind::faulted);
  // A broken chain on the request queue: DEVICE_NEEDS_RESET, config interrupt.
  d.write_desc(0, 0, d.queues[0].data, 8, kDescFNext, 0);  // loops on itself
  d.make_available(0, 0);
  EXPECT_TRUE(d.status() & kStatusNeedsReset);
  EXPECT_TRUE(d.read_isr() & vp::kIsrConfig);
}

}  // namespace
}  // namespace modiommu::hw::virtio::pcitest
