// Renesas IPMMU-VMSA register map as the model decodes it. Offsets and
// fields: Linux drivers/iommu/ipmmu-vmsa.c (the register definitions and
// ipmmu_features_{default,rcar_gen3,rcar_gen4}); the R-Car Gen2/Gen3
// hardware manuals name the same registers (IMCTR, IMTTBCR, ...).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::hw::ipmmu {

// Per-context registers, at the context's offset (ctx_offset() below).
inline constexpr uint64_t IMCTR = 0x00, IMTTBCR = 0x08, IMBUSCR = 0x0c, IMTTLBR0 = 0x10, IMTTUBR0 = 0x14,
                          IMSTR = 0x20, IMMAIR0 = 0x28, IMELAR = 0x30, IMEUAR = 0x34;
inline constexpr uint64_t kContextSpan = 0x40;  // registers of one context

// IMCTR: MMUEN [0], FLUSH [1] (TLB flush, reads 1 until done), INTEN [2].
inline constexpr uint32_t IMCTR_MMUEN = 1u << 0, IMCTR_FLUSH = 1u << 1, IMCTR_INTEN = 1u << 2;
// IMTTBCR: EAE [31] long descriptors; TSZ0 [2:0] (input 32 - TSZ0 bits);
// SL0 [5:4] on Gen2 (1 = start at level 1), [7:6] on Gen3/Gen4 (2 = level 1).
inline constexpr uint32_t IMTTBCR_EAE = 1u << 31;
namespace imttbcr {
using TSZ0 = Bits32<2, 0>;
using SL0_GEN2 = Bits32<5, 4>;
using SL0_TWOBIT = Bits32<7, 6>;
}  // namespace imttbcr
inline constexpr uint32_t SL0_GEN2_LVL1 = 1, SL0_TWOBIT_LVL1 = 2;
// IMSTR: TF [0], PF [1], ABORT [2] (walk abort), MHIT [4]. Cleared by
// writing 0 (Linux ipmmu_domain_irq: "this status register seems to
// require 0"): a write keeps only the bits written as 1.
inline constexpr uint32_t IMSTR_TF = 1u << 0, IMSTR_PF = 1u << 1, IMSTR_ABORT = 1u << 2, IMSTR_MHIT = 1u << 4;
inline constexpr uint32_t IMSTR_ERR = IMSTR_TF | IMSTR_PF | IMSTR_ABORT | IMSTR_MHIT;

// Micro-TLB registers, at utlb_offset() below: IMUCTR(n), IMUASID(n) = +8.
inline constexpr uint64_t IMUCTR = 0x0, IMUASID = 0x8;
// IMUCTR: MMUEN [0], FLUSH [1], TTSEL [7:4] (the root context it uses).
inline constexpr uint32_t IMUCTR_MMUEN = 1u << 0, IMUCTR_FLUSH = 1u << 1;
using IMUCTR_TTSEL = Bits32<7, 4>;

// Where the families put the register groups (Linux ipmmu_features_*:
// ctx_offset_base, ctx_offset_stride, utlb_offset_base; ipmmu_ctx_reg():
// contexts 8..15 sit 0x800 - 8 * 0x40 further up).
struct Layout {
  uint64_t alias = 0;        // Gen2: the non-secure bank at +0x800 (IM_NS_ALIAS_OFFSET)
  uint64_t ctx_base = 0;     // ctx_offset_base
  uint64_t ctx_stride = 0x40;
  uint64_t utlb_base = 0;    // utlb_offset_base
  constexpr uint64_t ctx_offset(unsigned ctx) const {
    return alias + ctx_base + (ctx > 7 ? 0x800 - 8 * 0x40 : 0) + uint64_t{ctx} * ctx_stride;
  }
  // IMUCTR0(n) below 32, IMUCTR32(n) from 32 (Gen3 and later).
  constexpr uint64_t utlb_offset(unsigned n) const {
    return alias + utlb_base + (n < 32 ? 0x300 + uint64_t{n} * 16 : 0x600 + uint64_t{n - 32} * 16);
  }
};

}  // namespace modiommu::hw::ipmmu
