// Domains (tegra_smmu_as): a paging domain owns a page directory and its
// page tables (pgtable.h) and, while attached, an ASID; identity and
// blocked domains own nothing and only set swgroup states when attached.
#include "drivers/iommu/tegra-smmu/tegra-smmu.h"
#include "kernel/driver_context.h"

namespace modiommu::tegra_smmu {

TegraDomain::TegraDomain(iommu::DomainType t, std::shared_ptr<TegraSmmu> smmu)
    : iommu::IommuDomain(t), smmu_(std::move(smmu)) {}

Status TegraDomain::finalise() {
  TegraSmmu& s = *smmu_;
  pgtbl_ = TRY(TegraPgtable::alloc(s.soc().address_bits, s.ctx().ram(), s.ctx().pages(), this, this));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  // Linux: aperture 0..0xffffffff, forced.
  aperture_start = 0;
  aperture_end = 0xffffffffull;
  return {};
}

TegraDomain::~TegraDomain() {
  smmu_->domain_freed(*this);  // the hardware must stop walking it first
  pgtbl_.reset();
}

Status TegraDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (!pgtbl_) return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  return pgtbl_->map_pages(iova, pa, pgsize, count, prot, mapped);
}

size_t TegraDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) {
  if (!pgtbl_) return 0;
  return pgtbl_->unmap(iova, pgsize * count, &gather);
}

void TegraDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  if (!gather.empty()) smmu_->flush_tlb_range(*this, gather.start, gather.end - gather.start + 1);
  Status s = pgtbl_->free_gathered(gather);  // nothing: page tables stay until the domain goes
  if (!s.ok()) smmu_->ctx().log().err(smmu_->name(), "freeing unmapped tables: {}", s.error().str());
}

void TegraDomain::flush_iotlb_all() { tlb_flush_all(); }

Result<uint64_t> TegraDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void TegraDomain::tlb_flush_all() { smmu_->flush_tlb_asid(*this); }

void TegraDomain::tlb_flush_walk(uint64_t iova, size_t size, size_t /*granule*/) {
  smmu_->flush_tlb_range(*this, iova, size);
}

void TegraDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  if (gather) gather->add_page(iova, granule);
  else smmu_->flush_tlb_range(*this, iova, granule);
}

void TegraDomain::ptc_flush(iommu::PhysAddr pa) { smmu_->flush_ptc(pa); }

}  // namespace modiommu::tegra_smmu
