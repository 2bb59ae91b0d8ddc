// The virtio-iommu driver module against the virtio-iommu device model
// behind the virtio-mmio transport: probe (registers, bypass off, IOMMU
// registered), masters attached to DMA domains, DMA verified and
// translated, unmap then fault through the event queue, domain ID
// exhaustion, a device without MAP_UNMAP refused, reserved regions, map
// before attach (replay), the no-split unmap rule, rmmod under DMA.
#include <algorithm>
#include <atomic>
#include <thread>

#include "core/pci.h"
#include "drivers/virtio/virtio.h"
#include "viommu_kernel.h"

namespace modiommu::viommutest {
namespace {

using iommu::DmaDirection;
using iommu::DomainType;
namespace uv = uapi::viommu;
namespace mmio = uapi::virtio_mmio;

constexpr uint32_t kStatusAll = 0xf;  // ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK

// Loaded, bound, registered: the transport's registers say DRIVER_OK with
// MAP_UNMAP negotiated, bypass is off, every master sits in a DMA domain.
TEST(VirtioIommu, ModprobeBindsRegistersAndAttachesMasters) {
  VKernel v;
  ASSERT_TRUE(v.booted);
  // Before the driver: masters wait for the IOMMU.
  for (Device* m : v.masters()) EXPECT_EQ(m->state(), DeviceState::deferred) << m->name();
  Status s = v.modprobe();
  ASSERT_TRUE(s.ok()) << s.error().str();
  EXPECT_NE(v.k.modules().find("virtio"), nullptr) << "depmod should have made virtio_iommu depend on virtio";
  Device* vd = v.vdev();
  ASSERT_NE(vd, nullptr);
  EXPECT_EQ(vd->state(), DeviceState::bound);
  ASSERT_EQ(v.k.iommu().iommus().size(), 1u);
  const iommu::IommuInstance* inst = v.k.iommu().iommus()[0];
  EXPECT_EQ(inst->driver, "virtio-iommu");
  EXPECT_EQ(inst->name, vd->name());
  EXPECT_EQ(inst->fwnode, v.transport()->fwnode());

  IoMem io = v.regs(v.transport());
  EXPECT_EQ(io.readl(mmio::kStatus), kStatusAll);
  // DriverFeatures is write-only (4.2.2): the negotiated set as the core
  // recorded it.
  const uint64_t drv = static_cast<virtio::VirtioDevice*>(vd)->features();
  EXPECT_TRUE(drv & uv::kFMapUnmap);
  EXPECT_TRUE(drv & uv::kFBypassConfig);
  EXPECT_FALSE(drv & uv::kFBypass) << "legacy bypass must not be negotiated";
  EXPECT_EQ(io.readl(mmio::kConfig + offsetof(uv::Config, bypass)) & 0xff, 0u) << "bypass left on";

  auto model = v.model();
  ASSERT_NE(model, nullptr);
  auto ms = v.masters();
  ASSERT_EQ(ms.size(), 3u);
  std::set<int64_t> domains;
  for (Device* m : ms) {
    EXPECT_EQ(m->state(), DeviceState::bound) << m->name();
    auto info = v.k.iommu().info(*m);
    ASSERT_TRUE(info) << m->name();
    EXPECT_EQ(info->iommu, vd->name());
    ASSERT_TRUE(info->domain);
    EXPECT_EQ(*info->domain, DomainType::dma);
    ASSERT_EQ(info->stream_ids.size(), 1u);
    const int64_t dom = model->endpoint_domain(info->stream_ids[0]);
    EXPECT_GE(dom, 0) << m->name() << " not attached on the device";
    domains.insert(dom);
  }
  EXPECT_EQ(domains.size(), 3u) << "each master has its own group, hence domain";
  // PROBE ran and the default MSI window was logged.
  EXPECT_NE(v.log().find("reserved MSI region [0x8000000, 0x80fffff]"), std::string::npos) << v.log();
}

// DMA through the DMA API: the data arrives, the device translated it (a
// mapping existed on the device while it ran), nothing escaped.
TEST(VirtioIommu, DmaApiMappingsTranslateAndVerify) {
  VKernel v;
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  auto model = v.model();
  ASSERT_NE(model, nullptr);
  for (Device* m : v.masters()) {
    const uint64_t maps_before = model->stats().mappings;
    std::vector<uint8_t> data;
    const uint64_t pa = v.filled_page(7, &data);
    auto iova = v.k.dma().map_single(*m, pa, 4096, DmaDirection::bidirectional);
    ASSERT_TRUE(iova.ok()) << iova.error().str();
    EXPECT_NE(*iova, pa) << "an IOVA, not the physical address";
    EXPECT_EQ(model->stats().mappings, maps_before + 1);
    uint64_t sum = 0;
    EXPECT_EQ(v.transfer(m, *iova, 4096, false, 0, &sum), DmaTest::kStatusDone);
    EXPECT_EQ(sum, DmaTest::checksum(data.data(), data.size()));
    EXPECT_EQ(v.transfer(m, *iova + 512, 1024, true, 99), DmaTest::kStatusDone);
    std::vector<uint8_t> want(1024), got(1024);
    DmaTest::pattern_fill(99, want.data(), want.size());
    ASSERT_TRUE(v.mem().read(pa + 512, got.data(), got.size()).ok());
    EXPECT_EQ(got, want);
    ASSERT_TRUE(v.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::bidirectional).ok());
    EXPECT_EQ(model->stats().mappings, maps_before);
    ASSERT_TRUE(v.k.pages().free(pa).ok());
  }
  // The dmatest driver's own verified transfers.
  for (Device* m : v.masters())
    EXPECT_TRUE(v.harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 65536); }).ok());
  EXPECT_EQ(v.escapes(), 0u);
}

