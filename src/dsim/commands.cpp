// Scenario commands the simulator's traces use (so a trace replays with
// `modiommu run`): dma-begin/dma-step/dma-end (inflight.h), `try` (a step
// whose failure is an accepted outcome) and `expect invariants`.
#include <charconv>

#include <fmt/format.h>

#include "dsim/inflight.h"
#include "dsim/invariants.h"
#include "sim/scenario.h"

namespace modiommu::dsim {
namespace {

Result<size_t> parse_size(const std::string& s) {
  size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) return make_error(Errc::inval, "not a byte count: '" + s + "'");
  std::string_view rest(p, static_cast<size_t>(s.data() + s.size() - p));
  if (rest == "K" || rest == "k") v <<= 10;
  else if (rest == "M" || rest == "m") v <<= 20;
  else if (!rest.empty()) return make_error(Errc::inval, "not a byte count: '" + s + "' (use N, NK or NM)");
  return v;
}

void add_commands(sim::Scenario& sc) {
  sc.add_command("dma-begin", "dma-begin DEVICE write|read BYTES",
                 "map a buffer and start a transfer that moves one page per dma-step (held in flight)",
                 [](sim::Scenario& s, const sim::Scenario::Args& a) -> Status {
                   if (a.size() != 4) return make_error(Errc::inval, "usage: dma-begin DEVICE write|read BYTES");
                   Status st;
                   Device* d = s.device_arg(a[1], st);
                   if (!d) return st;
                   if (a[2] != "write" && a[2] != "read")
                     return make_error(Errc::inval, "direction must be write or read, not '" + a[2] + "'");
                   const size_t n = TRY(parse_size(a[3]));
                   return InFlightTable::of(s.kernel())->begin(*d, a[2] == "write" ? DmaXfer::write : DmaXfer::read, n);
                 });
  sc.add_command("dma-step", "dma-step DEVICE", "the in-flight transfer moves its next page",
                 [](sim::Scenario& s, const sim::Scenario::Args& a) -> Status {
                   if (a.size() != 2) return make_error(Errc::inval, "usage: dma-step DEVICE");
                   Status st;
                   Device* d = s.device_arg(a[1], st);
                   if (!d) return st;
                   return InFlightTable::of(s.kernel())->step(*d);
                 });
  sc.add_command("dma-end", "dma-end DEVICE", "finish the in-flight transfer: unmap, verify, free",
                 [](sim::Scenario& s, const sim::Scenario::Args& a) -> Status {
                   if (a.size() != 2) return make_error(Errc::inval, "usage: dma-end DEVICE");
                   Status st;
                   Device* d = s.device_arg(a[1], st);
                   if (!d) return st;
                   return InFlightTable::of(s.kernel())->end(*d);
                 });
  sc.add_command("try", "try COMMAND...", "run COMMAND; its failure is reported but accepted (simulator traces)",
                 [](sim::Scenario& s, const sim::Scenario::Args& a) -> Status {
                   if (a.size() < 2) return make_error(Errc::inval, "usage: try COMMAND...");
                   if (a[1] == "try") return make_error(Errc::inval, "try cannot nest");
                   std::string inner;
                   for (size_t i = 1; i < a.size(); ++i) inner += (i > 1 ? " " : "") + a[i];
                   Status r = s.run_line(inner);
                   if (!r.ok()) s.out() << "try: " << inner << ": " << r.error().str() << "\n";
                   return Status{};
                 });
  sc.add_expectation("invariants", "expect invariants",
                 "every simulator invariant holds now (escapes, corruption, links, deferral reasons, module refs ...)",
                 [](sim::Scenario& s, const sim::Scenario::Args& a) -> Status {
                   if (a.size() != 2) return make_error(Errc::inval, "usage: expect invariants");
                   InvariantChecker c;
                   for (const auto& v : c.check(s.kernel())) s.expect_failed("invariant " + v.invariant + ": " + v.detail);
                   return Status{};
                 });
}

const bool registered = [] {
  sim::scenario_extensions().push_back(add_commands);
  return true;
}();

}  // namespace
}  // namespace modiommu::dsim
