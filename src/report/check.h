// `modiommu check`: boot many device trees at once, each in its own Kernel
// on a worker thread, with the generic endpoint driver bound to every
// driverless DMA master, and summarise the IOMMU topology and outcomes.
// Each tree is booted under both --missing-iommu policies, so the report
// says which masters would run without isolation (bypass) and which would
// never probe (fail).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/api.h"
#include "base/result.h"
#include "kernel/kernel.h"
#include "report/topology.h"

namespace modiommu::report {

struct TreeCheck {
  std::string file;
  bool parsed = false;
  bool booted = false;
  std::string error;                // parse or boot error (names file and node)
  std::vector<std::string> errors;          // error lines of the boot log
  std::vector<std::string> binding_errors;  // malformed iommus / mmu-masters: "node path: message"
  Topology topo;                    // under the policy asked for
  size_t devices = 0;
  // Masters by outcome under each --missing-iommu policy.
  size_t bypass_masters = 0;        // --missing-iommu=bypass: bound without isolation
  size_t never_probe_bypass = 0;    // --missing-iommu=bypass: never probe
  size_t never_probe_fail = 0;      // --missing-iommu=fail: never probe
  double millis = 0;
  bool ok() const { return parsed && booted; }
};

struct CheckOptions {
  KernelOptions kernel;  // generic_endpoints is forced on
  unsigned jobs = 0;     // 0: hardware concurrency
  // Called from worker threads, serialised by the runner.
  std::function<void(size_t done, size_t total, const TreeCheck& last)> progress;
};

// Files named, directories searched recursively for .dtb/.dts (sorted).
MODIOMMU_API Result<std::vector<std::string>> collect_platform_files(const std::vector<std::string>& paths);
MODIOMMU_API TreeCheck check_tree(const std::string& file, const KernelOptions& base);
MODIOMMU_API std::vector<TreeCheck> check_trees(const std::vector<std::string>& files, const CheckOptions& opts);

struct CheckSummary {
  size_t trees = 0, parsed = 0, booted = 0;
  size_t masters = 0, masters_resolved = 0, masters_isolated = 0, mismatches = 0;
  size_t bypass_masters = 0, never_probe_bypass = 0, never_probe_fail = 0;
  size_t masters_left_out = 0;  // bound, left out by their IOMMU driver's policy (Outcome::left_out)
  size_t iommu_nodes = 0;
  // compatible string -> {nodes, with a driver model here, registered by a driver here}
  struct Kind {
    std::string family;
    size_t nodes = 0, modelled = 0, driven = 0, disabled = 0;
  };
  std::map<std::string, Kind> kinds;
  std::map<std::string, size_t> outcomes;  // outcome_name() -> masters, under the policy asked for
  std::vector<std::string> parse_errors;  // "file: message" (node paths inside)
};
MODIOMMU_API CheckSummary summarise(const std::vector<TreeCheck>& results);
MODIOMMU_API std::string format_tree_line(const TreeCheck& r);
MODIOMMU_API std::string format_summary(const CheckSummary& s, double seconds);
MODIOMMU_API nlohmann::json check_json(const std::vector<TreeCheck>& results, const CheckSummary& s, double seconds);

}  // namespace modiommu::report
