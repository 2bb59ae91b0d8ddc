// arm-smmu-v3 driver against the SMMUv3 model: probe and attach, DMA
// translated end to end, faults, identity/blocked domains, unbind leaving
// the hardware aborting, rebind, command errors, hitless domain switches.
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "iommu/iommu.h"
#include "smmu_kernel.h"

namespace modiommu::smmutest {
namespace {

using iommu::DmaDirection;
using iommu::DomainType;

TEST(SmmuV3Driver, ProbeAttachesEveryMaster) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  Device* smmu = s.smmu();
  ASSERT_NE(smmu, nullptr);
  EXPECT_EQ(smmu->state(), DeviceState::bound);
  auto masters = s.masters();
  ASSERT_EQ(masters.size(), 4u);
  const std::vector<uint32_t> want_sids = {0x10, 0x11, 0x20, 0x21};
  std::vector<uint32_t> sids;
  for (Device* m : masters) {
    EXPECT_EQ(m->state(), DeviceState::bound) << m->name();
    auto info = s.k.iommu().info(*m);
    ASSERT_TRUE(info.has_value()) << m->name();
    EXPECT_EQ(info->iommu, smmu->name());
    ASSERT_EQ(info->stream_ids.size(), 1u);
    sids.push_back(info->stream_ids[0]);
    ASSERT_TRUE(info->domain.has_value());
    EXPECT_EQ(*info->domain, DomainType::dma);
  }
  std::sort(sids.begin(), sids.end());
  EXPECT_EQ(sids, want_sids);
  // The hardware really is on: SMMUEN and the queues acknowledged.
  IoMem io = s.regs(smmu);
  EXPECT_EQ(io.readl(arm_smmu_v3::CR0ACK) & 0xd, 0xdu);
}

TEST(SmmuV3Driver, DmaMapSingleTranslatesBothDirections) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  Device* m = s.masters().at(0);
  std::vector<uint8_t> data;
  const uint64_t pa = s.filled_page(42, &data);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::bidirectional);
  ASSERT_TRUE(iova.ok()) << iova.error().str();
  EXPECT_NE(*iova, pa);  // a DMA domain hands out IOVAs, not physical addresses
  uint64_t sum = 0;
  EXPECT_EQ(s.read_from(m, *iova, 4096, &sum), DmaTest::kStatusDone);
  EXPECT_EQ(sum, DmaTest::checksum(data.data(), data.size()));

  // Device -> memory lands at the physical page behind the IOVA.
  EXPECT_EQ(s.write_to(m, *iova + 512, 1024, 7), DmaTest::kStatusDone);
  std::vector<uint8_t> want(1024), got(1024);
  DmaTest::pattern_fill(7, want.data(), want.size());
  ASSERT_TRUE(s.mem().read(pa + 512, got.data(), got.size()).ok());
  EXPECT_EQ(got, want);
  auto st = s.port(m).stats();
  EXPECT_GT(st.translated, 0u);
  EXPECT_EQ(st.bypassed, 0u);
  EXPECT_EQ(st.direct, 0u);
  EXPECT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::bidirectional).ok());
}

TEST(SmmuV3Driver, UnmappedIovaFaultIsReportedWithItsAddress) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  Device* m = s.masters().at(1);
  iommu::IommuDomain* dom = s.k.iommu().device_domain(*m);
  ASSERT_NE(dom, nullptr);
  std::mutex mu;
  std::vector<iommu::FaultInfo> seen;
  dom->set_fault_handler([&](Device*, const iommu::FaultInfo& f) {
    std::lock_guard g(mu);
    seen.push_back(f);
  });
  const uint64_t before = s.k.iommu().info(*m)->faults;
  const uint64_t bad = 0x7654321000;
  EXPECT_EQ(s.read_from(m, bad, 64), DmaTest::kStatusFault);
  EXPECT_EQ(s.regs(m).readq(DmaTest::kFAULT_ADDR), bad);
  EXPECT_EQ(s.k.iommu().info(*m)->faults, before + 1);
  auto snapshot = [&] {
    std::lock_guard g(mu);
    return seen;
  };
  ASSERT_EQ(snapshot().size(), 1u);
  EXPECT_EQ(snapshot()[0].iova, bad);
  EXPECT_EQ(snapshot()[0].stream_id, 0x11u);
  EXPECT_FALSE(snapshot()[0].write);
  EXPECT_EQ(snapshot()[0].reason, "F_TRANSLATION");
  // A write fault says so.
  EXPECT_EQ(s.write_to(m, bad + 0x2000, 64, 1), DmaTest::kStatusFault);
  seen = snapshot();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[1].write);
  EXPECT_EQ(seen[1].iova, bad + 0x2000);
}

