// ARM SMMU v1/v2 registers as the driver uses them (ARM IHI 0062D chapters
// 9-10): GR0 is register page 0, GR1 page 1, context bank n is page n of
// the upper half of the SMMU's address space (IHI 0062 8.1).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::arm_smmu {

// GR0 (10.6).
inline constexpr uint32_t sCR0 = 0x000, IDR0 = 0x020, IDR1 = 0x024, IDR2 = 0x028, IDR7 = 0x03c;
inline constexpr uint32_t sGFAR = 0x040, sGFSR = 0x048, sGFSYNR0 = 0x050, sGFSYNR1 = 0x054;
inline constexpr uint32_t TLBIVMID = 0x064, TLBIALLNSNH = 0x068, TLBIALLH = 0x06c, TLBGSYNC = 0x070,
                          TLBGSTATUS = 0x074;
inline constexpr uint32_t SMR_BASE = 0x800, S2CR_BASE = 0xc00;

// sCR0 (10.6.1).
inline constexpr uint32_t sCR0_CLIENTPD = 1u << 0, sCR0_GFRE = 1u << 1, sCR0_GFIE = 1u << 2,
                          sCR0_EXIDENABLE = 1u << 3, sCR0_GCFGFRE = 1u << 4, sCR0_GCFGFIE = 1u << 5,
                          sCR0_USFCFG = 1u << 10;
// IDR0 (10.6.3).
namespace idr0 {
using NUMSMRG = Bits32<7, 0>;
using EXIDS = Bit32<8>;
using NUMSIDB = Bits32<12, 9>;
using NUMIRPT = Bits32<23, 16>;
using SMS = Bit32<27>;
using S2TS = Bit32<29>;
using S1TS = Bit32<30>;
}  // namespace idr0
// IDR1 (10.6.4).
namespace idr1 {
using NUMCB = Bits32<7, 0>;
using NUMPAGENDXB = Bits32<30, 28>;
using PAGESIZE = Bit32<31>;
}  // namespace idr1
// IDR2 (10.6.5).
namespace idr2 {
using IAS = Bits32<3, 0>;
using OAS = Bits32<7, 4>;
using PTFS_4K = Bit32<12>;
}  // namespace idr2
// IDR7 (10.6.10): MAJOR [7:4].
using IDR7_MAJOR = Bits32<7, 4>;
// sGFSYNR1 (10.6.18), CBFRSYNRA (10.7.2): the stream ID [15:0].
using STREAMID = Bits32<15, 0>;
// sGFSR (10.6.15).
inline constexpr uint32_t sGFSR_ICF = 1u << 0, sGFSR_USF = 1u << 1, sGFSR_SMCF = 1u << 2, sGFSR_UCBF = 1u << 3,
                          sGFSR_UCIF = 1u << 4, sGFSR_CAF = 1u << 5, sGFSR_EF = 1u << 6, sGFSR_PF = 1u << 7,
                          sGFSR_MULTI = 1u << 31;
inline constexpr uint32_t TLBGSTATUS_GSACTIVE = 1u << 0;

// SMR (10.6.23) and S2CR (10.6.22).
// SMR: ID and MASK 15 bits each (16 with extended stream IDs, validity then
// in S2CR.EXIDVALID); the widest form here, the implemented bits probed.
inline constexpr uint32_t SMR_VALID = 1u << 31;
namespace smr {
using ID = Bits32<15, 0>;
using MASK = Bits32<31, 16>;
}  // namespace smr
namespace s2cr {
using CBNDX = Bits32<7, 0>;
using TYPE = Bits32<17, 16>;
}  // namespace s2cr
inline constexpr uint32_t S2CR_TYPE_TRANS = 0, S2CR_TYPE_BYPASS = 1, S2CR_TYPE_FAULT = 2;
inline constexpr uint32_t S2CR_EXIDVALID = 1u << 10;

// GR1 (10.7).
inline constexpr uint32_t CBAR_BASE = 0x000, CBFRSYNRA_BASE = 0x400, CBA2R_BASE = 0x800;
// CBAR (10.7.1).
namespace cbar {
using VMID = Bits32<7, 0>;
using TYPE = Bits32<17, 16>;
using IRPTNDX = Bits32<31, 24>;
}  // namespace cbar
inline constexpr uint32_t CBAR_TYPE_S1_S2BYPASS = 1;
inline constexpr uint32_t CBA2R_VA64 = 1u << 0;

// Context bank (10.8, 10.9).
inline constexpr uint32_t CB_SCTLR = 0x000, CB_TCR2 = 0x010, CB_TTBR0 = 0x020, CB_TTBR1 = 0x028, CB_TCR = 0x030,
                          CB_CONTEXTIDR = 0x034, CB_MAIR0 = 0x038, CB_MAIR1 = 0x03c, CB_FSR = 0x058,
                          CB_FAR = 0x060, CB_FSYNR0 = 0x068, CB_TLBIVA = 0x600, CB_TLBIASID = 0x610,
                          CB_TLBIALL = 0x618, CB_TLBIVAL = 0x620, CB_TLBSYNC = 0x7f0, CB_TLBSTATUS = 0x7f4;
inline constexpr uint32_t SCTLR_M = 1u << 0, SCTLR_TRE = 1u << 1, SCTLR_AFE = 1u << 2, SCTLR_CFRE = 1u << 5,
                          SCTLR_CFIE = 1u << 6;
inline constexpr uint32_t FSR_TF = 1u << 1, FSR_AFF = 1u << 2, FSR_PF = 1u << 3, FSR_EF = 1u << 4,
                          FSR_TLBMCF = 1u << 5, FSR_TLBLKF = 1u << 6, FSR_ASF = 1u << 7, FSR_UUT = 1u << 8,
                          FSR_SS = 1u << 30, FSR_MULTI = 1u << 31;
inline constexpr uint32_t FSR_FAULT = FSR_TF | FSR_AFF | FSR_PF | FSR_EF | FSR_TLBMCF | FSR_TLBLKF | FSR_ASF |
                                      FSR_UUT | FSR_SS | FSR_MULTI;
inline constexpr uint32_t FSYNR0_WNR = 1u << 4;
inline constexpr uint32_t TLBSTATUS_SACTIVE = 1u << 0;
// TCR (AArch64 TCR_EL1 layout for VA64 banks; TTBCR with EAE for AArch32 LPAE).
inline constexpr uint32_t TCR_EPD1 = 1u << 23, TCR_EAE = 1u << 31;
namespace cb_tcr {
using T0SZ = Bits32<5, 0>;
using T0SZ_32 = Bits32<2, 0>;  // AArch32 TTBCR
using IRGN0 = Bits32<9, 8>;
using ORGN0 = Bits32<11, 10>;
using SH0 = Bits32<13, 12>;
using TG0 = Bits32<15, 14>;
}  // namespace cb_tcr
// TCR2: PASIZE [2:0]; AS [4] = 0 keeps 8-bit ASIDs.
using TCR2_PASIZE = Bits32<2, 0>;
// TTBRn: ASID [63:48]. TLBIVA*: VA[55:12] in [43:0], ASID [63:48].
using TTBR_ASID = Bits<63, 48>;
using TLBIVA_VA = Bits<43, 0>;
using TLBIVA_ASID = Bits<63, 48>;

}  // namespace modiommu::arm_smmu
