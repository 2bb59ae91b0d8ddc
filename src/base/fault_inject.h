// Named fault points (Linux's fault-injection framework, fail_* attributes,
// reduced to what tests and the simulator need). Code that can fail asks
// fault_point("smmuv3.cmdq.stall") at the place the failure would happen;
// nothing fires unless a test, a simulator actor or the scenario command
// `inject FAULT [count]` armed that name. Firing is counted, never random,
// so every run replays exactly.
//
// Locking: one mutex guards the table; an atomic count of armed points lets
// the unarmed fast path skip it. Callers may hold any lock: nothing is
// called back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

// True if `name` is armed: the fault should happen now. Each firing uses up
// one count of the arming.
MODIOMMU_API bool fault_point(std::string_view name);

struct FaultPointInfo {
  std::string name;
  std::string what;  // one line for people (`inject` with no argument lists them)
};

class MODIOMMU_API FaultInjection {
 public:
  // The points this build has hooks for; arm() refuses other names, so a
  // typo in a script is an error rather than a silent no-op.
  static const std::vector<FaultPointInfo>& known();
  // Fire the next `count` times the point is reached (after passing `skip`
  // times). count 0 disarms.
  static Status arm(std::string_view name, uint64_t count = 1, uint64_t skip = 0);
  static void disarm(std::string_view name);
  static void disarm_all();
  // Times the point fired since it was last armed.
  static uint64_t fired(std::string_view name);
  // Times it fired in this process, over every arming.
  static uint64_t total_fired(std::string_view name);
  // Armings still waiting to fire.
  static uint64_t pending(std::string_view name);
};

// Disarms everything when it goes out of scope (tests).
struct MODIOMMU_API FaultScope {
  FaultScope() = default;
  ~FaultScope() { FaultInjection::disarm_all(); }
  FaultScope(const FaultScope&) = delete;
  FaultScope& operator=(const FaultScope&) = delete;
};

}  // namespace modiommu