TEST(SmmuV3Driver, StrictUnmapMakesTheOldIovaFault) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  Device* m = s.masters().at(2);
  const uint64_t pa = s.filled_page(3);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.read_from(m, *iova, 4096), DmaTest::kStatusDone);  // now in the IOTLB
  ASSERT_TRUE(s.k.dma().unmap_single(*m, *iova, 4096, DmaDirection::to_device).ok());
  const uint64_t before = s.k.iommu().info(*m)->faults;
  EXPECT_EQ(s.read_from(m, *iova, 4096), DmaTest::kStatusFault);
  EXPECT_EQ(s.k.iommu().info(*m)->faults, before + 1);
}

TEST(SmmuV3Driver, IdentityDomainPassesDmaUntranslated) {
  KernelOptions o;
  o.iommu.default_domain = DomainType::identity;
  SmmuKernel s(o);
  ASSERT_TRUE(s.inited);
  Device* m = s.masters().at(0);
  ASSERT_EQ(s.k.iommu().info(*m)->domain, DomainType::identity);
  std::vector<uint8_t> data;
  const uint64_t pa = s.filled_page(9, &data);
  auto addr = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(*addr, pa);
  uint64_t sum = 0;
  EXPECT_EQ(s.read_from(m, pa, 4096, &sum), DmaTest::kStatusDone);
  EXPECT_EQ(sum, DmaTest::checksum(data.data(), data.size()));
  EXPECT_GT(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().translated, 0u);
}

TEST(SmmuV3Driver, BlockedDomainAbortsEverything) {
  KernelOptions o;
  o.iommu.default_domain = DomainType::blocked;
  SmmuKernel s(o);
  ASSERT_TRUE(s.inited);
  Device* m = s.masters().at(3);
  ASSERT_EQ(s.k.iommu().info(*m)->domain, DomainType::blocked);
  const uint64_t pa = s.filled_page(1);
  EXPECT_EQ(s.read_from(m, pa, 64), DmaTest::kStatusFault);
  std::vector<uint8_t> before(64), after(64);
  ASSERT_TRUE(s.mem().read(pa, before.data(), 64).ok());
  EXPECT_EQ(s.write_to(m, pa, 64, 77), DmaTest::kStatusFault);
  ASSERT_TRUE(s.mem().read(pa, after.data(), 64).ok());
  EXPECT_EQ(before, after);
  auto st = s.port(m).stats();
  EXPECT_EQ(st.faulted, 2u);
  EXPECT_EQ(st.bypassed + st.translated, 0u);
}

