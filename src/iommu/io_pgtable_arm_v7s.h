// ARMv7 short-descriptor io-pgtable (Linux io-pgtable-arm-v7s.c's format,
// ARM DDI 0406C B3.5 "Short-descriptor translation table format"), as the
// MediaTek M4U walks it. Internal to iommu/ and its tests; drivers use
// io_pgtable.h (PgtableFormat::arm_v7s).
#pragma once

#include <cstdint>
#include <memory>

#include "base/api.h"
#include "base/result.h"
#include "iommu/io_pgtable.h"

namespace modiommu::iommu::arm_v7s {

// Descriptor type bits [1:0] (DDI 0406C B3.5.1).
inline constexpr uint32_t kTypeMask = 0x3;
inline constexpr uint32_t kL1Table = 0x1;    // level 1: pointer to a level-2 table
inline constexpr uint32_t kL1Section = 0x2;  // level 1: section / supersection
inline constexpr uint32_t kL2Large = 0x1;    // level 2: 64 KiB large page (16 copies)
inline constexpr uint32_t kL2Small = 0x2;    // level 2: 4 KiB small page (bit 0 is XN)
inline constexpr uint32_t kSuper = 1u << 18;       // level 1 section: supersection (16 copies)
inline constexpr uint32_t kNsTable = 1u << 3;      // level 1 table: NS
inline constexpr uint32_t kNsSection = 1u << 19;   // level 1 section: NS
// Access permissions and memory attributes before the per-level shift
// (Linux ARM_V7S_ATTR_SHIFT: 10 at level 1, 4 at level 2).
inline constexpr uint32_t kAp0 = 1u << 0;  // AF with the simplified model
inline constexpr uint32_t kAp1 = 1u << 1;  // unprivileged access
inline constexpr uint32_t kAp2 = 1u << 5;  // read-only
inline constexpr uint32_t kS = 1u << 6;
inline constexpr uint32_t kNg = 1u << 7;
inline constexpr unsigned kTexShift = 2;
inline constexpr uint32_t kB = 1u << 2;  // not shifted
inline constexpr uint32_t kC = 1u << 3;  // not shifted
inline constexpr unsigned attr_shift(unsigned lvl) { return 16 - lvl * 6; }
// MediaTek: PA bits 32, 33, 34 (Linux ARM_V7S_ATTR_MTK_PA_BIT32/33/34).
inline constexpr uint32_t kMtkPa32 = 1u << 9;
inline constexpr uint32_t kMtkPa33 = 1u << 4;
inline constexpr uint32_t kMtkPa34 = 1u << 5;

inline constexpr uint64_t kSmall = uint64_t{1} << 12, kLarge = uint64_t{1} << 16;
inline constexpr uint64_t kSection = uint64_t{1} << 20, kSupersection = uint64_t{1} << 24;
inline constexpr unsigned kContEntries = 16;  // copies of a large page / supersection
inline constexpr unsigned kL2Entries = 256;   // a level-2 table: 1 KiB
inline constexpr uint64_t kL2TableBytes = kL2Entries * 4;

// The MediaTek PA extension of a 32-bit descriptor, both ways.
MODIOMMU_API uint32_t mtk_pa_bits(uint64_t pa);
MODIOMMU_API uint64_t mtk_pa_of(uint32_t pte);

Result<std::unique_ptr<IoPgtable>> alloc(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages);

}  // namespace modiommu::iommu::arm_v7s
