// Scenario commands for people: explain DEVICE, graph FILE, topology. The
// logic lives in src/report/.
#include <fmt/format.h>

#include "report/explain.h"
#include "report/graph.h"
#include "report/topology.h"
#include "sim/scenario.h"
#include "sim/state.h"

namespace modiommu::sim {
namespace {

void add_report_commands(Scenario& sc) {
  sc.add_command("explain", "explain DEVICE",
                 "why DEVICE is in its state: the chain of what it waits for, down to the missing module or node, "
                 "and what would unblock it",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() != 2) return make_error(Errc::inval, "usage: explain DEVICE");
                   Status st;
                   Device* d = s.device_arg(a[1], st);
                   if (!d) return st;
                   s.out() << report::format_explanation(report::explain_device(s.kernel(), *d));
                   return Status{};
                 });
  sc.add_command("graph", "graph FILE.dot|FILE.svg|FILE.png",
                 "draw the machine as it is now: IOMMUs, groups, consumers, links, states (Graphviz for svg/png)",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() != 2) return make_error(Errc::inval, "usage: graph FILE.dot|FILE.svg|FILE.png");
                   TRY(report::write_graph(s.kernel(), a[1]));
                   s.out() << "graph written to " << a[1] << "\n";
                   return Status{};
                 });
  sc.add_command("lsgroup", "lsgroup",
                 "IOMMU groups: one block each, with its IOMMU, its domain (and default type) and its devices",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() != 1) return make_error(Errc::inval, "usage: lsgroup");
                   s.out() << format_lsgroup(s.kernel());
                   return Status{};
                 });
  sc.add_command("topology", "topology", "each DMA master: what the tree says (decoded) and the IOMMU it got",
                 [](Scenario& s, const Scenario::Args&) -> Status {
                   auto t = report::extract_topology(s.kernel());
                   for (const auto& m : t.masters) {
                     std::string said;
                     for (const auto& d : m.declared) said += (said.empty() ? "" : "; ") + d.iommu_path + " " + d.decoded;
                     s.out() << fmt::format("{} {}: tree: {}; actual: {}{}\n", m.device.empty() ? m.path : m.device,
                                            report::outcome_name(m.outcome), said,
                                            m.attached_iommu.empty() ? "none" : m.attached_iommu,
                                            m.mismatch ? " MISMATCH" : "");
                   }
                   return Status{};
                 });
}

[[maybe_unused]] const bool registered = [] {
  scenario_extensions().push_back(add_report_commands);
  return true;
}();

}  // namespace
}  // namespace modiommu::sim
