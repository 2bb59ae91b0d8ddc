// Format-independent parts of io-pgtable: the gather, the register-field
// packing, table freeing after a TLB sync, and format dispatch.
#include "iommu/io_pgtable.h"

#include <algorithm>

#include "iommu/io_pgtable_arm.h"
#include "iommu/io_pgtable_arm_v7s.h"

namespace modiommu::iommu {

const char* format_name(PgtableFormat f) {
  switch (f) {
    case PgtableFormat::arm_lpae_s1: return "arm-lpae-s1";
    case PgtableFormat::arm_lpae_s2: return "arm-lpae-s2";
    case PgtableFormat::arm_v7s: return "arm-v7s";
  }
  return "unknown";
}

size_t granule_bytes(Granule g) {
  switch (g) {
    case Granule::k4K: return size_t{4} << 10;
    case Granule::k16K: return size_t{16} << 10;
    case Granule::k64K: return size_t{64} << 10;
  }
  return 0;
}

void IotlbGather::add_page(uint64_t iova, size_t size) {
  const uint64_t last = iova + size - 1;
  if (empty()) {
    pgsize = size;
  } else {
    pgsize = std::min(pgsize, size);
  }
  start = std::min(start, iova);
  end = std::max(end, last);
}

void IotlbGather::reset_range() {
  start = std::numeric_limits<uint64_t>::max();
  end = 0;
  pgsize = 0;
}

uint64_t ArmLpaeS1Cfg::tcr_value() const {
  return uint64_t{tcr.tsz} | uint64_t{tcr.irgn} << 8 | uint64_t{tcr.orgn} << 10 | uint64_t{tcr.sh} << 12 |
         uint64_t{tcr.tg} << 14 | uint64_t{tcr.ips} << 32;
}

uint64_t ArmLpaeS2Cfg::vtcr_value() const {
  return uint64_t{vtcr.tsz} | uint64_t{vtcr.sl} << 6 | uint64_t{vtcr.irgn} << 8 | uint64_t{vtcr.orgn} << 10 |
         uint64_t{vtcr.sh} << 12 | uint64_t{vtcr.tg} << 14 | uint64_t{vtcr.ps} << 16;
}

Result<std::unique_ptr<IoPgtable>> IoPgtable::alloc(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem,
                                                    mm::PageAllocator& pages) {
  switch (cfg.fmt) {
    case PgtableFormat::arm_lpae_s1:
    case PgtableFormat::arm_lpae_s2:
      return arm_lpae::alloc(cfg, mem, pages);
    case PgtableFormat::arm_v7s:
      return arm_v7s::alloc(cfg, mem, pages);
  }
  return make_error(Errc::inval, "io-pgtable: unknown format");
}

IoPgtable::~IoPgtable() = default;

uint64_t IoPgtable::ttbr() const {
  if (cfg_.fmt == PgtableFormat::arm_v7s) return cfg_.arm_v7s_cfg.ttbr;
  return cfg_.fmt == PgtableFormat::arm_lpae_s2 ? cfg_.arm_lpae_s2_cfg.vttbr : cfg_.arm_lpae_s1_cfg.ttbr;
}

Status IoPgtable::free_gathered(IotlbGather& gather) {
  Status first;
  for (const auto& t : gather.freelist) {
    if (auto s = pages_.free_pages(t.pa, t.order); !s) {
      if (first) first = std::move(s);
      continue;
    }
    table_pages_.fetch_sub(uint64_t{1} << t.order, std::memory_order_relaxed);
  }
  gather.freelist.clear();
  return first;
}

}  // namespace modiommu::iommu
