#include "dsim/runner.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/fault_inject.h"
#include "dsim/rng.h"
#include "sim/state.h"

namespace modiommu::dsim {

namespace {

uint64_t actor_weight(const std::string& actor) {
  if (actor == "dma" || actor == "dma-inflight") return 6;
  return actor == "clock" ? 1 : 2;
}

}  // namespace

Result<RunResult> run_random(const WorldConfig& cfg, uint64_t seed, uint64_t steps) {
  auto w = TRY(World::boot(cfg));
  RunResult r;
  r.seed = seed;
  uint64_t fired_before = 0;
  for (const auto& f : FaultInjection::known()) fired_before += FaultInjection::total_fired(f.name);
  Rng rng(seed);
  r.violations = w->check();
  for (uint64_t i = 0; i < steps && r.violations.empty(); ++i) {
    auto p = w->proposals();
    if (p.empty()) break;
    // Two-level choice: an actor (weighted), then one of its steps, so an
    // actor with many possible steps (bind) does not crowd out the others.
    // DMA weighs most: the invariants are about DMA across everything else.
    std::vector<std::string> actors;
    uint64_t total = 0;
    for (const auto& x : p)
      if (actors.empty() || actors.back() != x.actor) {
        actors.push_back(x.actor);
        total += actor_weight(x.actor);
      }
    uint64_t pick = rng.below(total);
    std::string actor = actors.back();
    for (const auto& a : actors) {
      if (pick < actor_weight(a)) {
        actor = a;
        break;
      }
      pick -= actor_weight(a);
    }
    std::vector<const std::string*> mine;
    for (const auto& x : p)
      if (x.actor == actor) mine.push_back(&x.line);
    const std::string line = *mine[rng.below(mine.size())];
    Status s = w->step(line);
    r.trace.push_back({line, s.ok()});
    ++r.by_command[line.substr(0, line.find(' '))];
    if (!s.ok()) ++r.failed_steps;
    ++r.steps_run;
    r.violations = w->check();
  }
  r.checks = w->checks_run();
  r.in_flight = InFlightTable::of(w->kernel())->stats();
  const auto t = sim::dma_totals(w->kernel());
  r.dma_transfers = t.transfers;
  r.dma_faults = t.faults;
  for (const auto& f : FaultInjection::known()) r.faults_fired += FaultInjection::total_fired(f.name);
  r.faults_fired -= fired_before;
  return r;
}

Result<std::vector<Violation>> replay(const WorldConfig& cfg, const std::vector<std::string>& lines,
                                      std::vector<TraceStep>* trace) {
  auto w = TRY(World::boot(cfg));
  if (trace) trace->clear();
  for (const auto& l : lines) {
    Status s = w->step(l);
    if (trace) trace->push_back({l, s.ok()});
  }
  return w->check();
}

namespace {

bool breaks(const std::vector<Violation>& v, const std::string& invariant) {
  return std::any_of(v.begin(), v.end(), [&](const Violation& x) { return x.invariant == invariant; });
}

}  // namespace

Result<std::vector<TraceStep>> minimise(const WorldConfig& cfg, const std::vector<TraceStep>& trace,
                                        const std::string& invariant, size_t max_replays) {
  std::vector<std::string> cur;
  for (const auto& t : trace) cur.push_back(t.line);
  size_t replays = 0;
  // Greedy: try dropping chunks, halving the chunk size down to one step.
  for (size_t chunk = std::max<size_t>(cur.size() / 2, 1); chunk >= 1 && replays < max_replays; chunk /= 2) {
    for (size_t at = 0; at < cur.size() && replays < max_replays;) {
      std::vector<std::string> cand(cur.begin(), cur.begin() + static_cast<ptrdiff_t>(at));
      cand.insert(cand.end(), cur.begin() + static_cast<ptrdiff_t>(std::min(at + chunk, cur.size())), cur.end());
      ++replays;
      auto v = TRY(replay(cfg, cand));
      if (breaks(v, invariant)) cur = std::move(cand);
      else at += chunk;
    }
    if (chunk == 1) break;
  }
  std::vector<TraceStep> out;
  auto v = TRY(replay(cfg, cur, &out));
  if (!breaks(v, invariant)) return trace;  // cannot happen for a deterministic kernel; keep the original
  return out;
}

std::string trace_script(const std::vector<TraceStep>& trace, const std::string& header,
                         const std::vector<std::string>& setup) {
  std::string s;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t nl = header.find('\n', pos);
    s += "# " + header.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos) + "\n";
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  s += "boot-complete\n";
  for (const auto& l : setup) s += l + "\n";
  for (const auto& t : trace) s += (t.ok ? "" : "try ") + t.line + "\n";
  s += "expect invariants\n";
  return s;
}

}  // namespace modiommu::dsim
