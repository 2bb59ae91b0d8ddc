// Fault injection (issue 9): each named fault, fired at each step where the
// probe of the IOMMU module reaches it, ends in a clean, reported state:
// every simulator invariant holds, nothing escapes, and no page is leaked
// once the module is unloaded again (ASan covers heap leaks).
#include <iostream>

#include <gtest/gtest.h>

#include "base/fault_inject.h"
#include "dsim/world.h"
#include "dsim_util.h"
#include "module/loader.h"
#include "sim/state.h"

using namespace modiommu;
using namespace modiommu::dsim;

namespace {

const char* kSmmu = "arm_smmu_v3";

std::unique_ptr<World> boot() {
  auto w = World::boot(test::config("virt-smmuv3.dts"));
  EXPECT_TRUE(w.ok()) << w.error().str();
  return w.ok() ? std::move(*w) : nullptr;
}

void expect_clean(World& w, const std::string& where) {
  for (const auto& v : w.check()) ADD_FAILURE() << where << ": invariant " << v.invariant << ": " << v.detail;
  EXPECT_EQ(sim::dma_totals(w.kernel()).escapes, 0u) << where;
}

bool smmu_live(World& w) {
  auto m = w.kernel().modules().find(kSmmu);
  return m && m->state() == ModuleState::live;
}

// Fires `fault` at the n-th time the reload of arm-smmu-v3 reaches it, for
// n = 1, 2, ... until the reload no longer reaches it. Each run starts from
// a fresh boot with the module unloaded.
class ProbeStepFaults : public ::testing::TestWithParam<const char*> {};

TEST_P(ProbeStepFaults, EachStepEndsClean) {
  const std::string fault = GetParam();
  unsigned fired_runs = 0;
  bool completed_unfaulted = false;
  for (uint64_t skip = 0; skip < 400 && !completed_unfaulted; ++skip) {
    auto w = boot();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->step(std::string("rmmod ") + kSmmu).ok());
    const uint64_t baseline = w->kernel().pages().stats().allocated_pages;
    const std::string where = fault + " at its reach #" + std::to_string(skip + 1);
    ASSERT_TRUE(FaultInjection::arm(fault, 1, skip).ok());
    Status s = w->step(std::string("modprobe ") + kSmmu);
    const bool fired = FaultInjection::fired(fault) > 0;
    FaultInjection::disarm_all();
    expect_clean(*w, where);
    if (!fired) {
      // Past the last place the probe reaches it: everything works.
      ASSERT_TRUE(s.ok()) << s.error().str();
      completed_unfaulted = true;
      for (Device* d : w->harness().endpoint_devices())
        EXPECT_TRUE(w->step("dma " + d->name() + " write 8K").ok()) << d->name();
      EXPECT_EQ(w->harness().endpoint_devices().size(), 4u);
    } else {
      ++fired_runs;
      // Whatever it left, the system still works: DMA where an endpoint is
      // bound (through the IOMMU or refused, never escaping)...
      for (Device* d : w->harness().endpoint_devices()) (void)w->step("dma " + d->name() + " write 4K");
      expect_clean(*w, where + ", then DMA");
    }
    // ... and unloading gives back every page the probe took.
    if (smmu_live(*w)) {
      ASSERT_TRUE(w->step(std::string("rmmod ") + kSmmu).ok()) << where;
    }
    expect_clean(*w, where + ", then rmmod");
    EXPECT_EQ(w->kernel().pages().stats().allocated_pages, baseline) << where << ": pages leaked";
  }
  std::cout << fault << ": fired at " << fired_runs << " distinct step(s) of the reload\n";
  EXPECT_TRUE(completed_unfaulted) << fault << " still fired after 400 steps";
  EXPECT_GE(fired_runs, 1u) << fault << " is never reached by the probe";
}

INSTANTIATE_TEST_SUITE_P(Faults, ProbeStepFaults,
                         ::testing::Values("module.init", "smmuv3.probe", "mm.alloc", "mmio.read.all_ones",
                                           "smmuv3.cmdq.stall"),
                         [](const auto& p) {
                           std::string n = p.param;
                           for (auto& c : n)
                             if (c == '.') c = '_';
                           return n;
                         });

