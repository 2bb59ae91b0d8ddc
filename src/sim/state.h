// The final-state JSON document and the human summary table (INTERFACE.md).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "kernel/kernel.h"

namespace modiommu::sim {

// Extra per-device / per-run fields other layers contribute (IOMMU, DMA,
// modules), so this file does not need to know every layer.
struct StateContributors {
  std::function<void(const Device&, nlohmann::json&)> device;
  std::function<void(nlohmann::json&)> document;
};
StateContributors& state_contributors();

struct DmaTotals {
  uint64_t transfers = 0, faults = 0, escapes = 0;
};
// Over every DMA master of the machine.
DmaTotals dma_totals(Kernel& k);

nlohmann::json final_state(Kernel& k, const std::string& platform);
// "NAME  STATE  DRIVER  IOMMU  PROBES  REASON" table.
std::string summary_table(Kernel& k);
// lsdev lines; `links`; `deferred` (debugfs devices_deferred: name<TAB>reason).
std::string format_lsdev(Kernel& k);
std::string format_links(Kernel& k);
std::string format_deferred(Kernel& k);
// lsgroup: one block per IOMMU group (its IOMMU and domain, then its devices).
std::string format_lsgroup(Kernel& k);

}  // namespace modiommu::sim
