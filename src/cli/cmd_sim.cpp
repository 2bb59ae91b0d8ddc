// `modiommu sim PLATFORM --seed N --steps K` (INTERFACE.md; docs/sim.md):
// deterministic simulation with invariant checks, and its exhaustive mode.
// Exit 0: every invariant held; 1: a violation (seed, minimised trace, and
// the trace as a script `modiommu run` replays); 2: bad options or a
// platform that does not boot.
#include <chrono>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "cli/common.h"
#include "dsim/explore.h"
#include "dsim/runner.h"
#include "sim/harness.h"

namespace modiommu::cli {
namespace {

struct SimOpts {
  CommonOpts common;
  uint64_t seed = 1;
  uint64_t seeds = 1;
  uint64_t steps = 200;
  std::string actors = "modules,bind,dma,clock,hotplug";
  bool exhaustive = false;
  unsigned depth = 8;
  std::string trace_out;
  bool no_minimise = false;
  std::vector<std::string> inject;  // FAULT[:COUNT]
  bool print_trace = false;
} o;

Result<dsim::WorldConfig> world_config() {
  dsim::WorldConfig cfg;
  cfg.platform = o.common.platform;
  cfg.kernel = TRY(kernel_options(o.common));
  cfg.actors = TRY(dsim::parse_actors(o.actors));
  for (const auto& f : o.inject) {
    const size_t colon = f.find(':');
    cfg.setup.push_back("inject " + f.substr(0, colon) + " " + (colon == std::string::npos ? "1" : f.substr(colon + 1)));
  }
  return cfg;
}

int report_failure(const dsim::WorldConfig& cfg, const std::string& what, const std::vector<dsim::Violation>& v,
                   std::vector<dsim::TraceStep> trace) {
  std::cout << "FAILED: " << what << "\n";
  for (const auto& x : v) std::cout << "  invariant " << x.invariant << ": " << x.detail << "\n";
  std::cout << "  trace: " << trace.size() << " steps";
  if (!o.no_minimise && !v.empty()) {
    auto m = dsim::minimise(cfg, trace, v.front().invariant);
    if (m.ok()) trace = std::move(*m);
    std::cout << ", minimised to " << trace.size();
  }
  std::cout << "\n";
  const std::string header = fmt::format(
      "{}\ninvariant {}: {}\nreplay: modiommu run {} SCRIPT (exit 1 while the bug is there)", what,
      v.empty() ? "?" : v.front().invariant, v.empty() ? "" : v.front().detail, o.common.platform);
  const std::string script = dsim::trace_script(trace, header, cfg.setup);
  std::cout << "--- trace (scenario script) ---\n" << script << "---\n";
  if (!o.trace_out.empty()) {
    std::ofstream f(o.trace_out);
    f << script;
    if (!f) std::cerr << "modiommu: cannot write " << o.trace_out << "\n";
    else std::cout << "trace written to " << o.trace_out << "\n";
  }
  return 1;
}

// Counts arrive as uint64; the option checks refused negatives, this the
// rest of what makes a run do nothing or wrap.
Status check_counts() {
  if (o.seeds == 0) return make_error(Errc::inval, "--seeds must be at least 1");
  if (o.steps == 0 && !o.exhaustive) return make_error(Errc::inval, "--steps must be at least 1");
  if (o.seed > std::numeric_limits<uint64_t>::max() - (o.seeds - 1))
    return make_error(Errc::range, fmt::format("--seed {} --seeds {}: the last seed would pass 2^64-1", o.seed, o.seeds));
  if (o.exhaustive && o.depth == 0) return make_error(Errc::inval, "--depth must be at least 1");
  return {};
}

int run_sim() {
  if (Status c = check_counts(); !c.ok()) return bad_options(c.error());
  auto cfg = world_config();
  if (!cfg.ok()) return bad_options(cfg.error());
  {
    // One plain boot first: options that name devices (--domain) are checked
    // against it, and a platform that does not boot is said once.
    Kernel k(cfg->kernel);
    sim::Harness harness(k);  // endpoints and escape accounting; before boot (--preload)
    k.log().set_sink(nullptr);
    if (Status b = boot_platform(k, o.common); !b.ok()) {
      std::cerr << "modiommu: " << b.error().str() << "\n";
      return 2;
    }
  }
  if (o.exhaustive) {
    cfg->small = true;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = dsim::explore(*cfg, o.depth);
    if (!r.ok()) {
      std::cerr << "modiommu: " << r.error().str() << "\n";
      return 2;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << fmt::format("exhaustive: depth {}, {} states explored, {} transitions, {} pruned, {} boots, {:.1f}s{}\n",
                             o.depth, r->states, r->transitions, r->pruned, r->boots, secs,
                             r->complete ? "" : " (stopped at the state limit)");
    if (!r->violations.empty())
      return report_failure(*cfg, fmt::format("exhaustive search, depth {}", r->trace.size()), r->violations, r->trace);
    std::cout << "every invariant held in every state\n";
    return 0;
  }
  uint64_t total_steps = 0, total_checks = 0, failed = 0, xfers = 0, dfaults = 0, ffired = 0;
  dsim::InFlightStats fl;
  std::map<std::string, uint64_t> kinds;
  for (uint64_t i = 0; i < o.seeds; ++i) {
    const uint64_t s = o.seed + i;
    auto r = dsim::run_random(*cfg, s, o.steps);
    if (!r.ok()) {
      std::cerr << "modiommu: " << r.error().str() << "\n";
      return 2;
    }
    if (o.print_trace)
      for (const auto& t : r->trace) std::cout << fmt::format("seed {}: {}{}\n", s, t.ok ? "" : "try ", t.line);
    total_steps += r->steps_run;
    total_checks += r->checks;
    failed += r->failed_steps;
    xfers += r->dma_transfers;
    dfaults += r->dma_faults;
    ffired += r->faults_fired;
    fl.begun += r->in_flight.begun;
    fl.completed += r->in_flight.completed;
    fl.cut += r->in_flight.cut;
    fl.faulted += r->in_flight.faulted;
    fl.pages += r->in_flight.pages;
    for (auto& [k, n] : r->by_command) kinds[k] += n;
    if (!r->violations.empty())
      return report_failure(*cfg, fmt::format("seed {} (--seed {} --steps {} --actors {}), step {}", s, s, o.steps,
                                              o.actors, r->steps_run),
                            r->violations, r->trace);
  }
  std::cout << fmt::format("ok: {} seed(s) from {}, {} steps, {} invariant checks ({} invariants each), 0 violations\n",
                           o.seeds, o.seed, total_steps, total_checks, dsim::InvariantChecker::names().size());
  std::string k;
  for (auto& [c, n] : kinds) k += fmt::format(" {}={}", c, n);
  std::cout << fmt::format("  steps:{} ({} refused cleanly)\n", k, failed);
  std::cout << fmt::format("  dma: {} endpoint transfers, {} IOMMU faults; in flight: {} begun, {} completed, {} cut by unbind, "
                           "{} aborted by the IOMMU, {} pages moved; {} injected faults fired\n",
                           xfers, dfaults, fl.begun, fl.completed, fl.cut, fl.faulted, fl.pages, ffired);
  return 0;
}

SubcommandRegistrar sim_reg({
    [](CLI::App& app) {
      CLI::App* a = app.add_subcommand(
          "sim", "deterministic simulation: random interleavings from a seed (or every order, --exhaustive) with invariant checks");
      add_common(a, o.common);
      a->add_option("--seed", o.seed, "first seed (default 1)")->check(count_check());
      a->add_option("--seeds", o.seeds, "number of consecutive seeds to run (default 1)")->check(count_check());
      a->add_option("--steps", o.steps, "steps per seed (default 200)")->check(count_check());
      a->add_option("--actors", o.actors, "comma list of modules,bind,dma,clock,hotplug,faults or all (default: all but faults)");
      a->add_flag("--exhaustive", o.exhaustive, "every order of a bounded set of steps up to --depth");
      a->add_option("--depth", o.depth, "exhaustive depth (default 8)")->check(count_check());
      a->add_option("--trace-out", o.trace_out, "write the failing trace's scenario script here");
      a->add_option("--inject", o.inject,
                    "FAULT[:COUNT]: arm a fault point right after boot (repeatable; `modiommu run` with `inject` lists them)");
      a->add_flag("--print-trace", o.print_trace, "print every step of every seed (as script lines)");
      a->add_flag("--no-minimise", o.no_minimise, "report the full failing trace");
      return a;
    },
    [] { return run_sim(); },
});

}  // namespace
}  // namespace modiommu::cli
