// ARM LPAE format rules: table geometry per granule and input size,
// descriptor attributes per prot, and register field encodings
// (DDI 0487 D8 and D19.2).
#include <fmt/format.h>

#include "iommu/io_pgtable_arm.h"

namespace modiommu::iommu::arm_lpae {

unsigned granule_shift(Granule g) {
  switch (g) {
    case Granule::k4K: return 12;
    case Granule::k16K: return 14;
    case Granule::k64K: return 16;
  }
  return 12;
}

// TCR.TG0 / VTCR.TG0 encoding (D19.2).
unsigned tg_encoding(Granule g) {
  switch (g) {
    case Granule::k4K: return 0;
    case Granule::k64K: return 1;
    case Granule::k16K: return 2;
  }
  return 0;
}

// TCR.IPS / VTCR.PS encoding of the output size.
Result<unsigned> ps_encoding(unsigned oas) {
  switch (oas) {
    case 32: return 0u;
    case 36: return 1u;
    case 40: return 2u;
    case 42: return 3u;
    case 44: return 4u;
    case 48: return 5u;
    default:
      return make_error(Errc::inval,
                        fmt::format("io-pgtable: output size {} bits is not one of 32, 36, 40, 42, 44, 48", oas));
  }
}

// VTCR_EL2.SL0 for a start level (D19.2 VTCR_EL2): with 4K, 0/1/2 mean
// levels 2/1/0; with 16K and 64K they mean levels 3/2/1.
unsigned sl0_encoding(Granule g, unsigned start_level) {
  return g == Granule::k4K ? 2 - start_level : 3 - start_level;
}

Result<Geometry> geometry(PgtableFormat fmt, Granule granule, unsigned ias) {
  if (ias < 32 || ias > 48)
    return make_error(Errc::inval, fmt::format("io-pgtable: input size {} bits is outside 32..48", ias));
  Geometry g;
  g.pg_shift = granule_shift(granule);
  g.bits_per_level = g.pg_shift - 3;  // a table is one granule of 8-byte entries
  const unsigned va_bits = ias - g.pg_shift;
  const unsigned levels = (va_bits + g.bits_per_level - 1) / g.bits_per_level;
  g.start_level = 4 - levels;
  g.pgd_bits = va_bits - (levels - 1) * g.bits_per_level;
  // Stage 2 concatenates up to 16 top tables to save a level (D8.2.7), as
  // Linux does; 16K/64K cannot start a stage-2 walk at level 0 anyway.
  if (fmt == PgtableFormat::arm_lpae_s2 && g.start_level == 0 && (1u << g.pgd_bits) <= 16) {
    g.start_level = 1;
    g.pgd_bits += g.bits_per_level;
  }
  if (fmt == PgtableFormat::arm_lpae_s2 && granule != Granule::k4K && g.start_level == 0)
    return make_error(Errc::inval, fmt::format("io-pgtable: stage 2 with {} KiB granule cannot start at level 0",
                                               granule_bytes(granule) >> 10));
  return g;
}

uint64_t prot_to_pte(PgtableFormat fmt, int prot) {
  uint64_t pte = kAf;
  pte |= ((prot & IOMMU_CACHE) ? kShInner : kShOuter) << kShShift;
  if (prot & IOMMU_NOEXEC) pte |= kXn;
  if (fmt == PgtableFormat::arm_lpae_s1) {
    pte |= kNg;  // per-ASID translations
    if (!(prot & IOMMU_PRIV)) pte |= kApUnpriv;
    if ((prot & IOMMU_READ) && !(prot & IOMMU_WRITE)) pte |= kApRdonly;
    const uint64_t idx = (prot & IOMMU_MMIO) ? kMairIdxDevice : (prot & IOMMU_CACHE) ? kMairIdxCache : kMairIdxNc;
    pte |= idx << kAttrIndxShift;
  } else {
    if (prot & IOMMU_READ) pte |= kS2apRead;
    if (prot & IOMMU_WRITE) pte |= kS2apWrite;
    const uint64_t attr = (prot & IOMMU_MMIO) ? kS2MemAttrDevice : (prot & IOMMU_CACHE) ? kS2MemAttrWb : kS2MemAttrNc;
    pte |= attr << kMemAttrShift;
  }
  return pte;
}

uint64_t pgsize_bitmap(Granule granule) {
  switch (granule) {
    case Granule::k4K: return (uint64_t{1} << 12) | (uint64_t{1} << 21) | (uint64_t{1} << 30);
    case Granule::k16K: return (uint64_t{1} << 14) | (uint64_t{1} << 25);
    case Granule::k64K: return (uint64_t{1} << 16) | (uint64_t{1} << 29);
  }
  return 0;
}

}  // namespace modiommu::iommu::arm_lpae
