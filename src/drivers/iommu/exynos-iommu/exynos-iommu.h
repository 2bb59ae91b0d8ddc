// The exynos-iommu driver's internal types (sysmmu_drvdata,
// exynos_iommu_domain, exynos_iommu_owner in Linux). One SysmmuDevice per
// "samsung,exynos-sysmmu" node; a master (#iommu-cells = <0>) may name
// several, and all of them walk its domain (Linux: one iommu_ops for every
// instance; the core holds the master's fwspec on the first and links it
// to each: IommuInstance::masters_span_instances).
//
// Hardware states a SysmmuDevice puts its SysMMU in:
//   paging   enabled, page-table base = a paging domain's first level;
//   blocked  enabled with a first level of fault entries: every access
//            faults (after probe, for the blocked domain, with no master
//            left, and at remove: BEHAVIOUR.md 3);
//   identity disabled: accesses pass untranslated (Linux 6.12's identity
//            domain disables the SysMMU the same way).
//
// Locking: SysmmuDevice::lock_ guards its hardware state, its masters and
// every register sequence; ExynosDomain::lock_ guards the list of SysMMUs
// that may walk the domain. Neither is held while the other is taken, and
// no core call (fault reports included) is made while holding either.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "drivers/iommu/exynos-iommu/pgtable.h"
#include "drivers/iommu/exynos-iommu/regs.h"
#include "iommu/io_pgtable.h"
#include "iommu/iommu.h"
#include "kernel/io.h"

namespace modiommu {
class DriverContext;
class Device;
class CodeOwner;
}  // namespace modiommu

namespace modiommu::exynos_iommu {

class SysmmuDevice;

// Above this many pages one FLUSH (all) beats per-entry flushes (v1..v3,
// which have no range flush).
inline constexpr uint64_t kMaxFlushEntries = 64;

class ExynosDomain : public iommu::IommuDomain, public iommu::IommuFlushOps {
 public:
  ExynosDomain(iommu::DomainType t, std::shared_ptr<SysmmuDevice> owner);
  ~ExynosDomain() override;
  Status finalise();  // paging domains: the page table

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;

  PtFormat format() const;
  // The first-level table's PA (paging domains only).
  iommu::PhysAddr lv1() const { return pgtbl_ ? pgtbl_->lv1() : 0; }
  // A SysMMU is about to walk this domain (before it is programmed).
  void add_client(const std::shared_ptr<SysmmuDevice>& s);

 private:
  std::vector<std::shared_ptr<SysmmuDevice>> clients();
  std::shared_ptr<SysmmuDevice> owner_;  // allocated it; its zero lv2 table
  std::unique_ptr<ExynosPgtable> pgtbl_;
  std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<std::weak_ptr<SysmmuDevice>> clients_;
};

// A consumer (exynos_iommu_owner): its SysMMUs and its domain.
struct ExynosMaster {
  Device* dev = nullptr;
  std::vector<std::shared_ptr<SysmmuDevice>> controllers;
  iommu::IommuInstance* inst = nullptr;  // the instance holding its fwspec
  ExynosDomain* domain = nullptr;
};

class SysmmuDevice : public iommu::IommuOps, public std::enable_shared_from_this<SysmmuDevice> {
 public:
  SysmmuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner);
  ~SysmmuDevice() override;

  Status probe();
  void remove();

  // IommuOps (called on the master's first SysMMU).
  Status of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) override;
  Status probe_device(Device& dev, iommu::Fwspec& fwspec) override;
  void release_device(Device& dev, iommu::Fwspec& fwspec) override;
  Result<std::unique_ptr<iommu::IommuDomain>> domain_alloc(iommu::DomainType type) override;
  Status attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) override;
  const void* group_key(Device& dev, iommu::Fwspec& fwspec) override;

  DriverContext& ctx() { return ctx_; }
  const std::string& name() const;
  PtFormat format() const { return maj_ver(version_) < 5 ? PtFormat::v1 : PtFormat::v5; }
  iommu::PhysAddr zero_lv2() const { return zero_lv2_; }
  bool live() const { return live_.load(std::memory_order_acquire); }
  iommu::IommuInstance& instance() { return inst_; }

  // Puts this SysMMU on domain d (type decides the state); d null = block.
  Status set_domain(ExynosDomain* d);
  // TLB maintenance, when this SysMMU walks domain d.
  void flush_range(const ExynosDomain& d, uint64_t iova, uint64_t size);
  void flush_all(const ExynosDomain& d);
  void flush_flpd(const ExynosDomain& d, uint64_t iova);
  // A domain is going away: if this SysMMU walks it, block.
  void domain_freed(const ExynosDomain& d);
  // A master leaves this SysMMU; the last one leaving blocks it.
  void master_gone(const std::shared_ptr<ExynosMaster>& m);
  Status master_joins(const std::shared_ptr<ExynosMaster>& m);

 private:
  enum class HwState { blocked, identity, paging };
  // Register sequences; lock_ held.
  void enable_locked(iommu::PhysAddr lv1);  // Linux __sysmmu_enable
  void disable_locked();                    // Linux __sysmmu_disable
  void block_locked();
  bool hold_locked();     // Linux sysmmu_block
  void release_locked();  // Linux sysmmu_unblock
  void flush_entries_locked(uint64_t iova, uint64_t pages);
  uint32_t init_config() const;  // Linux __sysmmu_init_config
  void fault_irq();
  const char* fault_name(unsigned itype, bool* write, uint64_t* reg) const;

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  IoMem io_;
  IrqHandle irq_;
  uint32_t version_ = 0;  // make_ver(major, minor)
  const Variant* var_ = &kVariantV1;
  bool has_vcr_ = false;
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  // A first level of fault entries (blocked state) and the shared
  // second-level table of fault entries domains link unused sections to.
  // Never freed: the hardware may walk them until the next driver programs
  // it, and domains allocated here may outlive this instance.
  iommu::PhysAddr block_lv1_ = 0, zero_lv2_ = 0;

  std::mutex lock_;  // docs/architecture.md "Locks"
  HwState state_ = HwState::blocked;
  const ExynosDomain* walking_ = nullptr;  // state_ == paging
  std::vector<std::weak_ptr<ExynosMaster>> masters_;
};

}  // namespace modiommu::exynos_iommu
