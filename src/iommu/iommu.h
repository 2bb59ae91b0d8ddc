// The IOMMU core's driver-facing types (include/linux/iommu.h): IOMMU
// instances, the per-device fwspec, domains and the ops a driver provides.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "iommu/io_pgtable.h"

namespace modiommu {
class Device;
class CodeOwner;
namespace of {
class Node;
}
}  // namespace modiommu

namespace modiommu::iommu {

// Default-domain kinds (BEHAVIOUR.md 4). JSON/CLI names: blocked, identity,
// dma, dma-lazy, unmanaged.
enum class DomainType { blocked, identity, dma, dma_lazy, unmanaged };
MODIOMMU_API const char* domain_type_name(DomainType t);
MODIOMMU_API std::optional<DomainType> parse_domain_type(std::string_view s);
inline bool is_paging(DomainType t) { return t == DomainType::dma || t == DomainType::dma_lazy || t == DomainType::unmanaged; }

struct FaultInfo {
  uint64_t iova = 0;
  bool write = false;
  uint32_t stream_id = 0;
  std::string reason;  // "F_TRANSLATION", "F_PERMISSION", ...
};
using FaultHandler = std::function<void(Device* dev, const FaultInfo& info)>;

class IommuInstance;

// struct iommu_domain. Drivers subclass it; the paging ops are only called on
// paging domains (dma, dma-lazy, unmanaged).
class MODIOMMU_API IommuDomain {
 public:
  explicit IommuDomain(DomainType t) : type_(t) {}
  virtual ~IommuDomain();
  IommuDomain(const IommuDomain&) = delete;
  IommuDomain& operator=(const IommuDomain&) = delete;

  DomainType type() const { return type_; }
  uint64_t pgsize_bitmap = 0;
  uint64_t aperture_start = 0;
  uint64_t aperture_end = 0;  // inclusive
  IommuInstance* iommu = nullptr;

  virtual Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped);
  virtual size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, IotlbGather& gather);
  // Completes the invalidation of everything gathered, then frees the
  // gathered tables.
  virtual void iotlb_sync(IotlbGather& gather);
  virtual void flush_iotlb_all();
  virtual Result<uint64_t> iova_to_phys(uint64_t iova) const;

  void set_fault_handler(FaultHandler h);
  // Called by the core with a fault for a device in this domain.
  void deliver_fault(Device* dev, const FaultInfo& info);
  uint64_t faults() const { return faults_.load(std::memory_order_relaxed); }

  // The DMA API's state for this domain (IOVA allocator, flush queue).
  std::shared_ptr<void> dma_cookie;

 private:
  const DomainType type_;
  std::mutex handler_lock_;  // docs/architecture.md "Locks"
  FaultHandler handler_;
  std::atomic<uint64_t> faults_{0};
};

// struct iommu_fwspec: what firmware says about one consumer.
struct MODIOMMU_API Fwspec {
  IommuInstance* iommu = nullptr;
  const of::Node* iommu_fwnode = nullptr;
  std::vector<uint32_t> ids;  // stream IDs
  std::shared_ptr<void> priv;  // the driver's per-master data (dev_iommu_priv)
  // Set by a probe_device that declines the device by its driver's policy
  // (Linux: -ENODEV from ipmmu-vmsa's of_xlate/probe_device): the reason.
  // The core then lets the device run with no IOMMU and remembers why
  // (DeviceIommu::left_out), instead of failing its probe.
  std::string declined;
  // Further instances of the same driver the master's `iommus` names
  // (IommuInstance::masters_span_instances): linked like `iommu`, which
  // alone gets the ops calls; the driver programs them all.
  std::vector<IommuInstance*> more;
};

// struct iommu_ops.
class MODIOMMU_API IommuOps {
 public:
  virtual ~IommuOps() = default;
  // One `iommus` specifier (#iommu-cells cells) to IDs. Default: append args[0].
  virtual Status of_xlate(Device& dev, Fwspec& fwspec, const std::vector<uint32_t>& args);
  // A consumer joins: per-master setup. Errors fail the consumer's probe.
  virtual Status probe_device(Device& dev, Fwspec& fwspec) = 0;
  // The consumer leaves: after this the hardware aborts its traffic.
  virtual void release_device(Device& dev, Fwspec& fwspec) = 0;
  virtual Result<std::unique_ptr<IommuDomain>> domain_alloc(DomainType type) = 0;
  // Points the master's translation at `domain` (hitless: the master sees
  // the old or the new configuration, never a mix).
  virtual Status attach_dev(IommuDomain& domain, Device& dev, Fwspec& fwspec) = 0;
  // Devices with the same non-null key share a group (device_group()).
  virtual const void* group_key(Device& dev, Fwspec& fwspec);
};

// struct iommu_device: one registered IOMMU.
class MODIOMMU_API IommuInstance {
 public:
  std::string name;                 // the IOMMU device's name
  Device* dev = nullptr;            // the IOMMU's own device
  const of::Node* fwnode = nullptr; // what consumers' `iommus` point at
  IommuOps* ops = nullptr;
  CodeOwner* owner = nullptr;       // the driver's module (null: built in)
  std::string driver;               // driver name, for "all IOMMUs of one driver"
  // Linux exynos-iommu: one iommu_ops for all its instances, so a master's
  // `iommus` may name several (one SysMMU per port); each instance's
  // of_xlate sees its own specifier, the first holds the fwspec.
  bool masters_span_instances = false;
};

// iommu_map()/iommu_unmap(): split into the largest page sizes the domain
// supports (Linux iommu_pgsize()).
MODIOMMU_API Status iommu_map(IommuDomain& d, uint64_t iova, uint64_t pa, size_t size, int prot);
// Unmaps and syncs (strict).
MODIOMMU_API size_t iommu_unmap(IommuDomain& d, uint64_t iova, size_t size);
// Unmaps into `gather` without syncing (lazy: the caller syncs later).
MODIOMMU_API size_t iommu_unmap_fast(IommuDomain& d, uint64_t iova, size_t size, IotlbGather& gather);

}  // namespace modiommu::iommu
