// Domains (sun50i_iommu_domain): a paging domain owns a directory and its
// page tables (pgtable.h); identity and blocked domains own nothing and only
// set the hardware state when attached.
#include "drivers/iommu/sun50i-iommu/sun50i-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::sun50i_iommu {

Sun50iDomain::Sun50iDomain(iommu::DomainType t, std::shared_ptr<Sun50iIommuDevice> owner)
    : iommu::IommuDomain(t), iommu_(std::move(owner)) {}

Status Sun50iDomain::finalise() {
  Sun50iIommuDevice& s = *iommu_;
  pgtbl_ = TRY(Sun50iPgtable::alloc(s.ctx().ram(), s.ctx().pages(), this));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  // Linux sun50i_iommu_domain_alloc: aperture 0..DMA_BIT_MASK(32), forced.
  aperture_start = 0;
  aperture_end = 0xffffffffull;
  return {};
}

Sun50iDomain::~Sun50iDomain() {
  iommu_->domain_freed(*this);  // the hardware must stop walking it first
  pgtbl_.reset();
}

// Linux sun50i_iommu_iotlb_sync_map: after mapping, zap the range's ends.
Status Sun50iDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (!pgtbl_) return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  Status s = pgtbl_->map_pages(iova, pa, pgsize, count, prot, mapped);
  const uint64_t size = uint64_t{pgsize} * count;
  if (s.ok() && size) iommu_->zap_range(*this, iova, size);
  return s;
}

size_t Sun50iDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) {
  if (!pgtbl_) return 0;
  return pgtbl_->unmap(iova, pgsize * count, &gather);
}

// Linux sun50i_iommu_iotlb_sync: the whole TLB and PTW cache.
void Sun50iDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  if (!gather.empty()) iommu_->flush_all(*this);
  Status s = pgtbl_->free_gathered(gather);  // nothing: page tables stay until the domain goes
  if (!s.ok()) iommu_->ctx().log().err(iommu_->name(), "freeing unmapped tables: {}", s.error().str());
}

void Sun50iDomain::flush_iotlb_all() { tlb_flush_all(); }

Result<uint64_t> Sun50iDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void Sun50iDomain::tlb_flush_all() { iommu_->flush_all(*this); }

void Sun50iDomain::tlb_flush_walk(uint64_t /*iova*/, size_t /*size*/, size_t /*granule*/) { iommu_->flush_all(*this); }

void Sun50iDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  if (gather) gather->add_page(iova, granule);
  else iommu_->flush_all(*this);
}

}  // namespace modiommu::sun50i_iommu
