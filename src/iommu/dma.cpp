#include "iommu/dma.h"

#include <bit>
#include <mutex>

#include <fmt/format.h>

#include "iommu/iova.h"

namespace modiommu::iommu {

namespace {

constexpr size_t kFlushQueueLimit = 256;  // entries before a lazy domain flushes

struct DmaCookie {
  std::unique_ptr<IovaDomain> iovad;
  bool lazy = false;
  std::mutex fq_lock;  // guards the flush queue; docs/architecture.md "Locks"
  std::vector<IovaFree> fq;
  IotlbGather fq_gather;
};

// Completes a lazy domain's batch: one invalidation of everything, then the
// unhooked tables and the IOVAs go back. Caller holds cookie.fq_lock.
Status flush_queue_locked(IommuDomain& d, DmaCookie& cookie) {
  d.flush_iotlb_all();
  d.iotlb_sync(cookie.fq_gather);
  cookie.fq_gather = IotlbGather{};
  Status s = cookie.iovad->free_batch(cookie.fq);
  cookie.fq.clear();
  return s;
}

int prot_for(DmaDirection dir) {
  switch (dir) {
    case DmaDirection::to_device: return IOMMU_READ | IOMMU_CACHE;     // the device reads memory
    case DmaDirection::from_device: return IOMMU_WRITE | IOMMU_CACHE;  // the device writes memory
    case DmaDirection::bidirectional: break;
  }
  return IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
}

}  // namespace

struct DmaApi::Path {
  IommuDomain* domain = nullptr;  // null: direct
  DmaCookie* cookie = nullptr;
  uint64_t granule = 0;
};

DmaApi::DmaApi(IommuCore& iommu, mm::PageAllocator& pages) : iommu_(iommu), pages_(pages) {}

Status DmaApi::init_domain(IommuDomain& domain, Device&) {
  if (!domain.pgsize_bitmap) return make_error(Errc::inval, "DMA domain has no page sizes");
  const uint64_t granule = uint64_t{1} << std::countr_zero(domain.pgsize_bitmap);
  // Policy, as Linux's iommu-dma (whose IOVA domain starts at pfn 1): IOVA 0
  // is never handed out, because a zero DMA address looks like a driver's
  // NULL bug. A policy, not a sentinel: nothing reads IOVA 0 as "none".
  const uint64_t start_pfn = std::max<uint64_t>(1, domain.aperture_start / granule);
  auto iovad = IovaDomain::create(granule, start_pfn, domain.aperture_end);
  if (!iovad.ok()) return std::move(iovad).error();
  auto cookie = std::make_shared<DmaCookie>();
  cookie->iovad = std::move(iovad).value();
  cookie->lazy = domain.type() == DomainType::dma_lazy;
  domain.dma_cookie = cookie;
  return {};
}

Result<DmaApi::Path> DmaApi::path(Device& dev) const {
  Path p;
  DeviceIommu* di = iommu_.device_iommu(dev);
  if (!di || di->bypass_fallback || !di->group) return p;  // no IOMMU: direct
  IommuDomain* d = di->group->domain;
  if (!d) return make_error(Errc::nodev, dev.name() + " has no IOMMU domain attached");
  switch (d->type()) {
    case DomainType::identity: return p;
    case DomainType::blocked: return make_error(Errc::perm, dev.name() + " is in a blocked domain: no DMA possible");
    case DomainType::unmanaged:
      return make_error(Errc::busy, dev.name() + " is attached to an unmanaged domain: its owner maps, not the DMA API");
    case DomainType::dma:
    case DomainType::dma_lazy: break;
  }
  auto* cookie = static_cast<DmaCookie*>(d->dma_cookie.get());
  if (!cookie) return make_error(Errc::nodev, dev.name() + ": DMA domain has no IOVA allocator");
  p.domain = d;
  p.cookie = cookie;
  p.granule = cookie->iovad->granule();
  return p;
}

static Status check_direct(const Device& dev, PhysAddr pa, size_t size) {
  if (size == 0) return make_error(Errc::inval, "DMA mapping of 0 bytes");
  if (pa + size - 1 < pa || pa + size - 1 > dev.dma_mask)
    return make_error(Errc::range, fmt::format("{}: [{:#x}, +{:#x}) is beyond its DMA mask {:#x} (no bounce buffers)",
                                               dev.name(), pa, size, dev.dma_mask));
  return {};
}

Result<DmaAddr> DmaApi::map_single(Device& dev, PhysAddr pa, size_t size, DmaDirection dir) {
  Path p = TRY(path(dev));
  if (!p.domain) {
    TRY(check_direct(dev, pa, size));
    direct_.fetch_add(1, std::memory_order_relaxed);
    return pa;
  }
  if (size == 0) return make_error(Errc::inval, "DMA mapping of 0 bytes");
  const uint64_t off = pa & (p.granule - 1);
  const uint64_t len = (off + size + p.granule - 1) & ~(p.granule - 1);
  const uint64_t limit = std::min(dev.dma_mask, p.domain->aperture_end);
  const uint64_t iova = TRY(p.cookie->iovad->alloc_fast(len, limit));
  Status s = iommu_map(*p.domain, iova, pa - off, len, prot_for(dir));
  if (!s.ok()) {
    (void)p.cookie->iovad->free_fast(iova, len);
    return std::move(s).error();
  }
  maps_.fetch_add(1, std::memory_order_relaxed);
  return iova + off;
}

Status DmaApi::unmap_range(Device& dev, IommuDomain& d, DmaAddr base, size_t len) {
  auto* cookie = static_cast<DmaCookie*>(d.dma_cookie.get());
  if (!cookie->lazy) {
    const size_t n = iommu_unmap(d, base, len);  // strict: invalidated before we return
    if (n != len)
      return make_error(Errc::inval, fmt::format("{}: unmap of [{:#x}, +{:#x}) found only {:#x} bytes mapped",
                                                 dev.name(), base, len, n));
    unmaps_.fetch_add(1, std::memory_order_relaxed);
    return cookie->iovad->free_fast(base, len);
  }
  // Lazy: unhook now, invalidate in batches; the IOVA is not reused before
  // the invalidation, so a stale TLB entry can only reach the old buffer.
  std::lock_guard g(cookie->fq_lock);
  const size_t n = iommu_unmap_fast(d, base, len, cookie->fq_gather);
  if (n != len)
    return make_error(Errc::inval, fmt::format("{}: unmap of [{:#x}, +{:#x}) found only {:#x} bytes mapped", dev.name(),
                                               base, len, n));
  unmaps_.fetch_add(1, std::memory_order_relaxed);
  cookie->fq.push_back({base, len});
  if (cookie->fq.size() >= kFlushQueueLimit) {
    fq_flushes_.fetch_add(1, std::memory_order_relaxed);
    return flush_queue_locked(d, *cookie);
  }
  return {};
}

Status DmaApi::unmap_single(Device& dev, DmaAddr addr, size_t size, DmaDirection) {
  Path p = TRY(path(dev));
  if (!p.domain) return {};
  const uint64_t off = addr & (p.granule - 1);
  const uint64_t len = (off + size + p.granule - 1) & ~(p.granule - 1);
  return unmap_range(dev, *p.domain, addr - off, len);
}

Result<size_t> DmaApi::map_sg(Device& dev, std::vector<ScatterEntry>& sg, DmaDirection dir) {
  if (sg.empty()) return make_error(Errc::inval, "empty scatterlist");
  Path p = TRY(path(dev));
  if (!p.domain) {
    for (auto& e : sg) {
      TRY(check_direct(dev, e.pa, e.len));
      e.dma = e.pa;
    }
    direct_.fetch_add(1, std::memory_order_relaxed);
    return sg.size();
  }
  uint64_t total = 0;
  for (auto& e : sg) {
    if (e.len == 0) return make_error(Errc::inval, "scatterlist entry of 0 bytes");
    total += ((e.pa & (p.granule - 1)) + e.len + p.granule - 1) & ~(p.granule - 1);
  }
  const uint64_t limit = std::min(dev.dma_mask, p.domain->aperture_end);
  const uint64_t base = TRY(p.cookie->iovad->alloc_fast(total, limit));
  uint64_t cur = base;
  for (auto& e : sg) {
    const uint64_t off = e.pa & (p.granule - 1);
    const uint64_t len = (off + e.len + p.granule - 1) & ~(p.granule - 1);
    Status s = iommu_map(*p.domain, cur, e.pa - off, len, prot_for(dir));
    if (!s.ok()) {
      if (cur > base) iommu_unmap(*p.domain, base, cur - base);
      (void)p.cookie->iovad->free_fast(base, total);
      return std::move(s).error();
    }
    e.dma = cur + off;
    cur += len;
  }
  maps_.fetch_add(1, std::memory_order_relaxed);
  return sg.size();
}

Status DmaApi::unmap_sg(Device& dev, std::vector<ScatterEntry>& sg, DmaDirection) {
  if (sg.empty()) return {};
  Path p = TRY(path(dev));
  if (!p.domain) return {};
  uint64_t total = 0;
  for (auto& e : sg) total += ((e.pa & (p.granule - 1)) + e.len + p.granule - 1) & ~(p.granule - 1);
  return unmap_range(dev, *p.domain, sg.front().dma & ~(p.granule - 1), total);
}

Result<CoherentBuffer> DmaApi::alloc_coherent(Device& dev, size_t size) {
  if (size == 0) return make_error(Errc::inval, "coherent allocation of 0 bytes");
  const PhysAddr pa = TRY(pages_.alloc(size));
  auto dma = map_single(dev, pa, size, DmaDirection::bidirectional);
  if (!dma.ok()) {
    (void)pages_.free(pa);
    return std::move(dma).error();
  }
  return CoherentBuffer{pa, *dma, size};
}

Status DmaApi::free_coherent(Device& dev, const CoherentBuffer& buf) {
  Status s = unmap_single(dev, buf.dma, buf.size, DmaDirection::bidirectional);
  Status f = pages_.free(buf.pa);
  return s.ok() ? f : s;
}

void DmaApi::sync_for_cpu(Device&, DmaAddr, size_t, DmaDirection) { syncs_.fetch_add(1, std::memory_order_relaxed); }
void DmaApi::sync_for_device(Device&, DmaAddr, size_t, DmaDirection) { syncs_.fetch_add(1, std::memory_order_relaxed); }

void DmaApi::flush_queue(Device& dev) {
  auto p = path(dev);
  if (p.ok() && p->domain) fini_domain(*p->domain);
}

void DmaApi::fini_domain(IommuDomain& d) {
  auto* cookie = static_cast<DmaCookie*>(d.dma_cookie.get());
  if (!cookie || !cookie->lazy) return;
  std::lock_guard g(cookie->fq_lock);
  if (cookie->fq.empty()) return;
  (void)flush_queue_locked(d, *cookie);
  fq_flushes_.fetch_add(1, std::memory_order_relaxed);
}

DmaStats DmaApi::stats() const {
  return {maps_.load(), unmaps_.load(), direct_.load(), fq_flushes_.load()};
}

}  // namespace modiommu::iommu
