// The IOMMU core (drivers/iommu/iommu.c + of_iommu.c): registered IOMMUs,
// the modular probe policy (BEHAVIOUR.md 1, 4), groups, default domains,
// attach/detach, faults.
//
// Probe policy, run as the driver core's pre-probe step for every device:
// no `iommus` => no IOMMU; an `iommus` target that is disabled => not behind
// it; registered => attach; a driver for it can still appear => defer (with
// a reason a person reads); none can => --missing-iommu decides at once:
// bypass (a loud warning naming the device) or fail.
//
// Locking: lock_ guards instances, groups and per-device IOMMU state; rank 2
// in docs/architecture.md "Locks". It is taken inside the driver core's lock
// (probe/remove hooks, or DriverCore::exclusive()) and never the other way
// round, and it is not recursive: entry points take it once and work
// through *_locked helpers. Fault reports take lock_ only to find the
// device, and call handlers without it. Readers outside take values:
// info(), group_snapshots(). The DMA fast path takes no lock here: a driver
// uses the DMA API only while bound, and unbind releases the device after
// the driver's remove() has stopped its DMA.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "core/device.h"
#include "core/driver_core.h"
#include "core/log.h"
#include "iommu/iommu.h"

namespace modiommu::of {
struct IommuRefs;
}

namespace modiommu::iommu {

enum class MissingIommu { bypass, fail };

struct IommuPolicy {
  MissingIommu missing = MissingIommu::bypass;
  DomainType default_domain = DomainType::dma;
  std::map<std::string, DomainType> per_device;  // device name -> default domain type
};

class MODIOMMU_API IommuGroup {
 public:
  int id = 0;
  IommuInstance* iommu = nullptr;
  const void* key = nullptr;
  std::vector<Device*> devices;
  DomainType default_type = DomainType::dma;
  std::unique_ptr<IommuDomain> default_domain;
  std::unique_ptr<IommuDomain> blocked_domain;
  IommuDomain* domain = nullptr;  // currently attached
  IommuDomain* owner_domain = nullptr;  // an unmanaged domain attached by a user
};

// Per-device IOMMU state (dev->iommu).
struct MODIOMMU_API DeviceIommu : Device::Attachment {
  Fwspec fwspec;
  IommuGroup* group = nullptr;
  bool probed = false;               // probe_device ran, release_device owed
  // --missing-iommu=bypass applied: DMA is unrestricted by policy.
  bool bypass_fallback = false;
  const of::Node* fallback_iommu = nullptr;  // the IOMMU it should have been behind
  std::atomic<uint64_t> faults{0};
  // Declined by its IOMMU driver's policy (Fwspec::declined): why. The
  // device runs with no IOMMU; left_out_iommu is the instance's name.
  std::string left_out;
  std::string left_out_iommu;
};

struct DeviceIommuInfo {
  std::string iommu;  // IOMMU device name, "" if none
  std::vector<uint32_t> stream_ids;
  int group = -1;
  std::optional<DomainType> domain;
  bool bypass_fallback = false;
  const of::Node* fallback_iommu = nullptr;  // with bypass_fallback: the IOMMU it should be behind
  uint64_t faults = 0;
  std::string left_out;  // non-empty: its IOMMU driver's policy left it out, and why
};

// An IOMMU group as a value (lsgroup, expect group).
struct GroupSnapshot {
  struct Member {
    const Device* dev = nullptr;  // identity only: look it up in a CoreSnapshot
    std::string name;
    std::string path;
  };
  int id = 0;
  std::string iommu;  // its first member's IOMMU name
  const of::Node* iommu_fwnode = nullptr;  // the IOMMU instance's node
  DomainType default_type = DomainType::dma;
  std::optional<DomainType> domain;  // attached now
  std::vector<Member> members;       // in join order
};

class MODIOMMU_API IommuCore {
 public:
  IommuCore(DriverCore& core, Log& log);
  ~IommuCore();

  void set_policy(IommuPolicy p);
  const IommuPolicy& policy() const { return policy_; }
  // The DMA layer initialises each new DMA default domain (IOVA allocator).
  void set_dma_domain_init(std::function<Status(IommuDomain&, Device&)> f) { dma_domain_init_ = std::move(f); }
  // ... and drains a DMA domain (lazy flush queue) before it is freed.
  void set_dma_domain_fini(std::function<void(IommuDomain&)> f) { dma_domain_fini_ = std::move(f); }

