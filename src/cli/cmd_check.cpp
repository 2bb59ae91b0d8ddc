// `modiommu check PLATFORM... [--json]` (INTERFACE.md): boot many trees at
// once with --generic-endpoints and report each one's IOMMU topology.
#include <chrono>
#include <iostream>

#include <unistd.h>

#include "base/json_text.h"
#include "cli/common.h"
#include "report/check.h"

namespace modiommu::cli {
namespace {

struct CheckArgs {
  CommonOpts o;
  std::vector<std::string> paths;
  unsigned jobs = 0;
  bool masters = false;
  bool no_progress = false;
};
CheckArgs args;

void print_masters(const report::TreeCheck& r) {
  for (const auto& m : r.topo.masters) {
    // Consecutive specifiers on one IOMMU share its path: "iommu@e6740000 [ipmmu-vmsa] micro-TLB 0x0, micro-TLB 0x1".
    std::string said, last;
    for (const auto& d : m.declared) {
      if (d.iommu_path == last) said += ", " + d.decoded;
      else
        said += fmt::format("{}{} [{}]{} {}", said.empty() ? "" : "; ", d.iommu_path, d.kind,
                            d.iommu_enabled ? "" : " (disabled)", d.decoded);
      last = d.iommu_path;
    }
    if (!m.binding_error.empty()) said = "bad binding: " + m.binding_error;
    if (said.empty()) said = m.tree_note.empty() ? "no IOMMU" : "no IOMMU (" + m.tree_note + ")";
    std::string got = m.attached_iommu.empty() ? (m.bypass ? "NO isolation (bypass)" : "no IOMMU")
                                               : fmt::format("{} IDs {:#x} group {} {}", m.attached_iommu,
                                                             fmt::join(m.stream_ids, ","), m.group, m.domain);
    // Made a device by its parent's driver, not by the bus (--populate=drivers).
    const std::string by = m.populated_by.empty() || m.populated_by == "bus" ? "" : "  populated by " + m.populated_by;
    std::cout << fmt::format("      {:<10} {}  tree: {}  actual: {}{}{}{}\n", report::outcome_name(m.outcome), m.path,
                             said, got, by, m.mismatch ? "  MISMATCH" : "", m.reason.empty() ? "" : "  (" + m.reason + ")");
  }
}

int cmd_check() {
  auto files = report::collect_platform_files(args.paths);
  if (!files.ok()) return bad_options(files.error());
  auto ko = kernel_options(args.o);
  if (!ko.ok()) return bad_options(ko.error());
  report::CheckOptions opts;
  opts.kernel = *ko;
  opts.jobs = args.jobs;
  const bool bar = !args.no_progress && isatty(STDERR_FILENO);
  opts.progress = [&](size_t done, size_t total, const report::TreeCheck& r) {
    if (!args.o.json) {
      if (bar) std::cerr << "\r\033[K" << std::flush;  // the line replaces the bar, which is redrawn below it
      std::cout << report::format_tree_line(r) << "\n";
      if (args.masters) print_masters(r);
      std::cout << std::flush;
    }
    if (bar) {
      const size_t width = 30, fill = total ? done * width / total : width;
      std::cerr << fmt::format("\r[{}{}] {}/{} ", std::string(fill, '#'), std::string(width - fill, '.'), done, total)
                << (done == total ? "\n" : "") << std::flush;
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto results = report::check_trees(*files, opts);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto summary = report::summarise(results);
  if (args.o.json) std::cout << json_text(report::check_json(results, summary, secs), 2) << "\n";
  else std::cout << "\n" << report::format_summary(summary, secs);
  return summary.parsed == summary.trees && summary.booted == summary.trees ? 0 : 1;
}

SubcommandRegistrar reg({
    [](CLI::App& app) {
      CLI::App* c = app.add_subcommand(
          "check", "boot every PLATFORM (.dtb/.dts files or directories) with --generic-endpoints; report each one's "
                   "IOMMU topology and a summary; exit 0 if all parsed and booted");
      c->add_option("PLATFORM", args.paths, "device trees, or directories searched for .dtb/.dts")->required();
      add_common_options(c, args.o);
      c->add_option("-j,--jobs", args.jobs, "worker threads (default: one per CPU)")->check(count_check());
      c->add_flag("--masters", args.masters, "one line per DMA master: what the tree says and what happened");
      c->add_flag("--no-progress", args.no_progress, "no progress bar even on a terminal");
      return c;
    },
    [] { return cmd_check(); },
});

}  // namespace
}  // namespace modiommu::cli
