// ARMv7 short-descriptor translation table walker (ARM DDI 0406C B3.5,
// "Short-descriptor translation table format"), for the MediaTek M4U model
// and for cross-checking the arm_v7s io-pgtable.
//
// Supported: level-1 tables with 2^(input_bits-20) entries (4096 for a
// 32-bit input; MediaTek's 34-bit IOVA gives 16384), sections,
// supersections, level-2 tables, small and large pages; AP[2] read-only
// checking; the MediaTek extensions (PA bits 32-34 in descriptor bits
// 9/4/5 for leaves and, with table_ext, for level-2 table pointers).
// Not supported: domains and DACR (every access is a client access), the
// access flag (AP[0] is not checked), TEX remap, supersection PA[39:32] in
// the ARM layout, TTBR1. Stateless and thread-safe: each call only reads
// memory.
#pragma once

#include <cstdint>

#include "base/api.h"
#include "hw/arm/vmsa_walk.h"
#include "hw/memory.h"

namespace modiommu::hw::arm {

struct V7sWalkConfig {
  uint64_t ttb = 0;          // level-1 table base (PA), aligned to its size
  unsigned input_bits = 32;  // 32..34
  bool mtk_ext = false;      // MediaTek: leaf PA bits 32-34; no AP checking (all read/write)
  bool mtk_table_ext = false;  // MediaTek: level-2 table pointers carry PA bits 32-34 too
};

// level: 1 or 2. block_size: 4 KiB, 64 KiB, 1 MiB or 16 MiB.
MODIOMMU_API WalkResult v7s_walk(const PhysicalMemory& mem, const V7sWalkConfig& cfg, uint64_t iova, Access access);

}  // namespace modiommu::hw::arm