// After unmap, the same IOVA faults; the fault comes back on the event
// queue and is counted on the device, with the MAPPING reason.
TEST(VirtioIommu, UnmapThenDmaFaultsThroughTheEventQueue) {
  VKernel v;
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  auto model = v.model();
  Device* m = v.masters()[0];
  const uint64_t pa = v.filled_page(3);
  auto iova = v.k.dma().map_single(*m, pa, 4096, DmaDirection::bidirectional);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(v.transfer(m, *iova, 4096, true, 5), DmaTest::kStatusDone);
  ASSERT_TRUE(v.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::bidirectional).ok());
  const uint64_t reported = model->stats().faults_reported;
  for (int i = 0; i < 100; ++i) {  // more faults than event buffers: they are re-posted
    EXPECT_TRUE(v.transfer(m, *iova, 4096, true, 5) & DmaTest::kStatusFault) << i;
  }
  EXPECT_EQ(model->stats().faults_reported, reported + 100);
  EXPECT_EQ(model->stats().faults_lost, 0u) << "event buffers were not re-posted";
  auto info = v.k.iommu().info(*m);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->faults, 100u);
  EXPECT_NE(v.log().find(fmt::format("DMA fault: MAPPING write at iova {:#x}", *iova)), std::string::npos) << v.log();
  // Other masters saw none.
  EXPECT_EQ(v.k.iommu().info(*v.masters()[1])->faults, 0u);
  EXPECT_EQ(v.escapes(), 0u);
}

