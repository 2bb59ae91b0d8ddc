// The checker can fail: with the IOMMU core's deliberate bug armed (the
// fault point "iommu.skip_consumer_unbind" relaxes each consumer's link to
// its IOMMU, so rmmod unregisters the IOMMU under bound consumers), a
// bounded number of seeds finds it, the trace is minimised, and the trace
// script replays the failure through the scenario runner (`modiommu run`).
#include <sstream>

#include <gtest/gtest.h>

#include "base/fault_inject.h"
#include "dsim/runner.h"
#include "dsim_util.h"
#include "sim/harness.h"
#include "sim/scenario.h"

using namespace modiommu;
using namespace modiommu::dsim;

namespace {

constexpr uint64_t kSeedBound = 10;

WorldConfig broken() {
  auto cfg = test::config("virt-smmuv3.dts");
  cfg.setup = {"inject iommu.skip_consumer_unbind 1000000"};
  return cfg;
}

TEST(DsimBrokenUnloadOrder, CaughtWithinBoundedSeedsAndReplays) {
  std::optional<RunResult> failing;
  for (uint64_t seed = 1; seed <= kSeedBound && !failing; ++seed) {
    auto r = run_random(broken(), seed, 200);
    ASSERT_TRUE(r.ok()) << r.error().str();
    if (!r->violations.empty()) failing = std::move(*r);
  }
  ASSERT_TRUE(failing) << "the broken unload order went unnoticed for " << kSeedBound << " seeds";
  const std::string inv = failing->violations.front().invariant;
  EXPECT_TRUE(inv == "links" || inv == "safe-unload") << inv << ": " << failing->violations.front().detail;

  // The same seed without the bug holds every invariant: the bug, not the
  // interleaving, is what the checker caught.
  auto control = run_random(test::config("virt-smmuv3.dts"), failing->seed, failing->steps_run);
  ASSERT_TRUE(control.ok());
  EXPECT_TRUE(control->violations.empty()) << control->violations.front().detail;

  auto min = minimise(broken(), failing->trace, inv);
  ASSERT_TRUE(min.ok()) << min.error().str();
  EXPECT_LE(min->size(), failing->trace.size());
  EXPECT_GE(min->size(), 2u) << "an unload needs at least a reload and an rmmod";

  // Replay as `modiommu run` does: boot (no boot-complete), run the script.
  const std::string script = trace_script(*min, "test", broken().setup);
  Kernel k(broken().kernel);
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(broken().platform).ok());
  std::ostringstream out, err;
  sim::Scenario sc(k, out);
  EXPECT_EQ(sc.run_script(script, "trace.run", err), 1) << err.str() << out.str();
  EXPECT_NE(out.str().find("invariant " + inv), std::string::npos) << out.str();
  FaultInjection::disarm_all();
}

TEST(DsimBrokenUnloadOrder, TheFaultPointIsOffByDefault) {
  FaultScope scope;
  EXPECT_FALSE(fault_point("iommu.skip_consumer_unbind"));
  ASSERT_TRUE(FaultInjection::arm("iommu.skip_consumer_unbind", 2).ok());
  EXPECT_TRUE(fault_point("iommu.skip_consumer_unbind"));
  EXPECT_TRUE(fault_point("iommu.skip_consumer_unbind"));
  EXPECT_FALSE(fault_point("iommu.skip_consumer_unbind"));
  EXPECT_EQ(FaultInjection::fired("iommu.skip_consumer_unbind"), 2u);
  EXPECT_FALSE(FaultInjection::arm("no.such.point").ok());
}

}  // namespace
