#include "core/clock.h"

#include <vector>

namespace modiommu {

VirtualClock::Nanos VirtualClock::now() const {
  std::lock_guard g(lock_);
  return now_;
}

void VirtualClock::advance(Nanos delta) {
  Nanos target;
  {
    std::lock_guard g(lock_);
    target = add_saturating(now_, delta);
  }
  for (;;) {
    std::function<void()> fn;
    {
      std::lock_guard g(lock_);
      auto it = timers_.begin();
      if (it == timers_.end() || it->first.first > target) {
        now_ = target;
        return;
      }
      now_ = std::max(now_, it->first.first);
      fn = std::move(it->second.fn);
      timers_.erase(it);
    }
    fn();  // without the lock: a callback may arm or cancel timers
  }
}

VirtualClock::TimerId VirtualClock::arm(Nanos at, std::string name, std::function<void()> fn) {
  std::lock_guard g(lock_);
  TimerId id = next_id_++;
  timers_.emplace(std::pair{at, id}, Timer{at, std::move(name), std::move(fn)});
  return id;
}

bool VirtualClock::cancel(TimerId id) {
  std::lock_guard g(lock_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it)
    if (it->first.second == id) {
      timers_.erase(it);
      return true;
    }
  return false;
}

bool VirtualClock::armed(TimerId id) const {
  std::lock_guard g(lock_);
  for (const auto& [k, t] : timers_)
    if (k.second == id) return true;
  return false;
}

}  // namespace modiommu