// An unmanaged domain: mapped before it is attached (the device has no such
// domain yet: the shadow is replayed by the first ATTACH), the MSI window
// the PROBE reported is refused, a mapping is never split, detach returns
// the master to its DMA domain.
TEST(VirtioIommu, UnmanagedDomainReplayReservedRegionAndNoSplit) {
  VKernel v;
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  auto model = v.model();
  Device* m = v.masters()[0];
  auto d = v.k.iommu().domain_alloc_unmanaged(*m);
  ASSERT_TRUE(d.ok()) << d.error().str();
  iommu::IommuDomain& dom = **d;
  std::vector<uint8_t> data;
  const uint64_t pa = v.filled_page(11, &data);
  const uint64_t requests = model->stats().requests;
  ASSERT_TRUE(iommu::iommu_map(dom, 0x100000, pa, 4096, iommu::IOMMU_READ | iommu::IOMMU_WRITE).ok());
  EXPECT_EQ(model->stats().requests, requests) << "no MAP before the domain exists on the device";
  ASSERT_TRUE(v.k.iommu().attach_device(dom, *m).ok());
  EXPECT_EQ(model->stats().mappings, 1u + 0u) << "replayed on attach";
  uint64_t sum = 0;
  EXPECT_EQ(v.transfer(m, 0x100000, 4096, false, 0, &sum), DmaTest::kStatusDone);
  EXPECT_EQ(sum, DmaTest::checksum(data.data(), data.size()));

  // Reserved (MSI) region of the attached endpoint: refused, not mapped.
  Status r = iommu::iommu_map(dom, 0x8000000, pa, 4096, iommu::IOMMU_READ);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("reserved MSI region"), std::string::npos) << r.error().str();
  Status r2 = iommu::iommu_map(dom, 0x80ff000, pa, 0x2000, iommu::IOMMU_READ);
  EXPECT_FALSE(r2.ok()) << "overlapping the window's last page";
  EXPECT_TRUE(v.transfer(m, 0x8000000, 64, false) & DmaTest::kStatusFault);

  // One MAP of 8 KiB is one mapping: unmapping half of it removes nothing
  // (5.13.6.6), unmapping all of it removes it.
  auto pa2r = v.k.pages().alloc(0x2000, 0x2000);
  ASSERT_TRUE(pa2r.ok());
  const uint64_t pa2 = *pa2r;
  ASSERT_TRUE(iommu::iommu_map(dom, 0x200000, pa2, 0x2000, iommu::IOMMU_READ | iommu::IOMMU_WRITE).ok());
  EXPECT_EQ(iommu::iommu_unmap(dom, 0x200000, 0x1000), 0u);
  EXPECT_EQ(iommu::iommu_unmap(dom, 0x201000, 0x1000), 0u);
  auto phys = dom.iova_to_phys(0x201010);
  ASSERT_TRUE(phys.ok());
  EXPECT_EQ(*phys, pa2 + 0x1010);
  EXPECT_EQ(v.transfer(m, 0x201000, 4096, true, 3), DmaTest::kStatusDone);
  EXPECT_EQ(iommu::iommu_unmap(dom, 0x200000, 0x2000), 0x2000u);
  EXPECT_FALSE(dom.iova_to_phys(0x201010).ok());
  EXPECT_TRUE(v.transfer(m, 0x201000, 4096, true, 3) & DmaTest::kStatusFault);
  // Overlapping an existing mapping: refused.
  EXPECT_FALSE(iommu::iommu_map(dom, 0x100000, pa, 4096, iommu::IOMMU_READ).ok());

  v.k.iommu().detach_device(dom, *m);
  auto info = v.k.iommu().info(*m);
  ASSERT_TRUE(info && info->domain);
  EXPECT_EQ(*info->domain, DomainType::dma);
  // The device destroyed the unmanaged domain with its last endpoint.
  EXPECT_FALSE(v.transfer(m, 0x100000, 64, false) & DmaTest::kStatusDone);
  d->reset();
  EXPECT_TRUE(v.harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::read, 8192); }).ok());
  EXPECT_EQ(v.escapes(), 0u);
}

