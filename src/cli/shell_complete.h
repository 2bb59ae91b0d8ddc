// Completion candidates for `modiommu shell`: command names for the first
// word, then device and module names. Kept apart from readline so tests and
// the non-tty path share it.
#pragma once

#include <string>
#include <vector>

#include "sim/scenario.h"

namespace modiommu::cli {

// Every candidate starting with `prefix` for word number `word` (0 = the
// command) of a line whose first word is `command`.
std::vector<std::string> shell_completions(sim::Scenario& sc, const std::string& command, size_t word,
                                           const std::string& prefix);

}  // namespace modiommu::cli
