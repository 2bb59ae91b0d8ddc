#include "iommu/iommu.h"

#include <bit>

#include <fmt/format.h>

namespace modiommu::iommu {

const char* domain_type_name(DomainType t) {
  switch (t) {
    case DomainType::blocked: return "blocked";
    case DomainType::identity: return "identity";
    case DomainType::dma: return "dma";
    case DomainType::dma_lazy: return "dma-lazy";
    case DomainType::unmanaged: return "unmanaged";
  }
  return "?";
}

std::optional<DomainType> parse_domain_type(std::string_view s) {
  for (auto t : {DomainType::blocked, DomainType::identity, DomainType::dma, DomainType::dma_lazy, DomainType::unmanaged})
    if (s == domain_type_name(t)) return t;
  return std::nullopt;
}

IommuDomain::~IommuDomain() = default;

Status IommuDomain::map_pages(uint64_t, uint64_t, size_t, size_t, int, size_t*) {
  return make_error(Errc::notsup, std::string(domain_type_name(type_)) + " domain cannot map");
}
size_t IommuDomain::unmap_pages(uint64_t, size_t, size_t, IotlbGather&) { return 0; }
void IommuDomain::iotlb_sync(IotlbGather&) {}
void IommuDomain::flush_iotlb_all() {}
Result<uint64_t> IommuDomain::iova_to_phys(uint64_t) const {
  return make_error(Errc::notsup, std::string(domain_type_name(type_)) + " domain has no page table");
}

void IommuDomain::set_fault_handler(FaultHandler h) {
  std::lock_guard g(handler_lock_);
  handler_ = std::move(h);
}

void IommuDomain::deliver_fault(Device* dev, const FaultInfo& info) {
  faults_.fetch_add(1, std::memory_order_relaxed);
  FaultHandler h;
  {
    std::lock_guard g(handler_lock_);
    h = handler_;
  }
  if (h) h(dev, info);
}

Status IommuOps::of_xlate(Device&, Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (args.empty()) return make_error(Errc::inval, "iommus specifier has no cells (#iommu-cells = 0)");
  fwspec.ids.push_back(args[0]);
  return {};
}

const void* IommuOps::group_key(Device&, Fwspec&) { return nullptr; }

namespace {

Status check_range(const IommuDomain& d, uint64_t iova, uint64_t pa, size_t size) {
  if (!is_paging(d.type()))
    return make_error(Errc::notsup, std::string(domain_type_name(d.type())) + " domain cannot map");
  if (!d.pgsize_bitmap) return make_error(Errc::inval, "domain has no page sizes");
  const uint64_t min = uint64_t{1} << std::countr_zero(d.pgsize_bitmap);
  if ((iova | pa | size) & (min - 1))
    return make_error(Errc::inval, fmt::format("iova {:#x} pa {:#x} size {:#x} not aligned to the minimum page size {:#x}",
                                               iova, pa, size, min));
  if (size == 0 || iova < d.aperture_start || iova + size - 1 > d.aperture_end || iova + size < iova)
    return make_error(Errc::range, fmt::format("[{:#x}, +{:#x}) is outside the domain aperture [{:#x}, {:#x}]", iova,
                                               size, d.aperture_start, d.aperture_end));
  return {};
}

}  // namespace

Status iommu_map(IommuDomain& d, uint64_t iova, uint64_t pa, size_t size, int prot) {
  TRY(check_range(d, iova, pa, size));
  const uint64_t start = iova;
  size_t left = size;
  while (left) {
    // iommu_pgsize(): the largest page that fits both addresses' alignment
    // and the remaining size, and how many of them before a larger one fits.
    uint64_t p = 0;
    for (uint64_t bm = d.pgsize_bitmap; bm; bm &= bm - 1) {
      const uint64_t cand = bm & -bm;
      if (cand <= left && ((iova | pa) & (cand - 1)) == 0) p = cand;
    }
    size_t count = left / p;
    const uint64_t bigger_mask = d.pgsize_bitmap & ~((p << 1) - 1);
    if (bigger_mask) {
      const uint64_t bigger = bigger_mask & -bigger_mask;
      if (((iova ^ pa) & (bigger - 1)) == 0) {
        const uint64_t to_boundary = (bigger - (iova & (bigger - 1))) & (bigger - 1);
        if (to_boundary && to_boundary / p < count) count = to_boundary / p;
      }
    }
    size_t mapped = 0;
    Status s = d.map_pages(iova, pa, p, count, prot, &mapped);
    if (!s.ok()) {
      if (iova + mapped > start) iommu_unmap(d, start, iova + mapped - start);
      return s;
    }
    iova += p * count;
    pa += p * count;
    left -= p * count;
  }
  return {};
}

size_t iommu_unmap_fast(IommuDomain& d, uint64_t iova, size_t size, IotlbGather& gather) {
  if (!is_paging(d.type()) || !d.pgsize_bitmap) return 0;
  const uint64_t min = uint64_t{1} << std::countr_zero(d.pgsize_bitmap);
  if ((iova | size) & (min - 1)) return 0;
  return d.unmap_pages(iova, min, size / min, gather);
}

size_t iommu_unmap(IommuDomain& d, uint64_t iova, size_t size) {
  IotlbGather gather;
  size_t n = iommu_unmap_fast(d, iova, size, gather);
  d.iotlb_sync(gather);
  return n;
}

}  // namespace modiommu::iommu