// Identity: ATTACH with the BYPASS flag (BYPASS_CONFIG negotiated); the
// master's DMA goes to physical addresses, by policy. Blocked: attached to
// a domain with no mapping, so everything faults.
TEST(VirtioIommu, IdentityAndBlockedDomains) {
  KernelOptions o = options();
  o.iommu.per_device["10000000.dma"] = DomainType::identity;
  o.iommu.per_device["10001000.dma"] = DomainType::blocked;
  VKernel v(o);
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  Device* id = v.dev("10000000.dma");
  Device* bl = v.dev("10001000.dma");
  ASSERT_TRUE(id && bl);
  ASSERT_EQ(id->state(), DeviceState::bound);
  EXPECT_EQ(*v.k.iommu().info(*id)->domain, DomainType::identity);
  std::vector<uint8_t> data;
  const uint64_t pa = v.filled_page(21, &data);
  uint64_t sum = 0;
  EXPECT_EQ(v.transfer(id, pa, 4096, false, 0, &sum), DmaTest::kStatusDone);
  EXPECT_EQ(sum, DmaTest::checksum(data.data(), data.size()));
  EXPECT_EQ(*v.k.iommu().info(*bl)->domain, DomainType::blocked);
  EXPECT_GE(v.model()->endpoint_domain(0x11), 0) << "blocked is a real, empty domain";
  EXPECT_TRUE(v.transfer(bl, pa, 4096, false) & DmaTest::kStatusFault);
  EXPECT_EQ(v.escapes(), 0u);
}

// Domain IDs come from [domain_start, domain_end]; running out is ENOSPC
// with a message, and a freed ID is reused.
TEST(VirtioIommu, DomainIdExhaustionIsCleanEnospc) {
  {
    std::lock_guard g(options_lock());
    test_options() = {};
    test_options().domain_start = 5;
    test_options().domain_end = 9;  // 5 IDs; 3 go to the masters' DMA domains
  }
  VKernel v(options(), test_tree(3));
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  Device* m = v.masters()[0];
  for (Device* x : v.masters()) {
    ASSERT_EQ(x->state(), DeviceState::bound);
    const int64_t dom = v.model()->endpoint_domain(v.k.iommu().info(*x)->stream_ids[0]);
    EXPECT_GE(dom, 5);
    EXPECT_LE(dom, 9);
  }
  std::vector<std::unique_ptr<iommu::IommuDomain>> held;
  for (int i = 0; i < 2; ++i) {
    auto d = v.k.iommu().domain_alloc_unmanaged(*m);
    ASSERT_TRUE(d.ok()) << i << ": " << d.error().str();
    held.push_back(std::move(d).value());
  }
  auto full = v.k.iommu().domain_alloc_unmanaged(*m);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Errc::nospc);
  EXPECT_NE(full.error().message.find("all 5 domain IDs of [5, 9] are in use"), std::string::npos)
      << full.error().str();
  held.pop_back();
  auto again = v.k.iommu().domain_alloc_unmanaged(*m);
  ASSERT_TRUE(again.ok()) << again.error().str();
  // The new domain works end to end with the reused ID.
  iommu::IommuDomain& dom = **again;
  const uint64_t pa = v.filled_page(1);
  ASSERT_TRUE(iommu::iommu_map(dom, 0x40000, pa, 4096, iommu::IOMMU_READ).ok());
  ASSERT_TRUE(v.k.iommu().attach_device(dom, *m).ok());
  EXPECT_EQ(v.transfer(m, 0x40000, 4096, false), DmaTest::kStatusDone);
  v.k.iommu().detach_device(dom, *m);
}

