// Instrumentation that simulators and tests attach to a kernel; the kernel
// works without it (issue 16, point 3). It holds the freed-table-walk
// check: every translation-table read of the IOMMU models is checked
// against the page allocator, and a walk of a freed page (a use-after-free
// of page tables) is counted and logged.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/api.h"
#include "kernel/kernel.h"

namespace modiommu::sim {

class MODIOMMU_API Harness {
 public:
  // Declare it after the kernel, so it detaches before the kernel goes.
  explicit Harness(Kernel& k);
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // The harness attached to `k`, or null (readers such as the invariant
  // checker find it through the kernel they are given).
  static Harness* of(const Kernel& k);

  Kernel& kernel() { return k_; }
  // Starts checking table walks (after boot: the machine must exist).
  void check_table_walks();
  uint64_t freed_table_walks() const { return freed_table_walks_.load(std::memory_order_relaxed); }

 private:
  Kernel& k_;
  bool watching_ = false;
  std::atomic<uint64_t> freed_table_walks_{0};
};

}  // namespace modiommu::sim
