// The qcom_iommu driver's internal types (qcom_iommu_dev, qcom_iommu_ctx,
// qcom_iommu_domain in Linux drivers/iommu/arm/arm-smmu/qcom_iommu.c):
// Qualcomm's "secure" SMMU of MSM8916/MSM8953/MSM8976, whose global
// registers belong to TZ. Nothing here is exported: the driver is reached
// only through the two Drivers and the IommuOps it registers.
//
// Two drivers in one module, as in Linux: "qcom-iommu" binds the IOMMU node
// and, from its probe, populates its context bank children, which
// "qcom-iommu-ctx" binds ("qcom,msm-iommu-v1-ns" / "-sec"). A context bank
// number (Linux's asid, 1:1 with the bank) is its child's reg / 0x1000; a
// master's `iommus` cell names one (#iommu-cells = 1), and a master may name
// several. The IOMMU registers with the IOMMU core once every context bank
// child has bound (the children probe after the parent's probe returns).
//
// Groups: one per device (Linux generic_device_group). Domains: DMA and
// unmanaged (Linux qcom_iommu_domain_alloc offers no identity domain), each
// an ARM 32-bit LPAE stage-1 table (ias 32, oas 40) programmed into every
// bank of the masters attached to it.
//
// Secure banks: Linux asks the secure monitor to hand a bank's
// configuration back (qcom_scm_restore_sec_cfg) and to set up a secure page
// table pool (qcom_scm_iommu_secure_ptbl_init). There is no monitor in this
// emulation and the model lets the non-secure side program a "-sec" bank
// as a "-ns" one, so the driver programs both alike and logs the skipped
// calls.
//
// Blocking: a bank with SCTLR.M=0 passes DMA through untranslated, so this
// driver never turns one off. A bound bank with no domain translates
// through an empty table (every access faults, not reported); release,
// domain teardown and remove leave banks so, and the empty table stays
// allocated after the driver is gone (the hardware still walks it).
//
// Locking: QcomIommuDevice::lock_ guards the bank table (ctxs_), each
// bank's owner and its registers, the masters list. It is never held when
// calling into the IOMMU core (registration, fault reports). DMA threads
// take it only in the context fault handler (the model raises the bank's
// interrupt with none of its own locks held).
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

namespace modiommu::qcom_iommu {

inline constexpr unsigned kPollIterations = 100000;
inline constexpr uint64_t kContextStride = 0x1000;  // Linux get_asid(): banks 0x1000 apart

// Every compatible the module serves (IOMMU and context banks).
const std::vector<std::string>& iommu_compatibles();
const std::vector<std::string>& context_compatibles();

class QcomIommuDevice;
class QcomDomain;

// One bound context bank (qcom_iommu_ctx).
struct QcomCtx {
  Device* dev = nullptr;
  unsigned asid = 0;
  bool secure = false;
  IoMem regs;
  IrqHandle irq;
  QcomDomain* domain = nullptr;  // QcomIommuDevice::lock_
};

// A consumer: the banks its `iommus` cells name.
struct QcomMaster {
  Device* dev = nullptr;
  std::vector<unsigned> asids;
  QcomDomain* domain = nullptr;
};

class QcomDomain : public iommu::IommuDomain, public iommu::IommuFlushOps {
 public:
  QcomDomain(iommu::DomainType t, std::shared_ptr<QcomIommuDevice> mmu);
  ~QcomDomain() override;
  Status finalise();  // paging domains: the io-pgtable

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;

  const QcomIommuDevice* mmu() const { return mmu_.get(); }
  const iommu::IoPgtable* pgtable() const { return pgtbl_.get(); }

 private:
  std::shared_ptr<QcomIommuDevice> mmu_;
  std::unique_ptr<iommu::IoPgtable> pgtbl_;
};

class QcomIommuDevice : public iommu::IommuOps, public std::enable_shared_from_this<QcomIommuDevice> {
 public:
  QcomIommuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner);
  ~QcomIommuDevice() override;

  Status probe();  // drvdata must be set: the children find it there
  void remove();

  // The context bank driver's half.
  Status ctx_probe(Device& cdev);
  void ctx_remove(Device& cdev);

  // IommuOps.
  Status of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) override;
  Status probe_device(Device& dev, iommu::Fwspec& fwspec) override;
  void release_device(Device& dev, iommu::Fwspec& fwspec) override;
  Result<std::unique_ptr<iommu::IommuDomain>> domain_alloc(iommu::DomainType type) override;
  Status attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) override;
  const void* group_key(Device& dev, iommu::Fwspec& fwspec) override;

  DriverContext& ctx() { return ctx_; }
  const std::string& name() const;
  bool live() const { return live_.load(std::memory_order_acquire); }

  // TLB maintenance on every bank `d` owns (Linux qcom_flush_ops).
  void tlb_inv_context(const QcomDomain& d);
  void tlb_inv_range(const QcomDomain& d, uint64_t iova, size_t size, size_t granule, bool leaf, bool sync);
  void tlb_sync_domain(const QcomDomain& d);
  // A domain is going away: banks still using it block from now on.
  void detach_all(QcomDomain& d);

 private:
  void maybe_register();                                // every bank bound: register with the IOMMU core
  void bank_block(QcomCtx& c);                          // lock_ held
  void bank_program(QcomCtx& c, const QcomDomain& d);  // lock_ held
  void bank_sync(QcomCtx& c);                           // lock_ held
  QcomCtx* bank(unsigned asid);                         // lock_ held
  void context_fault(unsigned asid);

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  IoMem local_;
  uint32_t sec_id_ = 0;
  unsigned num_ctxs_ = 0;       // the largest bank number among the children
  unsigned expected_ctxs_ = 0;  // available context bank children
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  uint64_t block_table_ = 0;  // the empty table banks with no domain walk

  std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<std::shared_ptr<QcomCtx>> ctxs_;  // by asid - 1
  std::vector<std::weak_ptr<QcomMaster>> masters_;
};

}  // namespace modiommu::qcom_iommu