TEST(Faults, ModuleFailingToUnloadStaysWhole) {
  auto w = boot();
  ASSERT_TRUE(w);
  FaultScope scope;
  ASSERT_TRUE(FaultInjection::arm("module.unload").ok());
  Status s = w->step(std::string("rmmod ") + kSmmu);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::busy);
  EXPECT_NE(s.error().message.find("failed to unload"), std::string::npos) << s.error().message;
  EXPECT_TRUE(smmu_live(*w));
  EXPECT_EQ(w->harness().endpoint_devices().size(), 4u) << "nothing was torn down";
  expect_clean(*w, "after the refused rmmod");
  EXPECT_TRUE(w->step(std::string("rmmod ") + kSmmu).ok()) << "the next rmmod works";
  expect_clean(*w, "after rmmod");
}

TEST(Faults, DmatestProbeFailureIsReportedAndRecoverable) {
  auto w = boot();
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->step("rmmod dmatest").ok());
  FaultScope scope;
  ASSERT_TRUE(FaultInjection::arm("dmatest.probe", 1).ok());
  ASSERT_TRUE(w->step("modprobe dmatest").ok());
  EXPECT_EQ(FaultInjection::fired("dmatest.probe"), 1u);
  EXPECT_EQ(w->harness().endpoint_devices().size(), 3u) << "one master failed its probe, the others bound";
  expect_clean(*w, "after the failed probe");
  ASSERT_TRUE(w->step("rmmod dmatest").ok());
  ASSERT_TRUE(w->step("modprobe dmatest").ok());
  EXPECT_EQ(w->harness().endpoint_devices().size(), 4u);
  expect_clean(*w, "after reload");
}

TEST(Faults, EventQueueOverflowLosesEventsLoudlyNotSilently) {
  auto w = boot();
  ASSERT_TRUE(w);
  Kernel& k = w->kernel();
  Device* d = w->harness().endpoint_devices().front();
  hw::UpstreamPort* port = k.platform().model(d->fwnode())->port;
  uint8_t buf[64] = {};
  // An IOVA nothing maps: the SMMU aborts it and records an event.
  const uint64_t before = k.iommu().info(*d)->faults;
  EXPECT_FALSE(port->write(0x7ff0000000, buf, sizeof buf).ok());
  const uint64_t one = k.iommu().info(*d)->faults;
  EXPECT_EQ(one, before + 1) << "the event reached the driver";
  FaultScope scope;
  ASSERT_TRUE(FaultInjection::arm("smmuv3.evtq.overflow", 1).ok());
  EXPECT_FALSE(port->write(0x7ff0000000, buf, sizeof buf).ok()) << "the DMA still aborts";
  EXPECT_EQ(FaultInjection::fired("smmuv3.evtq.overflow"), 1u);
  // The next event carries the overflow flag: the driver says so.
  EXPECT_FALSE(port->write(0x7ff0000000, buf, sizeof buf).ok());
  EXPECT_GE(k.log().count("overflow"), 1u);
  expect_clean(*w, "after the overflow");
}

TEST(Faults, PageTableMemoryExhaustionFailsMapsCleanly) {
  auto w = boot();
  ASSERT_TRUE(w);
  FaultScope scope;
  // Every allocation fails from now: the DMA API's mappings need new
  // page-table pages for 1 MiB at a fresh IOVA.
  ASSERT_TRUE(FaultInjection::arm("mm.alloc", 1000000).ok());
  unsigned refused = 0;
  for (Device* d : w->harness().endpoint_devices()) {
    Status s = w->step("dma " + d->name() + " write 1M");
    if (!s.ok()) {
      ++refused;
      EXPECT_EQ(s.error().code, Errc::nomem) << s.error().str();
    }
  }
  EXPECT_GT(FaultInjection::fired("mm.alloc"), 0u);
  EXPECT_GT(refused, 0u) << "some map needed a table page and was refused";
  expect_clean(*w, "while memory is exhausted");
  FaultInjection::disarm_all();
  for (Device* d : w->harness().endpoint_devices())
    EXPECT_TRUE(w->step("dma " + d->name() + " write 1M").ok()) << d->name() << " works again";
  expect_clean(*w, "after memory is back");
}

}  // namespace
