// Random runs (`modiommu sim PLATFORM --seed N --steps K`): at each step the
// seed picks one of the steps the actors propose, runs it, and checks every
// invariant. The first violation stops the run; its trace is minimised
// (steps removed while the same invariant still breaks) and written as a
// scenario script that replays it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/api.h"
#include "dsim/inflight.h"
#include "dsim/world.h"

namespace modiommu::dsim {

struct TraceStep {
  std::string line;
  bool ok = true;  // the command succeeded (failed ones are written as `try ...`)
};

struct RunResult {
  uint64_t seed = 0;
  uint64_t steps_run = 0;
  uint64_t checks = 0;               // invariant evaluations (one per step, plus the initial state)
  std::vector<Violation> violations;  // empty: every invariant held
  std::vector<TraceStep> trace;       // steps up to the violation (or all of them)
  // What the run exercised (so a pass means something): steps by command
  // word, failed steps, in-flight transfers, DMA transfers, faults fired.
  std::map<std::string, uint64_t> by_command;
  uint64_t failed_steps = 0;
  InFlightStats in_flight;
  uint64_t dma_transfers = 0, dma_faults = 0, faults_fired = 0;
};

MODIOMMU_API Result<RunResult> run_random(const WorldConfig& cfg, uint64_t seed, uint64_t steps);

// Replays `lines` on a fresh world; the violations after the last line.
// The outcome of each line is written into `*trace` if given.
MODIOMMU_API Result<std::vector<Violation>> replay(const WorldConfig& cfg, const std::vector<std::string>& lines,
                                                   std::vector<TraceStep>* trace = nullptr);

// Smallest trace (greedy chunk removal, at most `max_replays` replays) that
// still ends with a violation of `invariant`.
MODIOMMU_API Result<std::vector<TraceStep>> minimise(const WorldConfig& cfg, const std::vector<TraceStep>& trace,
                                                     const std::string& invariant, size_t max_replays = 300);

// A scenario script for `modiommu run PLATFORM SCRIPT`: boot-complete, the
// steps, then `expect invariants` (exit 1 while the bug is there).
MODIOMMU_API std::string trace_script(const std::vector<TraceStep>& trace, const std::string& header,
                                      const std::vector<std::string>& setup = {});

}  // namespace modiommu::dsim
