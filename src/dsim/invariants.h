// What must hold after every simulator step (issue 9): checked from the
// kernel's observable state, never from the actors' own bookkeeping, so a
// bug anywhere below shows up here.
#pragma once

#include <string>
#include <vector>

#include "base/api.h"
#include "kernel/kernel.h"

namespace modiommu::dsim {

struct Violation {
  std::string invariant;  // short name: "escape", "links", "deferred-reason", ...
  std::string detail;     // what and where, for people
};

class MODIOMMU_API InvariantChecker {
 public:
  // The names checked, in order (docs/sim.md lists what each means).
  static const std::vector<std::string>& names();
  // Every violation now. The driver-core lock is taken inside.
  std::vector<Violation> check(Kernel& k);
  uint64_t checks_run() const { return checks_; }

 private:
  uint64_t checks_ = 0;
};

}  // namespace modiommu::dsim
