// ARM LPAE (VMSAv8-64) io-pgtable format: descriptor bits and table
// geometry. Internal to iommu/ and its tests; drivers use io_pgtable.h.
#pragma once

#include <cstdint>
#include <memory>

#include "base/api.h"
#include "base/result.h"
#include "iommu/io_pgtable.h"

namespace modiommu::iommu::arm_lpae {

// Descriptor bits, DDI 0487 D8.3 (stage 1 and stage 2 share the layout).
inline constexpr uint64_t kValid = uint64_t{1} << 0;
inline constexpr uint64_t kTypeTable = uint64_t{1} << 1;  // levels 0-2: table, not block; level 3: page
inline constexpr unsigned kAttrIndxShift = 2;             // stage 1 AttrIndx[2:0], bits [4:2]
inline constexpr unsigned kMemAttrShift = 2;              // stage 2 MemAttr[3:0], bits [5:2]
inline constexpr uint64_t kApUnpriv = uint64_t{1} << 6;   // stage 1 AP[1]: EL0 may access
inline constexpr uint64_t kApRdonly = uint64_t{1} << 7;   // stage 1 AP[2]: read-only
inline constexpr uint64_t kS2apRead = uint64_t{1} << 6;   // stage 2 S2AP[0]
inline constexpr uint64_t kS2apWrite = uint64_t{1} << 7;  // stage 2 S2AP[1]
inline constexpr unsigned kShShift = 8;
inline constexpr uint64_t kShOuter = 2;
inline constexpr uint64_t kShInner = 3;
inline constexpr uint64_t kAf = uint64_t{1} << 10;
inline constexpr uint64_t kNg = uint64_t{1} << 11;
inline constexpr uint64_t kXn = uint64_t{1} << 54;
// Stage 2 MemAttr encodings (D8.6.5): Device-nGnRE, Normal NC, Normal WB.
inline constexpr uint64_t kS2MemAttrDevice = 0x1;
inline constexpr uint64_t kS2MemAttrNc = 0x5;
inline constexpr uint64_t kS2MemAttrWb = 0xf;
// MAIR_EL1 attribute bytes for kMairIdx* (D19.2 MAIR_EL1).
inline constexpr uint64_t kMairNc = 0x44;
inline constexpr uint64_t kMairCache = 0xff;
inline constexpr uint64_t kMairDevice = 0x04;

// Where each level sits for one granule and input size. Levels are numbered
// as in VMSAv8-64: a walk starts at start_level and ends at level 3 at the
// latest; the top table has pgd_bits index bits (stage 2 may concatenate up
// to 16 tables there, D8.2.7).
struct MODIOMMU_API Geometry {
  unsigned pg_shift = 12;
  unsigned bits_per_level = 9;
  unsigned start_level = 0;
  unsigned pgd_bits = 9;

  unsigned level_shift(unsigned lvl) const { return pg_shift + (3 - lvl) * bits_per_level; }
  unsigned table_bits(unsigned lvl) const { return lvl == start_level ? pgd_bits : bits_per_level; }
  uint64_t entries(unsigned lvl) const { return uint64_t{1} << table_bits(lvl); }
  uint64_t index(uint64_t iova, unsigned lvl) const { return (iova >> level_shift(lvl)) & (entries(lvl) - 1); }
  uint64_t table_bytes(unsigned lvl) const { return entries(lvl) * 8; }
};

// EINVAL naming the field when the combination is not supported.
MODIOMMU_API Result<Geometry> geometry(PgtableFormat fmt, Granule granule, unsigned ias);
// Leaf descriptor attribute bits (no address, no valid/type bits) for prot.
MODIOMMU_API uint64_t prot_to_pte(PgtableFormat fmt, int prot);
// Block/page sizes the granule supports without FEAT_LPA/LPA2 (D8.2.6).
MODIOMMU_API uint64_t pgsize_bitmap(Granule granule);
MODIOMMU_API unsigned granule_shift(Granule g);
// TCR.TG0 / VTCR.TG0 encoding of the granule.
MODIOMMU_API unsigned tg_encoding(Granule g);
// TCR.IPS / VTCR.PS encoding of an output size; EINVAL for other sizes.
MODIOMMU_API Result<unsigned> ps_encoding(unsigned oas);
// VTCR.SL0 encoding of a stage-2 start level.
MODIOMMU_API unsigned sl0_encoding(Granule g, unsigned start_level);

Result<std::unique_ptr<IoPgtable>> alloc(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages);

}  // namespace modiommu::iommu::arm_lpae
