// `modiommu graph PLATFORM [-o FILE.svg|.png|.dot]` (INTERFACE.md): boot to
// the end and draw the machine (report/graph.h). Without -o the dot text
// goes to stdout.
#include <iostream>

#include "cli/common.h"
#include "report/graph.h"

namespace modiommu::cli {
namespace {

CommonOpts graph_o;
std::string graph_out;

int cmd_graph() {
  auto ko = kernel_options(graph_o);
  if (!ko.ok()) return bad_options(ko.error());
  Kernel k(*ko);
  // The picture is the output; the boot log goes to stderr with -v only.
  k.log().set_sink([](const LogEntry& e) {
    if (e.level >= LogLevel::warn) std::cerr << e.format() << "\n";
  });
  if (graph_o.verbose) k.log().set_sink([](const LogEntry& e) { std::cerr << e.format() << "\n"; });
  Status s = boot_platform(k, graph_o);
  if (!s.ok()) {
    std::cerr << "modiommu: " << s.error().str() << "\n";
    return 2;
  }
  k.boot_complete();
  k.log().set_sink(nullptr);
  if (graph_out.empty()) {
    std::cout << report::emit_dot(k);
    return 0;
  }
  Status w = report::write_graph(k, graph_out);
  if (!w.ok()) {
    std::cerr << "modiommu: " << w.error().str() << "\n";
    return 1;
  }
  std::cerr << "graph written to " << graph_out << "\n";
  return 0;
}

SubcommandRegistrar reg({
    [](CLI::App& app) {
      CLI::App* c = app.add_subcommand("graph", "boot PLATFORM and draw the machine: IOMMUs, groups, consumers, links");
      add_common(c, graph_o);
      c->add_option("-o,--output", graph_out, "FILE.svg, FILE.png (Graphviz `dot`) or FILE.dot; default: dot on stdout");
      return c;
    },
    [] { return cmd_graph(); },
});

}  // namespace
}  // namespace modiommu::cli
