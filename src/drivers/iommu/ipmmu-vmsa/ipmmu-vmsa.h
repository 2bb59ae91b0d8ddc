// The ipmmu-vmsa driver's internal types (ipmmu_vmsa_device,
// ipmmu_vmsa_domain, ipmmu_features in Linux drivers/iommu/ipmmu-vmsa.c):
// Renesas IPMMU-VMSA of R-Car Gen2/Gen3/Gen4 and RZ/G2. Nothing here is
// exported: the driver is reached only through the Driver and IommuOps it
// registers.
//
// Root and cache IPMMUs: on Gen3/Gen4 a cache ("leaf") IPMMU names its root
// (IPMMU-MM) with renesas,ipmmu-main; the translation contexts live in the
// root, a leaf enables a master's micro-TLB (the one #iommu-cells cell) and
// points it at a root context. Gen2 instances are their own root. Every
// instance registers with the IOMMU core (Linux leaves the Gen3 root out;
// registering it lets masters that name the root directly be driven too).
//
// One IOMMU group per instance (Linux ipmmu_find_group), so one domain per
// leaf at a time, each owning one root context.
//
// Blocking: a micro-TLB that is off passes its master's DMA through
// untranslated, so this driver never turns one off to stop DMA. It keeps one
// root context (the one Linux reserves on Gen3/Gen4, context 0; on Gen2 the
// first context Linux leaves unused) enabled on a table that maps nothing,
// and points released masters' micro-TLBs there: their DMA faults. Remove
// leaves it so, and the table page stays allocated (the hardware still
// walks it after the driver is gone).
//
// Locking: IpmmuDevice::lock_ guards the masters list, the micro-TLB
// registers and the leaf's IMCTR writes; ctx_lock_ (root role) guards the
// context allocation, the context registers and TLB flushes. Order: lock_
// before ctx_lock_ (a Gen2 instance holds both roles). Neither is held when
// calling into the IOMMU core (fault reports included). DMA threads take no
// driver lock.
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
namespace of {
class Node;
class Tree;
}  // namespace of
}  // namespace modiommu

namespace modiommu::ipmmu {

inline constexpr unsigned kPollIterations = 100000;
inline constexpr unsigned kCtxMax = 16, kUtlbMax = 64;  // IPMMU_CTX_MAX, IPMMU_UTLB_MAX

// Linux struct ipmmu_features, plus the context this driver blocks with.
struct Features {
  const char* name;
  bool use_ns_alias_offset;
  bool has_cache_leaf_nodes;
  unsigned number_of_contexts;
  unsigned num_utlbs;
  bool setup_imbuscr;
  bool twobit_imttbcr_sl0;
  bool reserved_context;
  bool cache_snoop;
  unsigned ctx_offset_base;
  unsigned ctx_offset_stride;
  unsigned utlb_offset_base;
  unsigned block_context;
};
// The features of the first ipmmu_of_ids entry the node matches (null: none).
const Features* match_features(const of::Node& node);
// Every compatible of ipmmu_of_ids.
const std::vector<std::string>& of_match_compatibles();

// Linux ipmmu_device_is_allowed(): "" when the device may use the IPMMU,
// else why not ("r8a7795 device not in the allowlist"). attach_all is the
// module parameter that lets every device in.
std::string policy_refusal(const of::Tree& tree, const Device& dev, bool is_pci, bool attach_all);

class IpmmuDevice;
class IpmmuDomain;

// A consumer: its micro-TLBs and the domain they point at.
struct IpmmuMaster {
  Device* dev = nullptr;
  std::vector<unsigned> utlbs;
  IpmmuDomain* domain = nullptr;
};

class IpmmuDomain : public iommu::IommuDomain, public iommu::IommuFlushOps {
 public:
  IpmmuDomain(iommu::DomainType t, std::shared_ptr<IpmmuDevice> mmu);
  ~IpmmuDomain() override;
  // Paging domains: an ARM 32-bit LPAE stage-1 table (ias 32, oas 40, Linux
  // ARM_32_LPAE_S1) and a root context programmed with it.
  Status finalise();

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  // IPMMU TLB maintenance is per context only (IMCTR.FLUSH).
  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;

  int context() const { return ctx_; }
  const IpmmuDevice* mmu() const { return mmu_.get(); }
  unsigned attached = 0;  // micro-TLB owners pointing at it, IpmmuDevice::lock_

 private:
  std::shared_ptr<IpmmuDevice> mmu_;
  std::unique_ptr<iommu::IoPgtable> pgtbl_;
  int ctx_ = -1;
};

class IpmmuDevice : public iommu::IommuOps, public std::enable_shared_from_this<IpmmuDevice> {
 public:
  IpmmuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner, const Features& f, bool attach_all);
  ~IpmmuDevice() override;

  Status probe();
  void remove();

  // IommuOps.
  Status of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) override;
  Status probe_device(Device& dev, iommu::Fwspec& fwspec) override;
  void release_device(Device& dev, iommu::Fwspec& fwspec) override;
  Result<std::unique_ptr<iommu::IommuDomain>> domain_alloc(iommu::DomainType type) override;
  Status attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) override;
  const void* group_key(Device& dev, iommu::Fwspec& fwspec) override;

  DriverContext& ctx() { return ctx_; }
  const std::string& name() const;
  const Features& features() const { return feat_; }
  bool live() const { return live_.load(std::memory_order_acquire); }
  bool is_root() const { return root_ == this; }
  // Contexts, in the root: allocate and program for `d` / switch off and free.
  Result<int> context_alloc(IpmmuDomain& d, const iommu::IoPgtable& pgtbl);
  void context_free(int ctx);
  // Flushes the context's TLB in this instance and in its root, completed.
  void tlb_flush(int ctx);
  // A domain is going away: micro-TLBs still pointing at it block from now on.
  void detach_all(IpmmuDomain& d);

 private:
  Status find_root();
  uint32_t ctx_reg(unsigned ctx, uint32_t reg) const;
  uint32_t utlb_reg(uint32_t reg) const { return alias_ + feat_.utlb_offset_base + reg; }
  void utlb_point(unsigned utlb, int ctx);  // lock_ held; ctx < 0: off (untranslated)
  void imctr_write_all(unsigned ctx, uint32_t v);  // this instance, then the root
  Status tlb_sync(unsigned ctx);                   // root's ctx_lock_ held
  Status root_reset();                             // probe of a root
  Status setup_block_context();                    // root, ctx_lock_ held
  void quiesce();
  void fault_irq();
  void report_context_fault(int ctx, iommu::FaultInfo f);

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  const Features& feat_;
  const bool attach_all_;
  IoMem regs_;
  uint32_t alias_ = 0;  // Gen2: the non-secure bank's offset in regs_
  IpmmuDevice* root_ = nullptr;             // this, or the root's (kept alive by root_ref_)
  std::shared_ptr<IpmmuDevice> root_ref_;   // a leaf's root
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  IrqHandle irq_;

  std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<std::weak_ptr<IpmmuMaster>> masters_;
  std::vector<bool> utlb_used_;  // micro-TLBs this driver has given a master (blocked at remove)

  std::mutex ctx_lock_;  // root role; docs/architecture.md "Locks"
  std::vector<bool> ctx_used_;
  std::vector<std::weak_ptr<IpmmuDevice>> ctx_leaf_;  // the leaf whose domain owns each context
  uint64_t block_table_ = 0;                          // the empty table of the block context
};

}  // namespace modiommu::ipmmu