// A device that does not offer MAP_UNMAP cannot be programmed: the driver
// refuses it with a reason; with --missing-iommu=fail its masters stay off
// and their DMA aborts (never untranslated).
TEST(VirtioIommu, DeviceWithoutMapUnmapIsRefused) {
  {
    std::lock_guard g(options_lock());
    test_options() = {};
    test_options().features &= ~uv::kFMapUnmap;
  }
  KernelOptions o = options();
  o.iommu.missing = iommu::MissingIommu::fail;
  VKernel v(o, test_tree(2));
  ASSERT_TRUE(v.booted);
  (void)v.modprobe();
  Device* vd = v.vdev();
  ASSERT_NE(vd, nullptr);
  EXPECT_NE(vd->state(), DeviceState::bound);
  EXPECT_NE(v.log().find("does not offer VIRTIO_IOMMU_F_MAP_UNMAP"), std::string::npos) << v.log();
  EXPECT_TRUE(v.k.iommu().iommus().empty());
  IoMem io = v.regs(v.transport());
  EXPECT_TRUE(io.readl(mmio::kStatus) & 0x80) << "FAILED status bit";
  for (Device* m : v.masters()) {
    EXPECT_NE(m->state(), DeviceState::bound) << m->name();
    EXPECT_TRUE(v.transfer(m, 0x40000000, 64, false) & (DmaTest::kStatusFault | DmaTest::kStatusBadProg));
  }
  EXPECT_EQ(v.escapes(), 0u);
}

// A device config that makes no sense is refused with the field named.
TEST(VirtioIommu, BadConfigIsRefused) {
  {
    std::lock_guard g(options_lock());
    test_options() = {};
    test_options().page_size_mask = 0;
  }
  VKernel v(options(), test_tree(1));
  ASSERT_TRUE(v.booted);
  (void)v.modprobe();
  ASSERT_NE(v.vdev(), nullptr);
  EXPECT_NE(v.vdev()->state(), DeviceState::bound);
  EXPECT_NE(v.log().find("page_size_mask is 0"), std::string::npos) << v.log();
  EXPECT_TRUE(v.k.iommu().iommus().empty());
}

// Reserved regions from PROBE of another kind and place: logged, refused.
TEST(VirtioIommu, ReservedRegionFromProbeIsNeverMapped) {
  {
    std::lock_guard g(options_lock());
    test_options() = {};
    test_options().resv = {{uv::kResvMemTReserved, 0x300000, 0x3fffff}};
  }
  VKernel v(options(), test_tree(1));
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  EXPECT_NE(v.log().find("reserved memory region [0x300000, 0x3fffff]"), std::string::npos) << v.log();
  Device* m = v.masters()[0];
  auto d = v.k.iommu().domain_alloc_unmanaged(*m);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(v.k.iommu().attach_device(**d, *m).ok());
  const uint64_t pa = v.filled_page(2);
  EXPECT_FALSE(iommu::iommu_map(**d, 0x3ff000, pa, 4096, iommu::IOMMU_READ).ok());
  EXPECT_TRUE(iommu::iommu_map(**d, 0x400000, pa, 4096, iommu::IOMMU_READ).ok());
  EXPECT_EQ(v.model()->stats().mappings, 1u);
  v.k.iommu().detach_device(**d, *m);
}

// rmmod virtio_iommu while every master runs continuous DMA: the consumers
// are unbound first (device links), nothing escapes; modprobe restores.
TEST(VirtioIommu, RmmodUnderDmaUnbindsConsumersFirstAndReloadRestores) {
  VKernel v;
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  auto ms = v.masters();
  for (int cycle = 0; cycle < 5; ++cycle) {
    for (size_t j = 0; j < ms.size(); ++j) {
      ASSERT_EQ(ms[j]->state(), DeviceState::bound) << ms[j]->name() << " cycle " << cycle;
      Status s = v.harness.with_endpoint(*ms[j], [&](DmaEndpoint& ep) {
        return ep.start(j % 2 ? DmaXfer::read : DmaXfer::write, size_t{4096} << (cycle % 4));
      });
      ASSERT_TRUE(s.ok()) << s.error().str();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    RmmodFlags f;
    f.wait = true;
    Status r = v.k.modules().rmmod("virtio_iommu", f);
    ASSERT_TRUE(r.ok()) << r.error().str();
    for (Device* m : ms) EXPECT_EQ(m->state(), DeviceState::deferred) << m->name();
    EXPECT_TRUE(v.k.iommu().iommus().empty());
    EXPECT_EQ(v.escapes(), 0u) << "cycle " << cycle;
    // The device was reset: no domain survives, unattached DMA aborts
    // (BEHAVIOUR.md 3: never bypasses), even programmed by a rogue.
    EXPECT_EQ(v.model()->stats().domains, 0u);
    EXPECT_TRUE(v.transfer(ms[0], 0x40000000, 64, false) & DmaTest::kStatusFault);
    ASSERT_TRUE(v.modprobe().ok());
  }
  EXPECT_EQ(v.log().find("still attached"), std::string::npos) << v.log();
  EXPECT_EQ(v.log().find("corrupted"), std::string::npos);
  EXPECT_GT(sim::dma_totals(v.k).transfers, 0u);
  for (Device* m : ms)
    EXPECT_TRUE(v.harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 16384); }).ok());
  EXPECT_EQ(v.escapes(), 0u);
}

