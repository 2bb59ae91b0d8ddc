// Domains (qcom_iommu_domain): a paging domain owns an ARM 32-bit LPAE
// stage-1 io-pgtable (Linux qcom_iommu_init_domain: ARM_32_LPAE_S1, ias 32,
// oas 40); the banks attached to it are programmed by attach_dev. TLB
// maintenance goes to every bank using the domain.
#include "drivers/iommu/qcom_iommu/qcom_iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::qcom_iommu {

QcomDomain::QcomDomain(iommu::DomainType t, std::shared_ptr<QcomIommuDevice> mmu)
    : iommu::IommuDomain(t), mmu_(std::move(mmu)) {}

Status QcomDomain::finalise() {
  iommu::IoPgtableCfg cfg;
  cfg.fmt = iommu::PgtableFormat::arm_lpae_s1;
  cfg.granule = iommu::Granule::k4K;
  cfg.ias = 32;
  cfg.oas = 40;
  cfg.coherent = true;
  cfg.tlb = this;
  pgtbl_ = TRY(iommu::IoPgtable::alloc(cfg, mmu_->ctx().ram(), mmu_->ctx().pages()));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  aperture_start = 0;
  aperture_end = 0xffffffffull;  // (1 << ias) - 1, force_aperture
  return {};
}

QcomDomain::~QcomDomain() {
  mmu_->detach_all(*this);  // no bank may walk the table freed below
  pgtbl_.reset();
}

Status QcomDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (!pgtbl_) return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  return pgtbl_->map_pages(iova, pa, pgsize, count, prot, mapped);
}

size_t QcomDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) {
  if (!pgtbl_) return 0;
  return pgtbl_->unmap(iova, pgsize * count, &gather);
}

// Linux qcom_iommu_iotlb_sync(): the leaves were invalidated as they were
// unmapped (tlb_add_page); a sync completes them.
void QcomDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  mmu_->tlb_sync_domain(*this);
  Status s = pgtbl_->free_gathered(gather);
  if (!s.ok()) mmu_->ctx().log().err(mmu_->name(), "freeing unmapped tables: {}", s.error().str());
}

void QcomDomain::flush_iotlb_all() { tlb_flush_all(); }

Result<uint64_t> QcomDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void QcomDomain::tlb_flush_all() { mmu_->tlb_inv_context(*this); }

void QcomDomain::tlb_flush_walk(uint64_t iova, size_t size, size_t granule) {
  mmu_->tlb_inv_range(*this, iova, size, granule, false, true);
}

// Linux qcom_iommu_tlb_add_page(): TLBIVAL at once, synced by iotlb_sync.
void QcomDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  mmu_->tlb_inv_range(*this, iova, granule, granule, true, gather == nullptr);
  if (gather) gather->add_page(iova, granule);
}

}  // namespace modiommu::qcom_iommu
