// What a driver has of the kernel, and nothing more: what a Linux driver
// reaches through its headers (ioremap, request_irq, the DMA API, IOMMU
// registration, the driver core, printk, the page allocator and kernel RAM).
// Every driver, module init/exit and the virtio core API take a
// DriverContext&; the kernel implements it. No machine, no board: a driver
// reaches hardware through MMIO and DMA only (scripts/check-layers.py).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "core/bus.h"
#include "core/driver_core.h"
#include "core/log.h"
#include "core/pci.h"
#include "hw/memory.h"  // guest RAM's accessor: the one hw/ header drivers see
#include "iommu/dma.h"
#include "iommu/iommu_core.h"
#include "kernel/endpoint.h"
#include "kernel/io.h"
#include "mm/page_alloc.h"
#include "of/tree.h"

namespace modiommu {

class CodeOwner;
class Device;

// --populate: who makes devices of child nodes (BEHAVIOUR.md 7).
enum class PopulatePolicy {
  drivers,   // a bound device's children, as its driver's of_platform_populate would
  bus_only,  // only children of buses (simple-bus, ...), at boot
};

class MODIOMMU_API DriverContext {
 public:
  DriverContext() = default;
  virtual ~DriverContext() = default;
  DriverContext(const DriverContext&) = delete;
  DriverContext& operator=(const DriverContext&) = delete;

  virtual Log& log() = 0;
  virtual DriverCore& core() = 0;
  virtual Bus& platform_bus() = 0;
  virtual PciCore& pci() = 0;
  virtual iommu::IommuCore& iommu() = 0;  // iommu_device_register(), report_iommu_fault()
  virtual iommu::DmaApi& dma() = 0;       // dma_map_single(), dma_alloc_coherent()
  virtual mm::PageAllocator& pages() = 0;  // alloc_pages(): tables, queues, buffers
  // Kernel RAM, by physical address (what the kernel's linear map gives a
  // Linux driver): queues, tables and buffers the driver allocated.
  virtual hw::PhysicalMemory& ram() = 0;
  // The device tree the kernel booted from (null before boot).
  virtual const of::Tree* tree() const = 0;

  // devm_ioremap_resource(): register window `index` of the device's reg
  // (PCI devices: BAR `index`).
  virtual Result<IoMem> ioremap(Device& dev, size_t index = 0) = 0;
  // request_irq() by interrupt-names entry (or index if `name` is a number).
  virtual Result<IrqHandle> request_irq(Device& dev, const std::string& name, std::function<void()> handler) = 0;

  // The modules in the index serving `modalias` (empty: none could load).
  virtual std::vector<std::string> modules_for_alias(const std::string& modalias) = 0;

  // The kernel options drivers read.
  virtual bool generic_endpoints() const = 0;  // --generic-endpoints
  virtual PopulatePolicy populate_policy() const = 0;

  // A DMA endpoint the scenario commands drive (kernel/endpoint.h), while
  // the device is bound. Handed to the instrumentation attached to the
  // kernel; without any, nothing drives it and these do nothing.
  virtual void register_endpoint(Device& dev, DmaEndpoint* ep, CodeOwner* owner) = 0;
  virtual void unregister_endpoint(Device& dev) = 0;
};

}  // namespace modiommu
