#include "test_host.h"

#include <atomic>

namespace modtest {

void EventLog::record(const std::string& event) {
  std::lock_guard<std::mutex> g(lock_);
  events_.push_back(event);
}

std::vector<std::string> EventLog::events() const {
  std::lock_guard<std::mutex> g(lock_);
  return events_;
}

size_t EventLog::count(const std::string& prefix) const {
  std::lock_guard<std::mutex> g(lock_);
  size_t n = 0;
  for (const auto& e : events_)
    if (e.rfind(prefix, 0) == 0) ++n;
  return n;
}

void EventLog::clear() {
  std::lock_guard<std::mutex> g(lock_);
  events_.clear();
}

EventLog& tlog() {
  static EventLog l;
  return l;
}

namespace {
std::atomic<const void*> g_last_kernel{nullptr};
}
void set_last_kernel(const void* k) { g_last_kernel = k; }
const void* last_kernel() { return g_last_kernel; }

}  // namespace modtest

extern "C" int modiommu_test_host_marker(void) { return 42; }
