// The virtual clock: boot phases, the deferred-probe backstop timeout and log
// timestamps run on it, so every run is reproducible and no test waits on
// wall time.
//
// Locking: one mutex guards time and the timer list. Timer callbacks run
// without it held (they may arm new timers).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "base/api.h"

namespace modiommu {

class MODIOMMU_API VirtualClock {
 public:
  using Nanos = uint64_t;
  using TimerId = uint64_t;

  Nanos now() const;
  // Runs every timer due up to now+delta in time order, then sets the time
  // (which stops at kEndOfTime rather than wrap).
  void advance(Nanos delta);
  TimerId arm(Nanos at, std::string name, std::function<void()> fn);
  bool cancel(TimerId id);
  bool armed(TimerId id) const;

 private:
  struct Timer {
    Nanos at;
    std::string name;
    std::function<void()> fn;
  };
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  Nanos now_ = 0;
  TimerId next_id_ = 1;
  std::multimap<std::pair<Nanos, TimerId>, Timer> timers_;
};

constexpr VirtualClock::Nanos kNsPerSec = 1'000'000'000ull;
constexpr VirtualClock::Nanos kEndOfTime = ~VirtualClock::Nanos{0};  // about 584 years

// Seconds (>= 0) as nanoseconds, saturating at kEndOfTime: a huge or
// infinite timeout means "not in this run", never a wrapped, early one.
constexpr VirtualClock::Nanos seconds_to_nanos(double s) {
  if (!(s > 0)) return 0;
  if (s >= static_cast<double>(kEndOfTime / kNsPerSec)) return kEndOfTime;
  return static_cast<VirtualClock::Nanos>(s * static_cast<double>(kNsPerSec));
}
constexpr VirtualClock::Nanos add_saturating(VirtualClock::Nanos a, VirtualClock::Nanos b) {
  return b > kEndOfTime - a ? kEndOfTime : a + b;
}

}  // namespace modiommu
