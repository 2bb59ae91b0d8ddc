// Domains (rk_iommu_domain): a paging domain owns a directory and its page
// tables (pgtable.h); identity and blocked domains own nothing and only set
// the hardware state when attached.
#include "drivers/iommu/rockchip-iommu/rockchip-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::rockchip_iommu {

RkDomain::RkDomain(iommu::DomainType t, std::shared_ptr<RkIommuDevice> rk)
    : iommu::IommuDomain(t), iommu_(std::move(rk)) {}

Status RkDomain::finalise() {
  RkIommuDevice& r = *iommu_;
  pgtbl_ = TRY(RkPgtable::alloc(r.version(), r.ctx().ram(), r.ctx().pages(), this));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  // Linux: aperture 0..DMA_BIT_MASK(32), forced.
  aperture_start = 0;
  aperture_end = 0xffffffffull;
  return {};
}

RkDomain::~RkDomain() {
  iommu_->domain_freed(*this);  // the hardware must stop walking it first
  pgtbl_.reset();
}

// Linux rk_iommu_map: after mapping, zap the first and last page, the only
// ones whose lines could be cached from a neighbouring mapping.
Status RkDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (!pgtbl_) return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  Status s = pgtbl_->map_pages(iova, pa, pgsize, count, prot, mapped);
  const uint64_t size = uint64_t{pgsize} * count;
  if (s.ok() && size) {
    iommu_->zap_lines(*this, iova, kPage);
    if (size > kPage) iommu_->zap_lines(*this, iova + size - kPage, kPage);
  }
  return s;
}

size_t RkDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) {
  if (!pgtbl_) return 0;
  return pgtbl_->unmap(iova, pgsize * count, &gather);
}

void RkDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  if (!gather.empty()) iommu_->zap_lines(*this, gather.start, gather.end - gather.start + 1);
  Status s = pgtbl_->free_gathered(gather);  // nothing: page tables stay until the domain goes
  if (!s.ok()) iommu_->ctx().log().err(iommu_->name(), "freeing unmapped tables: {}", s.error().str());
}

void RkDomain::flush_iotlb_all() { tlb_flush_all(); }

Result<uint64_t> RkDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void RkDomain::tlb_flush_all() { iommu_->zap_all(*this); }

void RkDomain::tlb_flush_walk(uint64_t iova, size_t size, size_t /*granule*/) { iommu_->zap_lines(*this, iova, size); }

void RkDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  if (gather) gather->add_page(iova, granule);
  else iommu_->zap_lines(*this, iova, granule);
}

}  // namespace modiommu::rockchip_iommu
