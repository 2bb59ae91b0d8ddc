// One simulated system: a kernel booted from a platform, driven only by
// scenario lines, one at a time, on the calling thread. Every actor's step
// is a scenario line (modprobe, unbind, dma-step, advance, inject ...), so a
// run's trace is a scenario script and replays exactly (`modiommu run`).
// Determinism: the kernel runs on its virtual clock; DMA is a synchronous
// transfer per step (no continuous-DMA threads); fault points fire on
// counts; nothing reads wall time or an unseeded random source.
#pragma once

#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/api.h"
#include "dsim/invariants.h"
#include "kernel/kernel.h"
#include "sim/harness.h"
#include "sim/scenario.h"

namespace modiommu::dsim {

// Actor kinds (--actors): modules (modprobe/rmmod of the modules that drive
// this platform), bind (sysfs unbind/bind), dma (single transfers and
// transfers held in flight across steps), clock (virtual time), faults
// (named fault points, fault_inject.h).
MODIOMMU_API const std::vector<std::string>& actor_kinds();
MODIOMMU_API Result<std::set<std::string>> parse_actors(const std::string& csv);

struct MODIOMMU_API WorldConfig {
  std::string platform;  // .dts/.dtb path
  KernelOptions kernel;
  std::set<std::string> actors{"modules", "bind", "dma", "clock"};
  // Exhaustive mode's bounded event set: DMA on at most this many masters,
  // writes only, one size.
  bool small = false;
  // Scenario lines run right after boot-complete, before any actor (e.g.
  // `inject FAULT COUNT`); part of every replay and of the trace script.
  std::vector<std::string> setup;
};

class MODIOMMU_API World {
 public:
  static Result<std::unique_ptr<World>> boot(const WorldConfig& cfg);
  ~World();

  Kernel& kernel() { return *k_; }
  sim::Harness& harness() { return *harness_; }
  sim::Scenario& scenario() { return *sc_; }
  // Runs one line; a failed command is an outcome (EBUSY, ENODEV ...),
  // returned, not fatal.
  Status step(const std::string& line);
  // Every step the enabled actors could take now, in a deterministic order.
  struct Proposal {
    std::string actor;  // actor_kinds() entry
    std::string line;
  };
  std::vector<Proposal> proposals();
  std::vector<Violation> check() { return checker_.check(*k_); }
  uint64_t checks_run() const { return checker_.checks_run(); }
  // The observable state, as text (equal text = equal state for pruning).
  std::string state_key();

 private:
  explicit World(WorldConfig cfg) : cfg_(std::move(cfg)) {}
  WorldConfig cfg_;
  std::unique_ptr<Kernel> k_;
  std::unique_ptr<sim::Harness> harness_;  // after k_: detaches first
  std::ostringstream out_;  // scenario output (lsmod, dma summaries): not needed
  std::unique_ptr<sim::Scenario> sc_;
  InvariantChecker checker_;
  std::vector<std::string> modules_;  // loadable modules that drive this platform
};

}  // namespace modiommu::dsim
