// Instrumentation that simulators and tests attach to a kernel; the kernel
// works without it (issue 16, point 3). It observes the kernel
// (kernel/kernel_observer.h) and holds
// - the DMA endpoint registry: the endpoints drivers register while bound,
//   which the scenario commands and the simulator drive;
// - escape accounting: each master's port is told whether untranslated DMA
//   is sanctioned right now, so the hardware counts the pieces that are not;
// - the freed-table-walk check: every translation-table read of the IOMMU
//   models is checked against the page allocator, and a walk of a freed page
//   (a use-after-free of page tables) is counted and logged.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "kernel/endpoint.h"
#include "kernel/kernel.h"
#include "kernel/kernel_observer.h"

namespace modiommu::sim {

// The device's DMA master port in the emulation (null if it has none);
// *described: firmware puts it behind an IOMMU.
MODIOMMU_API hw::UpstreamPort* dma_port(Kernel& k, const Device& dev, bool* described);

class MODIOMMU_API Harness final : public KernelObserver {
 public:
  // Attaches to `k`: construct it before k.boot() (--preload registers
  // endpoints during boot), and after the kernel, so it detaches first.
  explicit Harness(Kernel& k);
  ~Harness() override;

  // The harness attached to `k`, or null (readers such as the invariant
  // checker and the scenario commands find it through the kernel).
  static Harness* of(const Kernel& k);

  Kernel& kernel() { return k_; }
  // Starts checking table walks (after boot: the machine must exist).
  void check_table_walks();
  uint64_t freed_table_walks() const { return freed_table_walks_.load(std::memory_order_relaxed); }

  // Runs fn with the endpoint of `dev` and its owner pinned; ENODEV if none.
  Status with_endpoint(Device& dev, const std::function<Status(DmaEndpoint&)>& fn);
  std::vector<Device*> endpoint_devices();

  // KernelObserver.
  void platform_built() override;
  void endpoint_registered(Device& dev, DmaEndpoint* ep, CodeOwner* owner) override;
  void endpoint_unregistered(Device& dev) override;
  void dma_policy_changed(Device& dev, DmaPolicyEvent why) override;

 private:
  Kernel& k_;
  bool watching_ = false;
  std::atomic<uint64_t> freed_table_walks_{0};
  struct EndpointReg {
    DmaEndpoint* ep;
    CodeOwner* owner;
  };
  std::mutex endpoints_lock_;  // guards endpoints_; never held across an endpoint call; docs/architecture.md "Locks"
  std::map<Device*, EndpointReg> endpoints_;
};

}  // namespace modiommu::sim
