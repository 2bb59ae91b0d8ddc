// Domains (ipmmu_vmsa_domain): a paging domain owns one root context and an
// ARM 32-bit LPAE stage-1 io-pgtable (Linux ARM_32_LPAE_S1: 32-bit IOVA,
// 40-bit output, 4K/2M/1G pages); identity and blocked domains own nothing
// (micro-TLB off / on the block context). The context is programmed
// completely before any micro-TLB points at it.
#include <fmt/format.h>

#include "drivers/iommu/ipmmu-vmsa/ipmmu-vmsa.h"
#include "kernel/driver_context.h"

namespace modiommu::ipmmu {

IpmmuDomain::IpmmuDomain(iommu::DomainType t, std::shared_ptr<IpmmuDevice> mmu)
    : iommu::IommuDomain(t), mmu_(std::move(mmu)) {}

Status IpmmuDomain::finalise() {
  IpmmuDevice& m = *mmu_;
  iommu::IoPgtableCfg cfg;
  cfg.fmt = iommu::PgtableFormat::arm_lpae_s1;
  cfg.granule = iommu::Granule::k4K;
  cfg.ias = 32;  // Linux ipmmu_domain_init_context: ias 32, oas 40
  cfg.oas = 40;
  cfg.coherent = true;
  cfg.tlb = this;
  pgtbl_ = TRY(iommu::IoPgtable::alloc(cfg, m.ctx().ram(), m.ctx().pages()));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  aperture_start = 0;
  aperture_end = 0xffffffffull;  // DMA_BIT_MASK(32), force_aperture
  auto n = m.context_alloc(*this, *pgtbl_);
  if (!n.ok()) {
    pgtbl_.reset();
    return std::move(n).error();
  }
  ctx_ = *n;
  return {};
}

IpmmuDomain::~IpmmuDomain() {
  mmu_->detach_all(*this);  // no micro-TLB may point at the context freed below
  if (ctx_ >= 0) mmu_->context_free(ctx_);
  ctx_ = -1;  // the table's teardown flush must not reach a context reused since
  pgtbl_.reset();
}

Status IpmmuDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (!pgtbl_) return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  return pgtbl_->map_pages(iova, pa, pgsize, count, prot, mapped);
}

size_t IpmmuDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) {
  if (!pgtbl_) return 0;
  return pgtbl_->unmap(iova, pgsize * count, &gather);
}

// Linux ipmmu_iotlb_sync(): the whole context is flushed.
void IpmmuDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  if (!gather.empty() || !gather.freelist.empty()) tlb_flush_all();
  Status s = pgtbl_->free_gathered(gather);
  if (!s.ok()) mmu_->ctx().log().err(mmu_->name(), "freeing unmapped tables: {}", s.error().str());
}

void IpmmuDomain::flush_iotlb_all() { tlb_flush_all(); }

Result<uint64_t> IpmmuDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void IpmmuDomain::tlb_flush_all() {
  if (ctx_ >= 0) mmu_->tlb_flush(ctx_);
}

void IpmmuDomain::tlb_flush_walk(uint64_t /*iova*/, size_t size, size_t /*granule*/) {
  if (size) tlb_flush_all();  // Linux ipmmu_tlb_flush: no finer operation exists
}

void IpmmuDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  if (gather) gather->add_page(iova, granule);
  else tlb_flush_all();
}

}  // namespace modiommu::ipmmu
