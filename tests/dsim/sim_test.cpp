// Random runs: fixed seeds pass every invariant, runs replay exactly from
// their seed, and the run really interleaves unloads with DMA in flight.
#include <gtest/gtest.h>

#include "dsim/runner.h"
#include "dsim_util.h"

using namespace modiommu;
using namespace modiommu::dsim;

namespace {

TEST(DsimRandom, FixedSeedsHoldEveryInvariant) {
  uint64_t rmmods = 0, cut = 0, pages = 0, xfers = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    auto r = run_random(test::config("virt-smmuv3.dts"), seed, 250);
    ASSERT_TRUE(r.ok()) << r.error().str();
    for (const auto& v : r->violations) ADD_FAILURE() << "seed " << seed << ": " << v.invariant << ": " << v.detail;
    EXPECT_EQ(r->steps_run, 250u) << "seed " << seed;
    EXPECT_EQ(r->checks, 251u) << "an invariant check after every step, seed " << seed;
    rmmods += r->by_command["rmmod"];
    cut += r->in_flight.cut;
    pages += r->in_flight.pages;
    xfers += r->dma_transfers;
  }
  // The seeds exercise what the invariants are about.
  EXPECT_GT(rmmods, 50u);
  EXPECT_GT(cut, 0u) << "some transfer in flight was cut by an unbind/unload";
  EXPECT_GT(pages, 100u);
  EXPECT_GT(xfers, 100u);
}

TEST(DsimRandom, SameSeedSameRun) {
  auto cfg = test::config("virt-smmuv3.dts", {"modules", "bind", "dma", "clock", "faults"});
  auto a = run_random(cfg, 77, 200);
  auto b = run_random(cfg, 77, 200);
  auto c = run_random(cfg, 78, 200);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_EQ(a->trace.size(), b->trace.size());
  for (size_t i = 0; i < a->trace.size(); ++i) {
    EXPECT_EQ(a->trace[i].line, b->trace[i].line) << "step " << i;
    EXPECT_EQ(a->trace[i].ok, b->trace[i].ok) << "step " << i;
  }
  EXPECT_EQ(a->dma_transfers, b->dma_transfers);
  EXPECT_EQ(a->in_flight.pages, b->in_flight.pages);
  bool differs = a->trace.size() != c->trace.size();
  for (size_t i = 0; !differs && i < a->trace.size(); ++i) differs = a->trace[i].line != c->trace[i].line;
  EXPECT_TRUE(differs) << "another seed, another interleaving";
}

TEST(DsimRandom, ReplayReachesTheSameState) {
  auto cfg = test::config("virt-smmuv3.dts");
  auto r = run_random(cfg, 5, 120);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> lines;
  for (const auto& t : r->trace) lines.push_back(t.line);
  auto w1 = World::boot(cfg);
  auto w2 = World::boot(cfg);
  ASSERT_TRUE(w1.ok() && w2.ok());
  for (const auto& l : lines) {
    Status s1 = (*w1)->step(l), s2 = (*w2)->step(l);
    ASSERT_EQ(s1.ok(), s2.ok()) << l;
    ASSERT_EQ((*w1)->state_key(), (*w2)->state_key()) << "after " << l;
  }
}

TEST(DsimRandom, FaultActorsEndInCleanStates) {
  auto cfg = test::config("virt-smmuv3.dts", {"modules", "bind", "dma", "clock", "faults"});
  uint64_t fired = 0;
  for (uint64_t seed = 100; seed < 106; ++seed) {
    auto r = run_random(cfg, seed, 250);
    ASSERT_TRUE(r.ok()) << r.error().str();
    for (const auto& v : r->violations) ADD_FAILURE() << "seed " << seed << ": " << v.invariant << ": " << v.detail;
    fired += r->faults_fired;
  }
  EXPECT_GT(fired, 10u) << "faults were injected and fired";
}

TEST(DsimActors, BadActorNamesAreRefused) {
  EXPECT_FALSE(parse_actors("modules,bogus").ok());
  auto all = parse_actors("all");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), actor_kinds().size());
}

}  // namespace