  // iommu_device_register(): consumers waiting for it are retried, and
  // devices that fell back to bypass for want of it are moved under it.
  Status register_iommu(IommuInstance& inst);
  // iommu_device_unregister(): every consumer must already be released
  // (device links unbind them first). Any left are released here, loudly.
  void unregister_iommu(IommuInstance& inst);
  IommuInstance* find_iommu(const of::Node* fwnode) const;
  std::vector<IommuInstance*> iommus() const;

  // Driver core hooks (of_dma_configure / dma_cleanup). A PCI device keeps
  // its group across unbind: it leaves it when it is removed.
  Status dma_configure(Device& dev);
  void dma_cleanup(Device& dev);
  // The bus notifier (iommu_probe_device() at BUS_NOTIFY_ADD_DEVICE): a PCI
  // device behind a registered IOMMU joins its group when it is added,
  // whether a driver binds it or not, as Linux does; one whose IOMMU is not
  // registered yet joins when it registers (bus_iommu_probe()). A requester
  // ID outside every iommu-map entry is logged.
  void add_device(Device& dev);
  // Device removed from the system: it leaves its group.
  void remove_device(Device& dev);

  // Faults reported by a driver for a stream ID on its IOMMU.
  void report_fault(IommuInstance& inst, const FaultInfo& info);

  // Unmanaged domains (iommu_domain_alloc / iommu_attach_device).
  Result<std::unique_ptr<IommuDomain>> domain_alloc_unmanaged(Device& dev);
  Status attach_device(IommuDomain& domain, Device& dev);
  void detach_device(IommuDomain& domain, Device& dev);
  // The domain a bound device's DMA goes through (null: no IOMMU).
  IommuDomain* device_domain(const Device& dev) const;
  DeviceIommu* device_iommu(const Device& dev) const;

  std::optional<DeviceIommuInfo> info(const Device& dev) const;
  // Every group, by id, taken under lock_.
  std::vector<GroupSnapshot> group_snapshots() const;
  // The device that provides the IOMMU of a node: the last device added for
  // it (a virtio-iommu's virtio device, not its transport), or null.
  Device* iommu_device(const of::Node* node) const;
  // Can a driver for this IOMMU node still appear? Text for people in *why.
  bool iommu_may_appear(const of::Node* node, std::string* why) const;

 private:
  Status legacy_barrier(Device& dev);  // lock_ held
  void record_iommu_wait(Device& dev, const of::Node* node);
  // dma_configure's steps; lock_ held.
  Status xlate_refs(Device& dev, const of::IommuRefs& refs, DeviceIommu& di);
  Status missing_iommu(Device& dev, const of::Node* target, DeviceIommu& di);
  IommuInstance* find_iommu_locked(const of::Node* fwnode) const;
  Status attach_group_domain(IommuGroup& g, IommuDomain& d);
  void release_locked(Device& dev, DeviceIommu& di);
  void index_streams(Device& dev, const DeviceIommu& di, bool add);
  Result<IommuGroup*> join_group(Device& dev, DeviceIommu& di);
  // A later member's --domain request for an existing group; lock_ held.
  void honour_requested_type(IommuGroup& grp, Device& dev);
  // probe_device, then the group; lock_ held. Logs the outcome.
  Status link_consumer(Device& dev, IommuInstance& inst);
  Status attach_new(Device& dev, std::shared_ptr<DeviceIommu> di, IommuInstance& inst);
  // iommu_probe_device() for a PCI device whose IOMMU is registered; lock_ held.
  Status probe_pci_locked(Device& dev);

  DriverCore& core_;
  Log& log_;
  IommuPolicy policy_;
  std::function<Status(IommuDomain&, Device&)> dma_domain_init_;
  std::function<void(IommuDomain&)> dma_domain_fini_;
  mutable std::mutex lock_;  // rank 2, docs/architecture.md "Locks"
  std::vector<IommuInstance*> instances_;
  std::map<int, std::unique_ptr<IommuGroup>> groups_;  // by id: creation order
  // Groups a driver or PCI topology keys (group_key, pci_group_anchor).
  std::map<std::pair<const IommuInstance*, const void*>, IommuGroup*> keyed_groups_;
  // (IOMMU, stream ID) -> devices in a group with it, for fault reports.
  std::map<std::pair<const IommuInstance*, uint32_t>, std::vector<Device*>> streams_;
  void drop_group(IommuGroup* grp);
  int next_group_ = 0;
};

}  // namespace modiommu::iommu
