// What the kernel tells instrumentation attached to it (issue 16, point 3):
// sim::Harness keeps the DMA endpoint registry and escape accounting through
// these calls. The kernel works without an observer; then nothing is told.
#pragma once

#include "base/api.h"

namespace modiommu {

class CodeOwner;
class Device;
class DmaEndpoint;

// Why a device's DMA policy may have changed.
enum class DmaPolicyEvent {
  added,       // the device was added (its IOMMU group, if any, joined)
  configured,  // its IOMMU was configured before probe (dma_configure)
  released,    // its driver went; the IOMMU side was cleaned up (dma_cleanup)
};

class MODIOMMU_API KernelObserver {
 public:
  KernelObserver() = default;
  virtual ~KernelObserver() = default;
  KernelObserver(const KernelObserver&) = delete;
  KernelObserver& operator=(const KernelObserver&) = delete;

  // boot() built the platform and the page allocator (before any device).
  virtual void platform_built() = 0;
  // DriverContext::register_endpoint()/unregister_endpoint() of a driver.
  virtual void endpoint_registered(Device& dev, DmaEndpoint* ep, CodeOwner* owner) = 0;
  virtual void endpoint_unregistered(Device& dev) = 0;
  virtual void dma_policy_changed(Device& dev, DmaPolicyEvent why) = 0;
};

}  // namespace modiommu
