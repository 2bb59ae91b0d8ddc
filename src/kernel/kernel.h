// One emulated kernel instance: the clock, the log, the driver core, the
// device tree it booted from, the module loader, the IOMMU core and the
// emulated machine. It is the composition root: drivers and modules see it
// only as their DriverContext (kernel/driver_context.h).
// Several kernels can live in one process (tests do that).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/driver_core.h"
#include "core/pci.h"
#include "core/log.h"
#include "iommu/dma.h"
#include "iommu/iommu_core.h"
#include "kernel/driver_context.h"
#include "kernel/endpoint.h"
#include "kernel/io.h"
#include "kernel/kernel_observer.h"
#include "board/platform.h"
#include "mm/page_alloc.h"
#include "of/tree.h"

namespace modiommu {

class ModuleLoader;

struct KernelOptions {
  DeferredPolicy deferred_probe = DeferredPolicy::targeted;
  double deferred_timeout = 10.0;  // virtual seconds, <0 = never
  // A later module directory is announced: boot-complete does not make the
  // module sources final; the backstop timeout (or an explicit announcement)
  // does.
  bool await_module_sources = false;
  bool verbose = false;  // debug lines in the log
  iommu::IommuPolicy iommu;  // --missing-iommu, default domain types
  // Module sources (--modules); empty: no loadable modules, only built-ins.
  std::vector<std::string> module_dirs;
  std::vector<std::string> preload;    // --preload: modprobe'd in the initcall phase
  bool autoload = true;                // --no-autoload => false
  std::vector<std::string> blacklist;  // --blacklist
  bool generic_endpoints = false;      // --generic-endpoints: drivers/misc/generic-endpoint binds DMA masters
  // Unset: drivers with --generic-endpoints (and so in check), else bus_only.
  std::optional<PopulatePolicy> populate;
  PopulatePolicy populate_policy() const {
    return populate.value_or(generic_endpoints ? PopulatePolicy::drivers : PopulatePolicy::bus_only);
  }
};

class MODIOMMU_API Kernel final : public DriverContext {
 public:
  explicit Kernel(KernelOptions opts = {});
  ~Kernel() override;
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  const KernelOptions& options() const { return opts_; }
  VirtualClock& clock() { return clock_; }
  Log& log() override { return log_; }
  DriverCore& core() override { return core_; }
  Bus& platform_bus() override { return platform_bus_; }
  PciCore& pci() override { return pci_; }
  const of::Tree* tree() const override { return tree_.get(); }
  // Valid after boot().
  Platform& platform() { return *platform_; }
  bool has_platform() const { return platform_ != nullptr; }
  hw::Machine& machine() { return platform_->machine(); }
  mm::PageAllocator& pages() override { return *pages_; }
  hw::PhysicalMemory& ram() override { return pages_->memory(); }
  iommu::IommuCore& iommu() override { return iommu_; }
  iommu::DmaApi& dma() override { return *dma_; }
  ModuleLoader& modules() { return *modules_; }

  // The driver context (kernel/driver_context.h).
  Result<IoMem> ioremap(Device& dev, size_t index = 0) override;
  Result<IrqHandle> request_irq(Device& dev, const std::string& name, std::function<void()> handler) override;
  std::vector<std::string> modules_for_alias(const std::string& modalias) override;
  bool generic_endpoints() const override { return opts_.generic_endpoints; }
  PopulatePolicy populate_policy() const override { return opts_.populate_policy(); }

  // Boot up to (not including) boot-complete: build the platform, populate
  // devices (arch_initcall), initialise built-in modules (device_initcall),
  // load --preload modules (an initramfs).
  Status boot(const std::string& platform_path);
  Status boot(std::unique_ptr<of::Tree> tree);
  // late_initcall.
  void boot_complete();
  // DMA endpoints (kernel/endpoint.h), registered by drivers while bound:
  // handed to the attached observer, if any; else nothing keeps them.
  void register_endpoint(Device& dev, DmaEndpoint* ep, CodeOwner* owner) override;
  void unregister_endpoint(Device& dev) override;

  // Instrumentation (kernel/kernel_observer.h), at most one. Attach before
  // boot() (drivers register endpoints during boot) and detach while no
  // other thread is in the kernel: the pointer is read without a lock by
  // whichever thread binds, unbinds or registers, and the observer is called
  // from there (where update_dma_policy used to run, under the same locks).
  void attach_observer(KernelObserver* o) { observer_.store(o, std::memory_order_release); }
  void detach_observer(KernelObserver* o) { observer_.compare_exchange_strong(o, nullptr, std::memory_order_acq_rel); }

  // Drivers registered by this kernel's initcalls, unregistered at teardown.
  void own_driver(std::unique_ptr<Driver> drv);

 private:
  KernelObserver* observer() const { return observer_.load(std::memory_order_acquire); }

  KernelOptions opts_;
  VirtualClock clock_;
  Log log_{clock_};
  DriverCore core_{log_, clock_};
  Bus platform_bus_{"platform"};
  PciCore pci_;
  std::unique_ptr<of::Tree> tree_;
  std::unique_ptr<Platform> platform_;
  std::unique_ptr<mm::PageAllocator> pages_;
  iommu::IommuCore iommu_{core_, log_};
  std::unique_ptr<iommu::DmaApi> dma_;
  std::vector<std::unique_ptr<Driver>> owned_drivers_;
  std::atomic<KernelObserver*> observer_{nullptr};
  // Last member: destroyed first, so modules unload (unbinding their
  // devices) while everything they use still exists.
  std::unique_ptr<ModuleLoader> modules_;
};

}  // namespace modiommu
