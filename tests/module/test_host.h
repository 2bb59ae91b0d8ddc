// What test modules call in the test host (through its exports, as real
// modules call the host): an event log, and a record of the DriverContext& they
// were given, so tests check the loader passes it through untouched.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"

namespace modtest {

class MODIOMMU_API EventLog {
 public:
  void record(const std::string& event);
  std::vector<std::string> events() const;
  size_t count(const std::string& prefix) const;
  void clear();

 private:
  mutable std::mutex lock_;
  std::vector<std::string> events_;
};

MODIOMMU_API EventLog& tlog();
MODIOMMU_API void set_last_kernel(const void* k);
MODIOMMU_API const void* last_kernel();

}  // namespace modtest

extern "C" MODIOMMU_API int modiommu_test_host_marker(void);