TEST(SmmuV3Driver, UnbindLeavesHardwareAbortingAndRebindRestores) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  Device* smmu = s.smmu();
  auto masters = s.masters();
  Driver* drv = smmu->driver();
  ASSERT_NE(drv, nullptr);
  ASSERT_TRUE(s.k.core().unbind(*smmu).ok());
  EXPECT_NE(smmu->state(), DeviceState::bound);
  for (Device* m : masters) {
    EXPECT_NE(m->state(), DeviceState::bound) << m->name() << " must be unbound before its IOMMU";
    EXPECT_FALSE(s.k.iommu().info(*m).has_value() && s.k.iommu().info(*m)->group >= 0);
  }
  EXPECT_TRUE(s.k.iommu().iommus().empty());
  // The master's registers are still reachable: a transfer straight to a
  // physical address must abort, not reach memory.
  Device* m = masters[0];
  const uint64_t pa = s.filled_page(5);
  std::vector<uint8_t> before(256), after(256);
  ASSERT_TRUE(s.mem().read(pa, before.data(), 256).ok());
  EXPECT_EQ(s.write_to(m, pa, 256, 99), DmaTest::kStatusFault);
  EXPECT_EQ(s.read_from(m, pa, 256), DmaTest::kStatusFault);
  ASSERT_TRUE(s.mem().read(pa, after.data(), 256).ok());
  EXPECT_EQ(before, after);
  EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  EXPECT_EQ(s.port(m).stats().direct, 0u);

  ASSERT_TRUE(s.k.core().bind(*smmu, *drv).ok());
  s.k.core().process();
  EXPECT_EQ(smmu->state(), DeviceState::bound);
  for (Device* c : masters) EXPECT_EQ(c->state(), DeviceState::bound) << c->name() << " not re-probed";
  std::vector<uint8_t> data;
  const uint64_t pa2 = s.filled_page(6, &data);
  auto iova = s.k.dma().map_single(*m, pa2, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  uint64_t sum = 0;
  EXPECT_EQ(s.read_from(m, *iova, 4096, &sum), DmaTest::kStatusDone);
  EXPECT_EQ(sum, DmaTest::checksum(data.data(), data.size()));
}

TEST(SmmuV3Driver, IllegalCommandIsSkippedAndQueueResumes) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  auto* smmu = s.smmu()->drvdata<arm_smmu_v3::SmmuDevice>();
  ASSERT_NE(smmu, nullptr);
  arm_smmu_v3::Cmd bad;
  bad.w[0] = 0x7f;  // no such opcode: CERROR_ILL (4.1.2)
  const uint64_t syncs = smmu->cmdq().syncs();
  Status st = smmu->cmdq().issue_sync({bad, arm_smmu_v3::cmd_tlbi_nsnh_all()});
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().str());
  EXPECT_EQ(smmu->cmdq().syncs(), syncs + 1);
  IoMem io = s.regs(s.smmu());
  EXPECT_EQ((io.readl(arm_smmu_v3::GERROR) ^ io.readl(arm_smmu_v3::GERRORN)) & arm_smmu_v3::GERROR_CMDQ_ERR, 0u);
  EXPECT_EQ(s.k.log().count("CERROR_ILL"), 1u);
  // Still working afterwards.
  Device* m = s.masters().at(0);
  const uint64_t pa = s.filled_page(8);
  auto iova = s.k.dma().map_single(*m, pa, 4096, DmaDirection::to_device);
  ASSERT_TRUE(iova.ok());
  EXPECT_EQ(s.read_from(m, *iova, 4096), DmaTest::kStatusDone);
}