// A request the device refuses becomes an error naming the request, the
// status and the endpoint: here PROBE answers DEVERR (the properties do not
// fit the device's own probe_size), so the consumer's probe fails and its
// DMA still aborts.
TEST(VirtioIommu, FailedRequestNamesRequestStatusAndEndpoint) {
  {
    std::lock_guard g(options_lock());
    test_options() = {};
    test_options().probe_size = 16;  // a RESV_MEM property needs 24 bytes
  }
  VKernel v(options(), test_tree(1));
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  Device* m = v.masters()[0];
  EXPECT_NE(m->state(), DeviceState::bound);
  EXPECT_NE(v.log().find("PROBE for 10000000.dma endpoint 0x10 failed: status DEVERR (3)"), std::string::npos)
      << v.log();
  EXPECT_TRUE(v.transfer(m, 0x40000000, 64, false) & DmaTest::kStatusFault);
  EXPECT_EQ(v.escapes(), 0u);
}

// Map/unmap on several threads (each master its own domain, plus two
// threads sharing one), with faults raised meanwhile on another master:
// every transfer verifies, every fault is delivered, nothing escapes.
TEST(VirtioIommu, ConcurrentMapUnmapAndFaults) {
  VKernel v;
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  auto ms = v.masters();
  ASSERT_EQ(ms.size(), 3u);
  auto model = v.model();
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&, t] {
      Device* m = ms[t == 0 ? 0 : 1];  // threads 1 and 2 share master 1's domain
      iommu::IommuDomain* dom = v.k.iommu().device_domain(*m);
      if (!dom) { bad++; return; }
      for (int i = 0; i < 150; ++i) {
        auto pa = v.k.pages().alloc(4096);
        if (!pa.ok()) { bad++; return; }
        auto iova = v.k.dma().map_single(*m, *pa, 4096, DmaDirection::bidirectional);
        if (!iova.ok()) { bad++; return; }
        auto phys = dom->iova_to_phys(*iova);
        if (!phys.ok() || *phys != *pa) bad++;
        if (!v.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::bidirectional).ok()) bad++;
        (void)v.k.pages().free(*pa);
      }
    });
  ts.emplace_back([&] {
    for (int i = 0; i < 200; ++i)
      if (!(v.transfer(ms[2], 0x7000000 + 4096 * uint64_t(i), 256, true) & DmaTest::kStatusFault)) bad++;
  });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(v.k.iommu().info(*ms[2])->faults, 200u);
  EXPECT_EQ(model->stats().faults_lost, 0u);
  EXPECT_EQ(model->stats().mappings, 0u);
  EXPECT_EQ(v.escapes(), 0u);
}

