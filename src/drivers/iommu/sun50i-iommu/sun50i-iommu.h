// The sun50i-iommu driver's internal types (sun50i_iommu and
// sun50i_iommu_domain in Linux): one register block and one directory for
// up to six masters, all in one group. Nothing here is exported.
//
// Hardware states a Sun50iIommuDevice puts the block in:
//   paging   enabled, IOMMU_TTB_REG = a paging domain's directory;
//   blocked  enabled with an empty directory, no bypass bit: every access
//            faults (after probe, for the blocked domain, with no master
//            left, at remove);
//   identity enabled with the empty directory and the attached masters'
//            IOMMU_BYPASS_REG bits set: they pass untranslated, any other
//            master ID stays blocked. (Linux 6.12's identity domain turns
//            the whole IOMMU off instead, ENABLE = 0.)
//
// Locking: Sun50iIommuDevice::lock_ (Linux iommu_lock) guards the hardware
// state, the masters list and every register sequence. It is a leaf for the
// IOMMU core: no core call (fault reports included) is made while holding
// it. DMA threads take no driver lock; they enter only through interrupts.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "drivers/iommu/sun50i-iommu/pgtable.h"
#include "iommu/io_pgtable.h"
#include "iommu/iommu.h"
#include "kernel/io.h"

namespace modiommu {
class DriverContext;
class Device;
class CodeOwner;
}  // namespace modiommu

namespace modiommu::sun50i_iommu {

class Sun50iIommuDevice;

// Bounded polls: hardware that never answers is an error, not a hang
// (Linux: 2 ms each).
inline constexpr unsigned kPollIterations = 100000;

class Sun50iDomain : public iommu::IommuDomain, public iommu::IommuFlushOps {
 public:
  Sun50iDomain(iommu::DomainType t, std::shared_ptr<Sun50iIommuDevice> owner);
  ~Sun50iDomain() override;
  Status finalise();  // paging domains: the directory

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;

  const Sun50iIommuDevice* owner() const { return iommu_.get(); }
  uint32_t ttb() const { return pgtbl_ ? static_cast<uint32_t>(pgtbl_->directory()) : 0; }

 private:
  std::shared_ptr<Sun50iIommuDevice> iommu_;
  std::unique_ptr<Sun50iPgtable> pgtbl_;
};

// A consumer: its master IDs and the domain it is in.
struct Sun50iMaster {
  Device* dev = nullptr;
  uint32_t ids = 0;  // bit m: master ID m
  Sun50iDomain* domain = nullptr;
};

class Sun50iIommuDevice : public iommu::IommuOps, public std::enable_shared_from_this<Sun50iIommuDevice> {
 public:
  Sun50iIommuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner);
  ~Sun50iIommuDevice() override;

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
  bool live() const { return live_.load(std::memory_order_acquire); }
  // Linux sun50i_iommu_zap_range, when the hardware walks domain d.
  void zap_range(const Sun50iDomain& d, uint64_t iova, uint64_t size);
  // Linux sun50i_iommu_flush_all_tlb, when the hardware walks domain d.
  void flush_all(const Sun50iDomain& d);
  // A domain is going away: if the hardware walks it, block.
  void domain_freed(Sun50iDomain& d);

 private:
  enum class HwState { blocked, identity, paging };
  // Register sequences; lock_ held.
  Status poll_zero(uint32_t reg, const char* what);
  Status flush_all_locked();
  void zap_locked(uint64_t iova, uint64_t size);
  Status program(uint32_t ttb, uint32_t bypass);
  Status block();
  void fault_irq();

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  IoMem regs_;
  IrqHandle irq_;
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  // An empty directory for the blocked and identity states. Never freed:
  // once given to the hardware it may be walked until the next driver
  // programs it, so it outlives this driver instance.
  iommu::PhysAddr block_dt_ = 0;

  std::mutex lock_;  // docs/architecture.md "Locks"
  HwState state_ = HwState::blocked;
  const Sun50iDomain* walking_ = nullptr;  // the paging domain in TTB (state_ == paging)
  std::vector<std::weak_ptr<Sun50iMaster>> masters_;
};

}  // namespace modiommu::sun50i_iommu