TEST(SmmuV3Driver, StreamIdBeyondTableIsRejected) {
  std::ifstream in(source_dir() + "/platforms/virt-smmuv3.dts");
  std::string dts((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "iommus = <&smmu 0x21>;";
  auto pos = dts.find(from);
  ASSERT_NE(pos, std::string::npos);
  dts.replace(pos, from.size(), "iommus = <&smmu 0x123456>;");  // the model has 16 SID bits
  const std::string path = ::testing::TempDir() + "smmuv3drv-badsid.dts";
  std::ofstream(path) << dts;
  SmmuKernel s({}, path);
  ASSERT_TRUE(s.inited);
  int bound = 0, bad = 0;
  for (Device* m : s.masters()) {
    if (m->state() == DeviceState::bound) ++bound;
    else ++bad;
  }
  EXPECT_EQ(bound, 3);
  EXPECT_EQ(bad, 1);
  bool logged = false;
  for (const auto& e : s.k.log().entries())
    if (e.message.find("0x123456") != std::string::npos && e.message.find("beyond") != std::string::npos) logged = true;
  EXPECT_TRUE(logged);
}

// DMA keeps running while the master is switched between two translated
// domains and its default one: every transfer is translated or aborted,
// nothing ever bypasses (STE updates are hitless).
TEST(SmmuV3Driver, HitlessReattachUnderDma) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  Device* m = s.masters().at(0);
  auto a = s.k.iommu().domain_alloc_unmanaged(*m);
  auto b = s.k.iommu().domain_alloc_unmanaged(*m);
  ASSERT_TRUE(a.ok() && b.ok());
  const uint64_t iova = 0x40000000;
  std::vector<uint8_t> da, db;
  const uint64_t pa = s.filled_page(100, &da), pb = s.filled_page(200, &db);
  ASSERT_TRUE(iommu::iommu_map(**a, iova, pa, 4096, iommu::IOMMU_READ).ok());
  ASSERT_TRUE(iommu::iommu_map(**b, iova, pb, 4096, iommu::IOMMU_READ).ok());
  const uint64_t sum_a = DmaTest::checksum(da.data(), 4096), sum_b = DmaTest::checksum(db.data(), 4096);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0}, faulted{0}, wrong{0}, got_a{0}, got_b{0};
  std::thread dma([&] {
    while (!stop.load()) {
      uint64_t sum = 0;
      uint32_t st = s.read_from(m, iova, 4096, &sum);
      if (st == DmaTest::kStatusDone) {
        if (sum == sum_a) ++got_a;
        else if (sum == sum_b) ++got_b;
        else ++wrong;
        ++done;
      } else {
        ++faulted;
      }
    }
  });
  // Let at least two transfers run in each configuration (so one starts
  // after the switch completed), bounded so a stuck DMA thread fails.
  auto settle = [&] {
    const uint64_t target = done.load() + faulted.load() + 2;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (done.load() + faulted.load() < target && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
  };
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(s.k.iommu().attach_device(**a, *m).ok());
    settle();
    ASSERT_TRUE(s.k.iommu().attach_device(**b, *m).ok());
    settle();
    s.k.iommu().detach_device(**b, *m);  // back to the default DMA domain: iova unmapped there
    settle();
  }
  stop = true;
  dma.join();
  auto st = s.port(m).stats();
  EXPECT_EQ(st.bypassed, 0u);
  EXPECT_EQ(st.direct, 0u);
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GE(got_a.load(), 100u);
  EXPECT_GE(got_b.load(), 100u);
  EXPECT_GE(faulted.load(), 100u);
  EXPECT_EQ(st.faulted, faulted.load());
  // Domains go while the master is back on its default domain.
  a->reset();
  b->reset();
  EXPECT_EQ(s.read_from(m, iova, 64), DmaTest::kStatusFault);
}

// The same, with the device's own continuous DMA thread (no test thread in
// the loop), to race the model's walks and config cache against the STEs.
TEST(SmmuV3Driver, HitlessReattachUnderContinuousDma) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  Device* m = s.masters().at(1);
  auto a = s.k.iommu().domain_alloc_unmanaged(*m);
  auto b = s.k.iommu().domain_alloc_unmanaged(*m);
  ASSERT_TRUE(a.ok() && b.ok());
  // 1 MiB transfers: 256 translations each, so the SMMU is looked up
  // almost continuously while the STE changes.
  const uint64_t iova = 0x80000000;
  const size_t len = 1 << 20;
  auto pa = s.k.pages().alloc(len), pb = s.k.pages().alloc(len);
  ASSERT_TRUE(pa.ok() && pb.ok());
  ASSERT_TRUE(iommu::iommu_map(**a, iova, *pa, len, iommu::IOMMU_READ).ok());
  ASSERT_TRUE(iommu::iommu_map(**b, iova, *pb, len, iommu::IOMMU_READ).ok());
  IoMem io = s.regs(m);
  io.writeq(DmaTest::kSRC, iova);
  io.writel(DmaTest::kLEN, static_cast<uint32_t>(len));
  io.writel(DmaTest::kDIRECTION, DmaTest::kMemToDev);
  io.writel(DmaTest::kCTRL, DmaTest::kCtrlContinuous);
  auto progress = [&] {  // the device translated something since the switch
    auto seen = [&] { auto p = s.port(m).stats(); return p.translated + p.faulted; };
    const uint64_t from = seen();
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (seen() == from && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  };
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(s.k.iommu().attach_device(i % 2 ? **a : **b, *m).ok());
    progress();
  }
  s.k.iommu().detach_device(99 % 2 ? **a : **b, *m);
  io.writel(DmaTest::kCTRL, 0);  // stops and joins the device's thread
  auto st = s.port(m).stats();
  EXPECT_EQ(st.bypassed, 0u);
  EXPECT_EQ(st.direct, 0u);
  EXPECT_GT(io.readq(DmaTest::kXFER_COUNT) + io.readq(DmaTest::kFAULT_COUNT), 0u);
}

}  // namespace
}  // namespace modiommu::smmutest

