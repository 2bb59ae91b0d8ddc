// IPMMU-VMSA registers as the driver uses them (Linux ipmmu-vmsa.c register
// definitions; R-Car Gen2/Gen3 hardware manuals). Offsets are from the
// instance's register base (Gen2 adds the non-secure alias, see Features).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::ipmmu {

// Context registers (per context, at ctx_reg()).
inline constexpr uint32_t IMCTR = 0x00, IMTTBCR = 0x08, IMBUSCR = 0x0c, IMTTLBR0 = 0x10, IMTTUBR0 = 0x14,
                          IMSTR = 0x20, IMMAIR0 = 0x28, IMELAR = 0x30, IMEUAR = 0x34;
inline constexpr uint32_t IMCTR_MMUEN = 1u << 0, IMCTR_FLUSH = 1u << 1, IMCTR_INTEN = 1u << 2;
inline constexpr uint32_t IMTTBCR_EAE = 1u << 31;
// Gen2: SH0 inner shareable, ORGN0/IRGN0 write-back write-allocate (cache_snoop).
inline constexpr uint32_t IMTTBCR_SH0_INNER_SHAREABLE = 3u << 12, IMTTBCR_ORGN0_WB_WA = 1u << 10,
                          IMTTBCR_IRGN0_WB_WA = 1u << 8;
inline constexpr uint32_t IMTTBCR_SL0_TWOBIT_LVL_1 = 2u << 6;  // Gen3/Gen4
inline constexpr uint32_t IMTTBCR_SL0_LVL_1 = 1u << 4;         // Gen2
inline constexpr uint32_t IMBUSCR_DVM = 1u << 2, IMBUSCR_BUSSEL_MASK = 3u;
inline constexpr uint32_t IMSTR_TF = 1u << 0, IMSTR_PF = 1u << 1, IMSTR_ABORT = 1u << 2, IMSTR_MHIT = 1u << 4;
inline constexpr uint32_t IMSTR_ERR = IMSTR_TF | IMSTR_PF | IMSTR_ABORT | IMSTR_MHIT;

// Micro-TLB registers: IMUCTR0(n)/IMUASID0(n) below 32, IMUCTR32(n) from 32.
inline constexpr uint32_t imuctr(unsigned n) { return n < 32 ? 0x300 + n * 16 : 0x600 + (n - 32) * 16; }
inline constexpr uint32_t imuasid(unsigned n) { return imuctr(n) + 8; }
inline constexpr uint32_t IMUCTR_MMUEN = 1u << 0, IMUCTR_FLUSH = 1u << 1;
using IMUCTR_TTSEL = Bits32<7, 4>;

}  // namespace modiommu::ipmmu
