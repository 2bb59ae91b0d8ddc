// `explain DEVICE`: why a device is in its state, the chain of what it waits
// for down to the missing module or node, and what would unblock it. The
// first line quotes DriverCore::reason(), the text lsdev, the JSON and
// `deferred` show, so the root words are the same everywhere.
#pragma once

#include <string>
#include <vector>

#include "base/api.h"
#include "kernel/kernel.h"

namespace modiommu::report {

struct Explanation {
  std::vector<std::string> chain;    // indented lines, the device first
  std::vector<std::string> unblock;  // commands or actions that would unblock it ("modprobe arm_smmu_v3")
};

MODIOMMU_API Explanation explain_device(Kernel& k, const Device& dev);
MODIOMMU_API std::string format_explanation(const Explanation& e);

}  // namespace modiommu::report
