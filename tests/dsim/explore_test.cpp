// Exhaustive mode on the small platform: every order of the bounded step
// set holds every invariant, equal states are pruned, and the same search
// finds the deliberately broken unload order.
#include <gtest/gtest.h>

#include "dsim/explore.h"
#include "dsim_util.h"

using namespace modiommu;
using namespace modiommu::dsim;

namespace {

WorldConfig small(std::vector<std::string> setup = {}) {
  auto cfg = test::config(test::small_platform(), {"modules", "bind", "dma"});
  cfg.small = true;
  cfg.setup = std::move(setup);
  return cfg;
}

// Depth 3 here (sanitizer builds run it too); dsim.cli.exhaustive runs
// depth 5, docs/sim.md has the depth-8 figures.
TEST(DsimExhaustive, EveryOrderToDepthThreeHolds) {
  auto r = explore(small(), 3);
  ASSERT_TRUE(r.ok()) << r.error().str();
  for (const auto& v : r->violations) ADD_FAILURE() << v.invariant << ": " << v.detail;
  EXPECT_TRUE(r->complete);
  EXPECT_GT(r->states, 50u);
  EXPECT_GT(r->transitions, r->states) << "more paths than states: orders were really enumerated";
  EXPECT_GT(r->pruned, 0u) << "equal states reached by different orders are expanded once";
}

TEST(DsimExhaustive, FindsTheBrokenUnloadOrder) {
  auto r = explore(small({"inject iommu.skip_consumer_unbind 1000000"}), 4);
  ASSERT_TRUE(r.ok()) << r.error().str();
  ASSERT_FALSE(r->violations.empty());
  EXPECT_LE(r->trace.size(), 4u);
  bool unload = false;
  for (const auto& t : r->trace) unload = unload || t.line.rfind("rmmod", 0) == 0 || t.line.rfind("unbind", 0) == 0;
  EXPECT_TRUE(unload) << "the failing path takes the IOMMU away";
}

}  // namespace
