// The mtk_iommu driver's internal types (mtk_iommu_data, mtk_iommu_domain
// and the per-SoC mtk_iommu_plat_data in Linux): one driver for every
// MediaTek M4U / iommu-mm / iommu-infra. Nothing here is exported.
//
// Locking: MtkIommu::lock_ guards the bank state (the domain each bank's
// MMU_PT_BASE_ADDR points at), the larb enables and every register
// sequence, TLB maintenance and its CPE_DONE poll included. It is a leaf for
// the IOMMU core: fault reports are made after dropping it. DMA threads
// take no driver lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "drivers/iommu/mtk_iommu/regs.h"
#include "iommu/io_pgtable.h"
#include "iommu/iommu.h"
#include "kernel/io.h"

namespace modiommu {
class DriverContext;
class Device;
class CodeOwner;
}  // namespace modiommu

namespace modiommu::mtk_iommu {

class MtkIommu;

inline constexpr unsigned kPollIterations = 100000;

// Linux mtk_iommu_plat_data, the parts this driver acts on.
struct PlatData {
  std::string compatible;
  bool mm = true;               // MTK_IOMMU_TYPE_MM (larbs) vs TYPE_INFRA
  bool has_4gb_mode = false;    // HAS_4GB_MODE: 32-bit output (4GB mode itself is not modelled)
  bool reset_axi = false;       // RESET_AXI
  bool out_order_wr = false;    // OUT_ORDER_WR_EN
  bool wr_throt = false;        // WR_THROT_EN
  bool iova_34 = false;         // IOVA_34_EN
  bool pgtable_pa_35 = false;   // PGTABLE_PA_35_EN
  bool dcm_disable = false;     // DCM_DISABLE
  bool std_axi_mode = false;    // STD_AXI_MODE
  bool tf_port_mt8173 = false;  // TF_PORT_TO_ADDR_MT8173
  bool legacy_ivrp = false;     // HAS_LEGACY_IVRP_PADDR
  uint64_t inv_sel_reg = 0x02c;
  unsigned banks = 1;
  std::array<bool, kMaxBanks> bank_enable{true};
  std::array<uint32_t, kMaxBanks> bank_portmsk{};
  // MMU0_INT_ID larb field -> larb ID (larbid_remap, sub-common 0).
  std::vector<uint8_t> larbid_remap;
};

const PlatData* plat_data_for(const std::string& compatible);

// A consumer: its port IDs (MTK_M4U_ID), all on one larb for mm IOMMUs.
struct MtkMaster {
  Device* dev = nullptr;
  std::vector<uint32_t> ids;
  unsigned larb = 0;
  uint32_t portmsk = 0;
  unsigned bank = 0;
  class MtkDomain* domain = nullptr;
};

class MtkDomain : public iommu::IommuDomain, public iommu::IommuFlushOps {
 public:
  MtkDomain(iommu::DomainType t, std::shared_ptr<MtkIommu> m4u);
  ~MtkDomain() override;
  Status finalise();

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  void tlb_flush_all() override;
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override;
  void tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) override;

  const MtkIommu* m4u() const { return m4u_.get(); }
  uint32_t ttbr() const { return pgtbl_ ? pgtbl_->cfg().arm_v7s_cfg.ttbr : 0; }
  unsigned attached = 0;  // masters pointing at it, MtkIommu::lock_

 private:
  std::shared_ptr<MtkIommu> m4u_;
  std::unique_ptr<iommu::IoPgtable> pgtbl_;
};

class MtkIommu : public iommu::IommuOps, public std::enable_shared_from_this<MtkIommu> {
 public:
  MtkIommu(DriverContext& ctx, Device& dev, CodeOwner* owner, const PlatData& plat);
  ~MtkIommu() override;

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
  const PlatData& plat() const { return plat_; }
  bool live() const { return live_.load(std::memory_order_acquire); }
  // TLB maintenance (all banks the domain is live in), completed on return.
  void tlb_flush_all();
  void tlb_flush_range(uint64_t iova, uint64_t size);
  // A domain is going away: banks pointing at it block, masters forget it.
  void domain_gone(MtkDomain& d);

 private:
  struct Larb {
    Device* dev = nullptr;
    const of::Node* node = nullptr;
    IoMem regs;
    enum class Layout { mmu_en_f00, mmu_en_fc0, nonsec_con } layout = Layout::nonsec_con;
    uint32_t mmu = 0;        // ports routed through the M4U (larb_imu[].mmu)
    uint32_t described = 0;  // ports some node's `iommus` names
  };
  Status parse_larbs();
  void scan_described();
  Status hw_init();
  void quiesce();
  void larb_write(Larb& l, uint32_t mmu);     // lock_ held
  void config(MtkMaster& m, bool enable);     // lock_ held
  void flush_all_locked();                    // lock_ held
  void flush_range_locked(unsigned bank, uint64_t iova, uint64_t size);  // lock_ held
  uint64_t bank_base(unsigned b) const { return uint64_t{b} * kBankSize; }
  void fault_irq(unsigned bank);

  DriverContext& ctx_;
  Device& dev_;
  CodeOwner* owner_;
  const PlatData& plat_;
  IoMem regs_;
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};
  std::vector<IrqHandle> irqs_;
  uint64_t protect_ = 0;  // the protect buffer (MMU_IVRP_PADDR)

  std::mutex lock_;  // docs/architecture.md "Locks"
  std::array<Larb, kLarbMax> larbs_{};
  std::array<MtkDomain*, kMaxBanks> bank_dom_{};
  std::vector<std::weak_ptr<MtkMaster>> masters_;
  std::array<std::shared_ptr<int>, kMaxBanks> groups_{};
};

}  // namespace modiommu::mtk_iommu