// rmmod of the transport under DMA: the virtio device goes, which unbinds
// virtio-iommu, which unbinds its consumers first; reload restores.
TEST(VirtioIommu, TransportRmmodUnderDmaUnbindsConsumersFirst) {
  VKernel v;
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  auto ms = v.masters();
  for (Device* m : ms)
    ASSERT_TRUE(v.harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.start(DmaXfer::write, 8192); }).ok());
  RmmodFlags f;
  f.wait = true;
  Status r = v.k.modules().rmmod("virtio_mmio", f);
  ASSERT_TRUE(r.ok()) << r.error().str();
  EXPECT_EQ(v.vdev(), nullptr);
  EXPECT_TRUE(v.k.iommu().iommus().empty());
  for (Device* m : ms) EXPECT_EQ(m->state(), DeviceState::deferred) << m->name();
  EXPECT_EQ(v.escapes(), 0u);
  ASSERT_TRUE(v.k.modules().modprobe("virtio_mmio").ok());
  for (Device* m : ms) {
    EXPECT_EQ(m->state(), DeviceState::bound) << m->name();
    EXPECT_TRUE(v.harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::read, 4096); }).ok());
  }
  EXPECT_EQ(v.escapes(), 0u);
  EXPECT_EQ(v.log().find("still attached"), std::string::npos) << v.log();
}

// Without BYPASS_CONFIG an ATTACH cannot ask for bypass: an identity
// default domain is refused (ENOTSUP, named), other masters are unaffected,
// and nothing bypasses.
TEST(VirtioIommu, IdentityWithoutBypassConfigIsRefused) {
  {
    std::lock_guard g(options_lock());
    test_options() = {};
    test_options().features &= ~uv::kFBypassConfig;
  }
  KernelOptions o = options();
  o.iommu.per_device["10000000.dma"] = DomainType::identity;
  VKernel v(o, test_tree(2));
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  Device* id = v.dev("10000000.dma");
  Device* other = v.dev("10001000.dma");
  ASSERT_TRUE(id && other);
  EXPECT_NE(id->state(), DeviceState::bound);
  EXPECT_NE(v.log().find("identity domain needs VIRTIO_IOMMU_F_BYPASS_CONFIG"), std::string::npos) << v.log();
  EXPECT_EQ(other->state(), DeviceState::bound);
  EXPECT_TRUE(v.harness.with_endpoint(*other, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 4096); }).ok());
  EXPECT_TRUE(v.transfer(id, 0x40000000, 64, false) & DmaTest::kStatusFault);
  EXPECT_EQ(v.escapes(), 0u);
}

// PCI under a virtio-iommu (iommu-map of the host bridge names the
// virtio-mmio node): the two functions below a PCIe-to-PCI bridge share its
// alias requester ID, hence one endpoint and one group. Unbinding one of
// them must not DETACH the shared endpoint from under the other.
std::string pci_tree() {
  return "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
         " memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x40000000>; };\n"
         " gic: interrupt-controller@8000000 { compatible = \"arm,gic-v3\"; #interrupt-cells = <3>;"
         " #address-cells = <0>; interrupt-controller; reg = <0x0 0x8000000 0x0 0x10000>; };\n"
         " viommu: virtio_mmio@a000000 { compatible = \"virtio,mmio\"; reg = <0x0 0xa000000 0x0 0x200>;"
         " interrupts = <0 16 1>; dma-coherent; modiommu,virtio-device = \"iommu\"; #iommu-cells = <1>; };\n"
         " pcie@10000000 { compatible = \"pci-host-ecam-generic\"; device_type = \"pci\";"
         " reg = <0x40 0x10000000 0x0 0x1000000>; bus-range = <0x0 0xf>; #address-cells = <3>; #size-cells = <2>;"
         " ranges = <0x02000000 0x0 0x10000000 0x0 0x10000000 0x0 0x2eff0000>;"
         " iommu-map = <0x0 &viommu 0x0 0x10000>; dma-coherent;\n"
         "  dma@1,0 { compatible = \"modiommu,dmatest-pci\"; reg = <0x0800 0x0 0x0 0x0 0x0>; };\n"
         "  pci@4,0 { compatible = \"modiommu,pcie-to-pci-bridge\"; reg = <0x2000 0x0 0x0 0x0 0x0>;"
         " #address-cells = <3>; #size-cells = <2>;\n"
         "   dma@1,0 { compatible = \"modiommu,dmatest-pci\"; reg = <0x30800 0x0 0x0 0x0 0x0>; };\n"
         "   dma@2,0 { compatible = \"modiommu,dmatest-pci\"; reg = <0x31000 0x0 0x0 0x0 0x0>; };\n"
         "  };\n };\n};\n";
}

