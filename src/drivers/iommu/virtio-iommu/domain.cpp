// Domains (viommu_domain): an ID in the device's domain range; paging
// domains keep a shadow of their mappings (an interval map) that answers
// iova_to_phys, decides what an unmap covers (the device never splits a
// mapping, 5.13.6.6) and is replayed when the domain's first endpoint
// attaches (a domain exists on the device only while an endpoint is
// attached, 5.13.6.3). Identity domains are ATTACHed with the BYPASS flag;
// blocked domains are attached with no mapping, so their traffic faults.
#include <fmt/format.h>

#include "drivers/iommu/virtio-iommu/virtio-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::virtio_iommu {

VIommuDomain::VIommuDomain(iommu::DomainType t, std::shared_ptr<VIommu> v, uint32_t id)
    : iommu::IommuDomain(t), v_(std::move(v)), id_(id) {}

VIommuDomain::~VIommuDomain() {
  // No endpoint may stay in a domain whose ID goes back to the allocator.
  v_->detach_all(*this);
  v_->id_free(id_);
}

size_t VIommuDomain::mappings() const {
  std::lock_guard g(lock_);
  return map_.size();
}

Status VIommuDomain::replay_locked() {
  for (const auto& [start, m] : map_) {
    uv::MapBody b{};
    b.domain = id_;
    b.virt_start = start;
    b.virt_end = m.end;
    b.phys_start = m.pa;
    b.flags = m.flags;
    TRY(v_->request(uv::kReqMap, &b, sizeof b, fmt::format("replay of domain {} [{:#x}, {:#x}]", id_, start, m.end)));
  }
  return {};
}

Status VIommuDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (mapped) *mapped = 0;
  if (!iommu::is_paging(type())) return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  const std::string& name = v_->name();
  const uint64_t size = uint64_t{pgsize} * count;
  if (!pgsize || !count || size / count != pgsize || iova + size - 1 < iova)
    return make_error(Errc::inval, fmt::format("{}: domain {}: map of {} x {:#x} at {:#x} is not a valid range", name,
                                               id_, count, pgsize, iova));
  const uint64_t last = iova + size - 1;
  if (iova < aperture_start || last > aperture_end)
    return make_error(Errc::range, fmt::format("{}: domain {}: [{:#x}, {:#x}] is outside the input range [{:#x}, "
                                               "{:#x}]", name, id_, iova, last, aperture_start, aperture_end));
  // 5.13.6.5: READ/WRITE/MMIO; MMIO only when the device offers it.
  uint32_t flags = 0;
  if (prot & iommu::IOMMU_READ) flags |= uv::kMapFRead;
  if (prot & iommu::IOMMU_WRITE) flags |= uv::kMapFWrite;
  if (prot & iommu::IOMMU_MMIO) {
    if (!v_->config().mmio)
      return make_error(Errc::notsup, fmt::format("{}: domain {}: MMIO mapping at {:#x} but the device does not offer "
                                                  "VIRTIO_IOMMU_F_MMIO", name, id_, iova));
    flags |= uv::kMapFMmio;
  }
  std::lock_guard g(lock_);
  // 5.13.6.8.2: the driver must not map a reserved region of an endpoint
  // attached to the domain.
  for (const auto& r : resv_)
    if (iova <= r.end && r.start <= last)
      return make_error(Errc::inval, fmt::format("{}: domain {}: [{:#x}, {:#x}] overlaps the reserved {} region "
                                                 "[{:#x}, {:#x}] of an endpoint attached to it", name, id_, iova, last,
                                                 r.subtype == uv::kResvMemTMsi ? "MSI" : "reserved", r.start, r.end));
  auto next = map_.lower_bound(iova);
  const bool overlap = (next != map_.end() && next->first <= last) ||
                       (next != map_.begin() && std::prev(next)->second.end >= iova);
  if (overlap)
    return make_error(Errc::exist, fmt::format("{}: domain {}: [{:#x}, {:#x}] overlaps an existing mapping", name,
                                               id_, iova, last));
  // Without an endpoint the domain does not exist on the device yet: the
  // shadow alone holds it until the first ATTACH replays it.
  if (nr_endpoints_) {
    uv::MapBody b{};
    b.domain = id_;
    b.virt_start = iova;
    b.virt_end = last;
    b.phys_start = pa;
    b.flags = flags;
    TRY(v_->request(uv::kReqMap, &b, sizeof b, fmt::format("domain {} [{:#x}, {:#x}] -> {:#x}", id_, iova, last, pa)));
  }
  map_.emplace(iova, Mapping{last, pa, flags});
  if (mapped) *mapped = size;
  return {};
}

size_t VIommuDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather&) {
  if (!iommu::is_paging(type()) || !pgsize || !count) return 0;
  const uint64_t size = uint64_t{pgsize} * count;
  if (size / count != pgsize || iova + size - 1 < iova) return 0;
  const uint64_t last = iova + size - 1;
  std::lock_guard g(lock_);
  // The mappings wholly inside [iova, last] from the start; the first one
  // only partly covered ends it (the device would answer RANGE and remove
  // nothing, 5.13.6.6.2; as Linux, the caller gets what was unmapped).
  auto first = map_.upper_bound(iova);
  if (first != map_.begin() && std::prev(first)->second.end >= iova) --first;
  auto end = first;
  uint64_t unmapped = 0, upto = 0;
  for (; end != map_.end() && end->first <= last; ++end) {
    if (end->first < iova || end->second.end > last) break;
    unmapped += end->second.end - end->first + 1;
    upto = end->second.end;
  }
  if (!unmapped) return 0;
  if (nr_endpoints_) {
    uv::UnmapBody b{};
    b.domain = id_;
    b.virt_start = iova;
    b.virt_end = upto;
    Status s = v_->request(uv::kReqUnmap, &b, sizeof b, fmt::format("domain {} [{:#x}, {:#x}]", id_, iova, upto));
    if (!s.ok()) {
      // Kept in the shadow: the device may still translate it.
      v_->log().err(v_->name(), "{}", s.error().str());
      return 0;
    }
  }
  map_.erase(first, end);
  return unmapped;
}

// Nothing is cached on our side and the device has applied each UNMAP
// before answering it (5.13.6.6: the status is written once the range no
// longer translates), so there is nothing left to invalidate.
void VIommuDomain::iotlb_sync(iommu::IotlbGather&) {}
void VIommuDomain::flush_iotlb_all() {}

Result<uint64_t> VIommuDomain::iova_to_phys(uint64_t iova) const {
  if (!iommu::is_paging(type())) return iommu::IommuDomain::iova_to_phys(iova);
  std::lock_guard g(lock_);
  auto it = map_.upper_bound(iova);
  if (it == map_.begin() || std::prev(it)->second.end < iova)
    return make_error(Errc::noent, fmt::format("{}: domain {}: iova {:#x} is not mapped", v_->name(), id_, iova));
  --it;
  return it->second.pa + (iova - it->first);
}

}  // namespace modiommu::virtio_iommu
