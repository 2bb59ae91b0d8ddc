// Exhaustive mode (`modiommu sim PLATFORM --exhaustive --depth D`): every
// order of the actors' steps up to depth D, from the booted state, with the
// invariants checked in every state reached. States with equal observable
// state (World::state_key) reached again at the same or a greater depth are
// not expanded twice. There are no snapshots: a state is re-created by
// replaying its path on a fresh kernel, except along the first child.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/api.h"
#include "dsim/runner.h"

namespace modiommu::dsim {

struct ExploreResult {
  uint64_t states = 0;        // distinct observable states checked
  uint64_t transitions = 0;   // steps executed (including replays)
  uint64_t pruned = 0;        // paths cut because their state was already explored
  uint64_t boots = 0;
  bool complete = true;       // false if max_states stopped it
  std::vector<Violation> violations;  // of the first failing path
  std::vector<TraceStep> trace;       // that path
};

MODIOMMU_API Result<ExploreResult> explore(const WorldConfig& cfg, unsigned depth, uint64_t max_states = 200000);

}  // namespace modiommu::dsim
