// Domains (mtk_iommu_domain): a paging domain owns an ARMv7s io-pgtable with
// the MediaTek quirks; a blocked domain owns one that stays empty; identity
// domains route the masters' larb ports around the M4U and own nothing.
#include <fmt/format.h>

#include "drivers/iommu/mtk_iommu/mtk_iommu.h"
#include "drivers/iommu/mtk_iommu/regs.h"
#include "kernel/driver_context.h"

namespace modiommu::mtk_iommu {

MtkDomain::MtkDomain(iommu::DomainType t, std::shared_ptr<MtkIommu> m4u) : iommu::IommuDomain(t), m4u_(std::move(m4u)) {}

// Linux mtk_iommu_domain_finalise().
Status MtkDomain::finalise() {
  MtkIommu& m = *m4u_;
  const PlatData& p = m.plat();
  iommu::IoPgtableCfg cfg;
  cfg.fmt = iommu::PgtableFormat::arm_v7s;
  cfg.quirks = iommu::kQuirkArmNs | iommu::kQuirkNoPerms | iommu::kQuirkArmMtkExt;
  if (p.pgtable_pa_35) cfg.quirks |= iommu::kQuirkArmMtkTtbrExt;
  cfg.ias = p.iova_34 ? 34 : 32;
  // HAS_4GB_MODE SoCs: 32 bits (4GB mode, 33, is not modelled); others 35.
  cfg.oas = p.has_4gb_mode ? 32 : 35;
  cfg.coherent = true;
  cfg.tlb = this;
  pgtbl_ = TRY(iommu::IoPgtable::alloc(cfg, m.ctx().ram(), m.ctx().pages()));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  // Region 0 (Linux single_domain / the first region): 4 GiB less an 8 MiB gap.
  aperture_start = 0;
  aperture_end = (uint64_t{1} << 32) - (uint64_t{8} << 20) - 1;
  return {};
}

MtkDomain::~MtkDomain() {
  m4u_->domain_gone(*this);  // no bank may walk the table freed below
  pgtbl_.reset();
}

Status MtkDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (!pgtbl_ || type() == iommu::DomainType::blocked)
    return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  return pgtbl_->map_pages(iova, pa, pgsize, count, prot, mapped);
}

size_t MtkDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) {
  if (!pgtbl_) return 0;
  return pgtbl_->unmap(iova, pgsize * count, &gather);
}

// Linux mtk_iommu_iotlb_sync(): one range invalidation for the gather.
void MtkDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  if (!gather.empty()) m4u_->tlb_flush_range(gather.start, gather.end - gather.start + 1);
  else if (!gather.freelist.empty()) m4u_->tlb_flush_all();
  Status s = pgtbl_->free_gathered(gather);
  if (!s.ok()) m4u_->ctx().log().err(m4u_->name(), "freeing unmapped tables: {}", s.error().str());
}

void MtkDomain::flush_iotlb_all() { m4u_->tlb_flush_all(); }

Result<uint64_t> MtkDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void MtkDomain::tlb_flush_all() { m4u_->tlb_flush_all(); }

void MtkDomain::tlb_flush_walk(uint64_t iova, size_t size, size_t /*granule*/) { m4u_->tlb_flush_range(iova, size); }

void MtkDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  if (gather) gather->add_page(iova, granule);
  else m4u_->tlb_flush_range(iova, granule);
}

}  // namespace modiommu::mtk_iommu
