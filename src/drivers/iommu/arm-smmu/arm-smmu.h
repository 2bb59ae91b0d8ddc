// The arm-smmu driver's internal types (arm_smmu_device, arm_smmu_master_cfg,
// arm_smmu_domain in Linux): one driver for SMMU v1, v2 and MMU-500
// (ARM IHI 0062). Nothing here is exported: the driver is reached only
// through the Driver and IommuOps it registers.
//
// Locking: SmmuDevice::lock_ guards the stream-map entries (SMR/S2CR
// shadows), context-bank allocation, the masters list and every register
// write sequence, including TLB maintenance and its sync. It is a leaf for
// the IOMMU core: the driver never calls into the core (fault reports
// included) while holding it. DMA threads take no driver lock; they enter
// only through interrupts.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "iommu/io_pgtable.h"
#include "iommu/iommu.h"
#include "kernel/io.h"

namespace modiommu {
class DriverContext;
class Device;
class CodeOwner;
}  // namespace modiommu

namespace modiommu::arm_smmu {

class SmmuDevice;

// Bounded polls: hardware that never answers is an error, not a hang.
inline constexpr unsigned kPollIterations = 100000;

// What IDR0-2 say (IHI 0062 10.6.3-10.6.5).
struct Features {
  bool v2 = true;
  bool s1 = false, s2 = false, exids = false;
  unsigned num_smrg = 0, num_cb = 0, num_context_irqs = 0;
  uint32_t streamid_mask = 0, smr_mask_mask = 0;  // implemented SMR ID/MASK bits
  uint64_t pgsize = 0x1000;                         // register page
  unsigned numpage = 0;                             // pages in each half
  unsigned ias = 48, oas = 48;
};

// One stream-map entry: an SMR and its S2CR (arm_smmu_smr + arm_smmu_s2cr).
struct Sme {
  bool valid = false;
  uint16_t id = 0, mask = 0;
  unsigned count = 0;           // master IDs using the entry
  std::shared_ptr<int> group;   // group token of the masters sharing it
  uint32_t type = 0;            // S2CR.TYPE
  uint8_t cbndx = 0;
};

// A consumer (arm_smmu_master_cfg): its (ID, mask) pairs and their entries.
struct SmmuMaster {
  Device* dev = nullptr;
  struct Id {
    uint16_t sid = 0, mask = 0;
  };
  std::vector<Id> ids;
  std::vector<unsigned> smes;  // one per ids[i], once probed
  class SmmuDomain* domain = nullptr;
};

class SmmuDomain : public iommu::IommuDomain, public iommu::IommuFlushOps {
 public:
  SmmuDomain(iommu::DomainType t, std::shared_ptr<SmmuDevice> smmu);
  ~SmmuDomain() override;
  // Paging domains: a context bank, its io-pgtable and the bank registers.
  Status finalise();

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;

  // S2CR type and bank index that route a stream to this domain.
  uint32_t s2cr_type() const;
  int cbndx() const { return cbndx_; }
  const SmmuDevice* smmu() const { return smmu_.get(); }
  unsigned attached = 0;  // masters pointing at it, SmmuDevice::lock_

 private:
  void invalidate_range(uint64_t start, uint64_t end, size_t granule, bool leaf);

  std::shared_ptr<SmmuDevice> smmu_;
  std::unique_ptr<iommu::IoPgtable> pgtbl_;
  int cbndx_ = -1;
  uint16_t asid_ = 0;
};

class SmmuDevice : public iommu::IommuOps, public std::enable_shared_from_this<SmmuDevice> {
 public:
  SmmuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner);
  ~SmmuDevice() override;

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
  const Features& features() const { return feat_; }
  bool live() const { return live_.load(std::memory_order_acquire); }
  bool legacy() const { return legacy_; }
  // Context banks: allocate and program / free (SCTLR off, TLB cleaned).
  Result<int> cb_alloc(SmmuDomain& d, const iommu::IoPgtable& pgtbl, uint16_t asid);
  void cb_free(int cbndx, uint16_t asid);
  // TLB maintenance on one bank, completed (TLBSYNC) before returning.
  void tlb_inv_asid(int cbndx, uint16_t asid);
  void tlb_inv_va(int cbndx, uint16_t asid, uint64_t iova, size_t granule, uint64_t pages, bool leaf);
  // A domain is going away: streams still routed to it fault from now on.
  void detach_all(SmmuDomain& d);

 private:
  Status read_features();
  void probe_smr_masks();
  Status reset();
  void quiesce();
  void write_sme(unsigned idx);  // lock_ held
  Status tlb_sync_cb(int cbndx);  // lock_ held
  Status tlb_sync_global();       // lock_ held
  uint64_t gr1() const { return feat_.pgsize; }
  uint64_t cb(int n) const { return uint64_t{feat_.numpage} * feat_.pgsize + uint64_t(n) * feat_.pgsize; }
  Result<unsigned> sme_alloc(uint16_t id, uint16_t mask, const std::string& who);  // lock_ held
  void sme_put(unsigned idx);                                                      // lock_ held
  void global_fault_irq();
  void context_fault_irq();
  void check_mixed_bindings();

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  IoMem regs_;
  Features feat_;
  bool legacy_ = false;
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  IrqHandle global_irq_;
  std::vector<IrqHandle> context_irqs_;

  std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<Sme> smes_;
  std::vector<bool> cb_used_;
  std::vector<std::weak_ptr<SmmuMaster>> masters_;
};

}  // namespace modiommu::arm_smmu