namespace modiommu::smmutest {
namespace {

// A node whose reg cannot hold the register space: a clear probe error, no
// access beyond the window.
TEST(SmmuV3Driver, TooSmallRegisterWindowFailsProbeClearly) {
  std::ifstream in(source_dir() + "/platforms/virt-smmuv3.dts");
  std::string dts((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "reg = <0x0 0x9050000 0x0 0x20000>;";
  auto pos = dts.find(from);
  ASSERT_NE(pos, std::string::npos);
  dts.replace(pos, from.size(), "reg = <0x0 0x9050000 0x0 0x1000>;");
  const std::string path = ::testing::TempDir() + "smmuv3drv-smallreg.dts";
  std::ofstream(path) << dts;
  SmmuKernel s({}, path);
  ASSERT_TRUE(s.inited);  // the module loads; only the device fails
  ASSERT_NE(s.smmu(), nullptr);
  EXPECT_NE(s.smmu()->state(), DeviceState::bound);
  EXPECT_GE(s.k.log().count("below the 128 KiB SMMUv3 register space"), 1u);
  EXPECT_TRUE(s.k.iommu().iommus().empty());
}

}  // namespace
}  // namespace modiommu::smmutest

namespace modiommu::smmutest {
namespace {

// rmmod's path: module exit unregisters the driver; the core unbinds the
// consumers, then the SMMU, which is left aborting.
TEST(SmmuV3Driver, ModuleExitUnbindsConsumersAndLeavesAbort) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  auto masters = s.masters();
  auto mod = s.k.modules().find("arm_smmu_v3");
  ASSERT_TRUE(mod);
  s.desc->exit(s.k, *mod);
  EXPECT_EQ(s.k.core().find_driver("arm-smmu-v3"), nullptr);
  EXPECT_NE(s.smmu()->state(), DeviceState::bound);
  EXPECT_TRUE(s.k.iommu().iommus().empty());
  for (Device* m : masters) {
    EXPECT_NE(m->state(), DeviceState::bound) << m->name();
    const uint64_t pa = s.filled_page(11);
    EXPECT_EQ(s.read_from(m, pa, 128), DmaTest::kStatusFault) << m->name();
    EXPECT_EQ(s.port(m).stats().bypassed, 0u);
  }
  EXPECT_EQ(s.k.log().count("still attached"), 0u);
  // Built in, so the loader runs exit again at teardown: put it back.
  ASSERT_TRUE(s.desc->init(s.k, *mod).ok());
  for (Device* m : masters) EXPECT_EQ(m->state(), DeviceState::bound) << m->name();
}

}  // namespace
}  // namespace modiommu::smmutest

#include "host_json.h"
#include "sim/state.h"

namespace modiommu::smmutest {
namespace {

// BEHAVIOUR.md 3: the same driver built in (this test's copy) and loaded as
// a module by the host binary reaches the same final state.
TEST(SmmuV3Driver, BuiltInAndModuleReachTheSameState) {
  SmmuKernel s;
  ASSERT_TRUE(s.inited);
  const std::string bin = binary_dir();
  auto doc = modiommu::testing::run_host_json(bin, "boot " + source_dir() +
                                                       "/platforms/virt-smmuv3.dts --no-autoload "
                                                       "--preload dmatest,arm-smmu-v3 --modules " +
                                                       bin + "/modules");
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(modiommu::testing::state_projection(doc),
            modiommu::testing::state_projection(sim::final_state(s.k, "virt-smmuv3.dts")));
}

}  // namespace
}  // namespace modiommu::smmutest
