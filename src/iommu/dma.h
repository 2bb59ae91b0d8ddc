// The DMA API (include/linux/dma-mapping.h, drivers/iommu/dma-iommu.c):
// what drivers use to give devices addresses. Behind an IOMMU with a DMA
// domain: IOVA from the domain's allocator + page tables; strict domains
// invalidate on every unmap, lazy ones (dma-lazy) batch invalidations in a
// flush queue and free IOVAs only after the flush. Without an IOMMU, with an
// identity domain or with --missing-iommu=bypass: direct, within the
// device's DMA mask (no bounce buffers: an address beyond the mask is an
// error, not silently truncated).
//
// Locking: no global lock. The IOVA allocator has per-thread caches; page
// tables allow concurrent disjoint map/unmap; a lazy domain's flush queue
// has its own lock. Callers follow the kernel contract: the DMA API is used
// only while the device is bound, so the domain outlives every call.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "iommu/iommu_core.h"
#include "mm/page_alloc.h"

namespace modiommu::iommu {

enum class DmaDirection { bidirectional, to_device, from_device };
using DmaAddr = uint64_t;

struct ScatterEntry {
  PhysAddr pa = 0;
  size_t len = 0;
  DmaAddr dma = 0;  // filled by map_sg
};

struct CoherentBuffer {
  PhysAddr pa = 0;
  DmaAddr dma = 0;
  size_t size = 0;
};

struct DmaStats {
  uint64_t maps = 0, unmaps = 0, direct_maps = 0, fq_flushes = 0;
};

class MODIOMMU_API DmaApi {
 public:
  DmaApi(IommuCore& iommu, mm::PageAllocator& pages);

  // iommu_dma_init_domain(): the IOVA allocator for a new DMA domain.
  Status init_domain(IommuDomain& domain, Device& dev);
  // Before the domain is freed: drains its flush queue.
  void fini_domain(IommuDomain& domain);

  Result<DmaAddr> map_single(Device& dev, PhysAddr pa, size_t size, DmaDirection dir);
  Status unmap_single(Device& dev, DmaAddr addr, size_t size, DmaDirection dir);
  // One IOVA range for the whole list (segments granule-padded), as
  // iommu_dma_map_sg(). Returns the number of entries mapped.
  Result<size_t> map_sg(Device& dev, std::vector<ScatterEntry>& sg, DmaDirection dir);
  Status unmap_sg(Device& dev, std::vector<ScatterEntry>& sg, DmaDirection dir);
  Result<CoherentBuffer> alloc_coherent(Device& dev, size_t size);
  Status free_coherent(Device& dev, const CoherentBuffer& buf);
  // Emulated memory is coherent: these only count, as on a coherent SoC.
  void sync_for_cpu(Device& dev, DmaAddr addr, size_t size, DmaDirection dir);
  void sync_for_device(Device& dev, DmaAddr addr, size_t size, DmaDirection dir);
  // A lazy domain's flush queue, drained now (iommu_dma_flush_fq()).
  void flush_queue(Device& dev);

  DmaStats stats() const;

 private:
  struct Path;
  Result<Path> path(Device& dev) const;
  Status unmap_range(Device& dev, IommuDomain& d, DmaAddr base, size_t len);

  IommuCore& iommu_;
  mm::PageAllocator& pages_;
  std::atomic<uint64_t> maps_{0}, unmaps_{0}, direct_{0}, fq_flushes_{0}, syncs_{0};
};

}  // namespace modiommu::iommu