TEST(VirtioIommu, PciAliasSharedEndpointSurvivesOneFunctionLeaving) {
  VKernel v(options(false, {"dmatest", "virtio_mmio", "pci_host_generic"}), pci_tree());
  ASSERT_TRUE(v.booted && v.modprobe().ok());
  Device* a = v.dev("0000:03:01.0");
  Device* b = v.dev("0000:03:02.0");
  Device* root = v.dev("0000:00:01.0");
  ASSERT_TRUE(a && b && root) << v.log();
  for (Device* d : {a, b, root}) ASSERT_EQ(d->state(), DeviceState::bound) << d->name() << "\n" << v.log();
  auto ia = v.k.iommu().info(*a), ib = v.k.iommu().info(*b), ir = v.k.iommu().info(*root);
  ASSERT_TRUE(ia && ib && ir);
  // Each carries its own RID and the bridge's alias (bus 3, devfn 0); the
  // device knows only the alias, the RID the bus actually carries.
  const uint32_t alias = 0x300;
  EXPECT_EQ(std::count(ia->stream_ids.begin(), ia->stream_ids.end(), alias), 1);
  EXPECT_EQ(std::count(ib->stream_ids.begin(), ib->stream_ids.end(), alias), 1);
  EXPECT_EQ(ia->group, ib->group);
  EXPECT_NE(ia->group, ir->group);
  EXPECT_LT(v.model()->endpoint_domain(0x308), 0);
  const int64_t dom = v.model()->endpoint_domain(alias);
  EXPECT_GE(dom, 0);
  for (Device* d : {a, b, root})
    EXPECT_TRUE(v.harness.with_endpoint(*d, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 8192); }).ok())
        << d->name();
  // A function leaves (hot removal); the other keeps the alias. Unbinding
  // alone would not detach: a PCI device stays in its group until removed.
  PciHost* host = v.k.pci().host_of(*to_pci(a));
  ASSERT_NE(host, nullptr);
  ASSERT_TRUE(host->remove_function(0x308).ok());
  EXPECT_EQ(v.model()->endpoint_domain(alias), dom) << "the other function still uses the alias";
  EXPECT_TRUE(v.harness.with_endpoint(*b, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::read, 8192); }).ok());
  ASSERT_TRUE(v.k.core().unbind(*b).ok());
  EXPECT_EQ(v.model()->endpoint_domain(alias), dom) << "unbound, still in its group";
  ASSERT_TRUE(host->remove_function(0x310).ok());
  EXPECT_LT(v.model()->endpoint_domain(alias), 0) << "the last user detached it";
  EXPECT_EQ(v.escapes(), 0u);
}

// Autoload: the virtio-mmio node's "of:" alias loads the transport, whose
// virtio device's "virtio:d00000017v..." modalias loads virtio_iommu (this
// module's alias); the masters come up behind it with no modprobe.
TEST(VirtioIommu, AutoloadedThroughTheVirtioModalias) {
  VKernel v(options(true, {"dmatest"}));
  ASSERT_TRUE(v.booted);
  auto mod = v.k.modules().find("virtio_iommu");
  ASSERT_NE(mod, nullptr) << v.log();
  ASSERT_NE(v.vdev(), nullptr);
  EXPECT_EQ(v.vdev()->state(), DeviceState::bound);
  for (Device* m : v.masters()) {
    EXPECT_EQ(m->state(), DeviceState::bound) << m->name();
    EXPECT_TRUE(v.harness.with_endpoint(*m, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 4096); }).ok());
  }
  EXPECT_EQ(v.escapes(), 0u);
}

}  // namespace
}  // namespace modiommu::viommutest
