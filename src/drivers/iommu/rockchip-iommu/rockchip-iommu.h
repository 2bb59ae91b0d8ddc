// The rockchip-iommu driver's internal types (rk_iommu, rk_iommu_domain in
// Linux): one driver for v1 ("rockchip,iommu") and v2
// ("rockchip,rk3568-iommu") blocks, each node one or more MMU banks that are
// always programmed alike. Nothing here is exported.
//
// Hardware states a RkIommuDevice puts its banks in:
//   paging   paging on, MMU_DTE_ADDR = a paging domain's directory;
//   blocked  paging on with an empty directory: every access faults (after
//            probe, for the blocked domain, with no master left, at remove);
//   identity paging off: accesses pass untranslated (Linux 6.x's identity
//            domain calls rk_iommu_disable(), which does the same).
//
// Locking: RkIommuDevice::lock_ guards the hardware state, the masters list
// and every register sequence (bank programming, zaps). It is a leaf for the
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
#include "drivers/iommu/rockchip-iommu/pgtable.h"
#include "iommu/io_pgtable.h"
#include "iommu/iommu.h"
#include "kernel/io.h"

namespace modiommu {
class DriverContext;
class Device;
class CodeOwner;
}  // namespace modiommu

namespace modiommu::rockchip_iommu {

class RkIommuDevice;

// Bounded polls: hardware that never answers is an error, not a hang.
inline constexpr unsigned kPollIterations = 100000;
// Above this many pages one ZAP_CACHE beats per-line zaps.
inline constexpr uint64_t kMaxZapLines = 256;

class RkDomain : public iommu::IommuDomain, public iommu::IommuFlushOps {
 public:
  RkDomain(iommu::DomainType t, std::shared_ptr<RkIommuDevice> rk);
  ~RkDomain() override;
  Status finalise();  // paging domains: the directory

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;

  const RkIommuDevice* owner() const { return iommu_.get(); }
  // MMU_DTE_ADDR for this domain (paging domains only).
  uint32_t dte_addr() const { return pgtbl_ ? pgtbl_->dte_addr() : 0; }

 private:
  std::shared_ptr<RkIommuDevice> iommu_;
  std::unique_ptr<RkPgtable> pgtbl_;
};

// A consumer (rk_iommudata): which domain it is in.
struct RkMaster {
  Device* dev = nullptr;
  RkDomain* domain = nullptr;
};

class RkIommuDevice : public iommu::IommuOps, public std::enable_shared_from_this<RkIommuDevice> {
 public:
  RkIommuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner);
  ~RkIommuDevice() override;

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
  Version version() const { return version_; }
  size_t banks() const { return banks_.size(); }
  bool live() const { return live_.load(std::memory_order_acquire); }
  // IOTLB maintenance on every bank, when the hardware walks domain d.
  void zap_lines(const RkDomain& d, uint64_t iova, uint64_t size);
  void zap_all(const RkDomain& d);
  // A domain is going away: if the hardware walks it, block.
  void domain_freed(RkDomain& d);

 private:
  enum class HwState { blocked, identity, paging };
  // Register sequences; lock_ held.
  Status force_reset();
  Status set_paging(bool on);
  Status set_stall(bool on);
  bool all_status(uint32_t bit, bool want);
  Status program(uint32_t dte_addr, bool reset);
  Status block();
  void disable();
  void page_fault_irq();
  void check_mixed_versions();

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  Version version_ = Version::v1;
  bool reset_disabled_ = false;
  std::vector<IoMem> banks_;
  std::vector<IrqHandle> irqs_;
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  // An empty directory for the blocked state. Never freed: once given to
  // the hardware it may be walked until the next driver resets it, so it
  // outlives this driver instance (one page per probe).
  iommu::PhysAddr block_dt_ = 0;

  std::mutex lock_;  // docs/architecture.md "Locks"
  HwState state_ = HwState::blocked;
  const RkDomain* walking_ = nullptr;  // the paging domain in MMU_DTE_ADDR (state_ == paging)
  std::vector<std::weak_ptr<RkMaster>> masters_;
};

}  // namespace modiommu::rockchip_iommu
