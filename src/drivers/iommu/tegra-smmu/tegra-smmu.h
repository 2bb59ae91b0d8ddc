// The tegra-smmu driver's internal types (tegra_smmu, tegra_smmu_as in
// Linux). In Linux the SMMU is a function of the built-in memory-controller
// driver; here it is a module whose platform driver binds the MC node
// itself ("nvidia,tegra210-mc" etc.): the node is the IOMMU instance,
// `#iommu-cells = <1>`, the cell a swgroup. Clocks, resets, EMC and latency
// allowance of the MC are not this driver's concern.
//
// Hardware states of a swgroup (SMMU_CONFIG stays on from probe on):
//   paging   ASID register = the domain's ASID (enabled), client bits on;
//   blocked  ASID register = the reserved blocking ASID, whose directory is
//            empty, client bits on: every access faults (after probe, for
//            the blocked domain, after release_device, at remove);
//   identity ASID register disabled, client bits off: untranslated (Linux
//            6.12's identity domain, tegra_smmu_identity_attach).
//
// ASIDs: one per paging domain while any swgroup uses it (Linux
// tegra_smmu_as_prepare/unprepare), from 0..num_asids-2; the last ASID is
// reserved for blocking.
//
// Locking: TegraSmmu::lock_ guards the registers, the ASID map, the masters
// and every domain's ASID and user count. It is a leaf for the IOMMU core:
// no core call (fault reports included) is made while holding it. DMA
// threads take no driver lock; they enter only through the interrupt.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "drivers/iommu/tegra-smmu/pgtable.h"
#include "drivers/iommu/tegra-smmu/soc.h"
#include "iommu/io_pgtable.h"
#include "iommu/iommu.h"
#include "kernel/io.h"

namespace modiommu {
class DriverContext;
class Device;
class CodeOwner;
}  // namespace modiommu

namespace modiommu::tegra_smmu {

class TegraSmmu;

// Above this many 16 KiB groups one flush by ASID beats per-group flushes.
inline constexpr uint64_t kMaxGroupFlushes = 64;

class TegraDomain : public iommu::IommuDomain, public iommu::IommuFlushOps, public PtcFlush {
 public:
  TegraDomain(iommu::DomainType t, std::shared_ptr<TegraSmmu> smmu);
  ~TegraDomain() override;
  Status finalise();  // paging domains: the directory

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;
  void ptc_flush(iommu::PhysAddr pa) override;

  const TegraSmmu* owner() const { return smmu_.get(); }
  uint32_t ptb_data() const { return pgtbl_ ? pgtbl_->ptb_data() : 0; }

  // Owned by TegraSmmu, under its lock_.
  int asid = -1;       // -1: not in the hardware
  unsigned users = 0;  // swgroups pointing at asid

 private:
  std::shared_ptr<TegraSmmu> smmu_;
  std::unique_ptr<TegraPgtable> pgtbl_;
};

// A consumer: its swgroups and the domain they are in.
struct TegraMaster {
  Device* dev = nullptr;
  std::vector<uint32_t> swgroups;
  TegraDomain* domain = nullptr;  // paging domain holding a user count, or null
};

class TegraSmmu : public iommu::IommuOps, public std::enable_shared_from_this<TegraSmmu> {
 public:
  TegraSmmu(DriverContext& ctx, Device& dev, CodeOwner* owner);
  ~TegraSmmu() override;

  Status probe();
  void remove();

  // IommuOps.
  Status of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) override;
  Status probe_device(Device& dev, iommu::Fwspec& fwspec) override;
  void release_device(Device& dev, iommu::Fwspec& fwspec) override;
  Result<std::unique_ptr<iommu::IommuDomain>> domain_alloc(iommu::DomainType type) override;
  Status attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) override;
  const void* group_key(Device& dev, iommu::Fwspec& fwspec) override;

  // For domains.
  DriverContext& ctx() { return ctx_; }
  const std::string& name() const;
  const SmmuSoc& soc() const { return *soc_; }
  bool live() const { return live_.load(std::memory_order_acquire); }
  void flush_tlb_range(const TegraDomain& d, uint64_t iova, uint64_t size);
  void flush_tlb_asid(const TegraDomain& d);
  void flush_ptc(iommu::PhysAddr pa);
  // A domain is going away: swgroups still on it are blocked.
  void domain_freed(TegraDomain& d);

 private:
  // Register sequences; lock_ held.
  void set_ptb(unsigned asid, uint32_t ptb_data);
  void enable_swgroup(unsigned swgroup, unsigned asid);  // Linux tegra_smmu_enable
  void disable_swgroup(unsigned swgroup);                // Linux tegra_smmu_disable
  void block_swgroup(unsigned swgroup) { enable_swgroup(swgroup, block_asid()); }
  void put_domain(TegraDomain* d);
  Status get_domain(TegraDomain& d);
  unsigned block_asid() const { return soc_->num_asids - 1; }
  void tlb_flush_locked(uint32_t value);
  std::vector<uint32_t> described_swgroups() const;  // every swgroup an `iommus` of the tree names here
  void fault_irq();

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  const SmmuSoc* soc_ = nullptr;
  IoMem regs_;
  std::vector<IrqHandle> irqs_;
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  // The blocking ASID's empty directory. Never freed: once given to the
  // hardware it may be walked until the next driver reprograms it, so it
  // outlives this driver instance (one page per probe).
  iommu::PhysAddr block_pd_ = 0;
  // Group keys: one per SoC group, then one per swgroup (256).
  std::vector<char> group_keys_;

  std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<bool> asids_;  // in use
  std::vector<std::weak_ptr<TegraMaster>> masters_;
};

}  // namespace modiommu::tegra_smmu
