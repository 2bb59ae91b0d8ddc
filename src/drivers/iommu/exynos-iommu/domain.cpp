// Domains (exynos_iommu_domain): a paging domain owns its page table
// (pgtable.h) and knows the SysMMUs that may walk it, for TLB maintenance;
// identity and blocked domains own nothing and only set the hardware state.
#include "drivers/iommu/exynos-iommu/exynos-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::exynos_iommu {

ExynosDomain::ExynosDomain(iommu::DomainType t, std::shared_ptr<SysmmuDevice> owner)
    : iommu::IommuDomain(t), owner_(std::move(owner)) {}

Status ExynosDomain::finalise() {
  SysmmuDevice& s = *owner_;
  pgtbl_ = TRY(ExynosPgtable::alloc(s.format(), s.ctx().ram(), s.ctx().pages(), s.zero_lv2(), this));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  // Linux: the 32-bit IOVA space, forced.
  aperture_start = 0;
  aperture_end = 0xffffffffull;
  return {};
}

ExynosDomain::~ExynosDomain() {
  for (auto& c : clients()) c->domain_freed(*this);  // the hardware stops walking it first
  pgtbl_.reset();
}

PtFormat ExynosDomain::format() const { return pgtbl_ ? pgtbl_->format() : owner_->format(); }

void ExynosDomain::add_client(const std::shared_ptr<SysmmuDevice>& s) {
  std::lock_guard g(lock_);
  std::erase_if(clients_, [](auto& w) { return w.expired(); });
  for (auto& w : clients_)
    if (w.lock() == s) return;
  clients_.push_back(s);
}

std::vector<std::shared_ptr<SysmmuDevice>> ExynosDomain::clients() {
  std::lock_guard g(lock_);
  std::vector<std::shared_ptr<SysmmuDevice>> out;
  for (auto& w : clients_)
    if (auto s = w.lock()) out.push_back(std::move(s));
  return out;
}

Status ExynosDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (!pgtbl_) return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  return pgtbl_->map_pages(iova, pa, pgsize, count, prot, mapped);
}

size_t ExynosDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) {
  if (!pgtbl_) return 0;
  return pgtbl_->unmap(iova, pgsize * count, &gather);
}

// Linux flushes each unmapped entry at once; here the gathered range is
// flushed at the sync, before the IOVA can be reused.
void ExynosDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  if (!gather.empty())
    for (auto& c : clients()) c->flush_range(*this, gather.start, gather.end - gather.start + 1);
  Status s = pgtbl_->free_gathered(gather);  // nothing: second-level tables stay until the domain goes
  if (!s.ok()) owner_->ctx().log().err(owner_->name(), "freeing unmapped tables: {}", s.error().str());
}

void ExynosDomain::flush_iotlb_all() { tlb_flush_all(); }

Result<uint64_t> ExynosDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void ExynosDomain::tlb_flush_all() {
  for (auto& c : clients()) c->flush_all(*this);
}

// The page table replaced a first-level link: the FLPD cache may hold it.
void ExynosDomain::tlb_flush_walk(uint64_t iova, size_t /*size*/, size_t /*granule*/) {
  for (auto& c : clients()) c->flush_flpd(*this, iova);
}

void ExynosDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  if (gather) {
    gather->add_page(iova, granule);
    return;
  }
  for (auto& c : clients()) c->flush_range(*this, iova, granule);
}

}  // namespace modiommu::exynos_iommu
