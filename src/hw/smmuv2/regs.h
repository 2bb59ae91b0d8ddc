// SMMUv2 register offsets and fields (ARM IHI 0062D, chapters 9-10). Offsets
// are within a register page: GR0 is page 0, GR1 page 1, context bank n is
// page n of the upper half of the SMMU address space (IHI 0062 8.1).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::hw::smmuv2 {

// GR0 (IHI 0062 10.6).
inline constexpr uint64_t SCR0 = 0x000;
inline constexpr uint64_t IDR0 = 0x020, IDR1 = 0x024, IDR2 = 0x028, IDR7 = 0x03c;
inline constexpr uint64_t SGFAR = 0x040, SGFSR = 0x048, SGFSRRESTORE = 0x04c, SGFSYNR0 = 0x050,
                          SGFSYNR1 = 0x054;
inline constexpr uint64_t TLBIVMID = 0x064, TLBIALLNSNH = 0x068, TLBIALLH = 0x06c, TLBGSYNC = 0x070,
                          TLBGSTATUS = 0x074;
inline constexpr uint64_t SMR_BASE = 0x800, S2CR_BASE = 0xc00;

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
using UBS = Bits32<11, 8>;
using PTFS_4K = Bit32<12>;
using PTFS_64K = Bit32<14>;
}  // namespace idr2

// sCR0 (10.6.1).
inline constexpr uint32_t SCR0_CLIENTPD = 1u << 0, SCR0_GFRE = 1u << 1, SCR0_GFIE = 1u << 2,
                          SCR0_EXIDENABLE = 1u << 3, SCR0_USFCFG = 1u << 10;

// sGFSR (10.6.15).
inline constexpr uint32_t SGFSR_ICF = 1u << 0, SGFSR_USF = 1u << 1, SGFSR_SMCF = 1u << 2,
                          SGFSR_UCBF = 1u << 3, SGFSR_MULTI = 1u << 31;
// sGFSYNR0 (10.6.17), sGFSYNR1 (10.6.18): the faulting stream ID [15:0].
inline constexpr uint32_t SGFSYNR0_WNR = 1u << 1;
using SGFSYNR1_STREAMID = Bits32<15, 0>;
// TLBIVMID (10.6.10), CB_TLBIASID (10.9): VMID / ASID [15:0].
using TLBI_VMID = Bits32<15, 0>;
using TLBI_ASID = Bits32<15, 0>;

// SMR (10.6.23): 15-bit ID/MASK; with sCR0.EXIDENABLE, 16-bit ID/MASK and
// validity in S2CR.EXIDVALID (IHI 0062D 2.4.1, extended stream IDs).
inline constexpr uint32_t SMR_VALID = 1u << 31;
namespace smr {
using ID = Bits32<14, 0>;
using MASK = Bits32<30, 16>;
using EXID = Bits32<15, 0>;    // sCR0.EXIDENABLE
using EXMASK = Bits32<31, 16>;
}  // namespace smr
// S2CR (10.6.22).
inline constexpr uint32_t S2CR_EXIDVALID = 1u << 10;
namespace s2cr {
using CBNDX = Bits32<7, 0>;
using TYPE = Bits32<17, 16>;
}  // namespace s2cr
enum S2crType : uint32_t { S2CR_TRANSLATE = 0, S2CR_BYPASS = 1, S2CR_FAULT = 2 };

// GR1 (10.7).
inline constexpr uint64_t CBAR_BASE = 0x000, CBFRSYNRA_BASE = 0x400, CBA2R_BASE = 0x800;
// CBAR (10.7.1), CBFRSYNRA (10.7.2).
namespace cbar {
using VMID = Bits32<7, 0>;
using TYPE = Bits32<17, 16>;
using IRPTNDX = Bits32<31, 24>;
}  // namespace cbar
enum CbarType : uint32_t { CBAR_S2 = 0, CBAR_S1_BYPASS = 1, CBAR_S1_FAULT = 2, CBAR_NESTED = 3 };
using CBFRSYNRA_SID = Bits32<15, 0>;
inline constexpr uint32_t CBA2R_VA64 = 1u << 0;

// Context bank (10.8 / 10.9).
inline constexpr uint64_t CB_SCTLR = 0x000, CB_TCR2 = 0x010, CB_TTBR0 = 0x020, CB_TTBR1 = 0x028,
                          CB_TCR = 0x030, CB_CONTEXTIDR = 0x034, CB_MAIR0 = 0x038, CB_MAIR1 = 0x03c,
                          CB_FSR = 0x058, CB_FSRRESTORE = 0x05c, CB_FAR = 0x060, CB_FSYNR0 = 0x068,
                          CB_FSYNR1 = 0x06c, CB_TLBIVA = 0x600, CB_TLBIVAA = 0x608, CB_TLBIASID = 0x610,
                          CB_TLBIALL = 0x618, CB_TLBIVAL = 0x620, CB_TLBIVAAL = 0x628, CB_TLBIIPAS2 = 0x630,
                          CB_TLBIIPAS2L = 0x638, CB_TLBSYNC = 0x7f0, CB_TLBSTATUS = 0x7f4;
inline constexpr uint32_t SCTLR_M = 1u << 0, SCTLR_CFRE = 1u << 5, SCTLR_CFIE = 1u << 6;
// FSR (10.9.12).
inline constexpr uint32_t FSR_TF = 1u << 1, FSR_AFF = 1u << 2, FSR_PF = 1u << 3, FSR_EF = 1u << 4,
                          FSR_ASF = 1u << 7, FSR_MULTI = 1u << 31;
inline constexpr uint32_t FSR_FAULT_MASK = FSR_TF | FSR_AFF | FSR_PF | FSR_EF | FSR_ASF;
inline constexpr uint32_t FSYNR0_WNR = 1u << 4;
inline constexpr uint32_t TCR_EAE = 1u << 31;  // AArch32 TTBCR: long-descriptor format
// CB_TCR (10.9.x, the VMSA TCR/VTCR layouts): T0SZ [5:0], EPD0 [7] (stage
// 1), SL0 [7:6] (stage 2), TG0 [15:14], PS [18:16] (stage 2); AArch32
// TTBCR.T0SZ [2:0]. CB_TCR2: PASIZE [2:0], AS [4] (16-bit ASIDs).
namespace tcr {
using T0SZ = Bits32<5, 0>;
using EPD0 = Bit32<7>;
using SL0 = Bits32<7, 6>;
using TG0 = Bits32<15, 14>;
using PS = Bits32<18, 16>;
using T0SZ_32 = Bits32<2, 0>;
}  // namespace tcr
namespace tcr2 {
using PASIZE = Bits32<2, 0>;
using AS = Bit32<4>;
}  // namespace tcr2
// CB_TTBRn: ASID [63:48], table address [47:0] here (48-bit PA at most).
using TTBR_ASID = Bits<63, 48>;
using TTBR_ADDR = Bits<47, 0>;
// CB_TLBIVA* (AArch64 format): VA[55:12] in [43:0], ASID [63:48].
using TLBIVA_VA = Bits<43, 0>;
using TLBIVA_ASID = Bits<63, 48>;
// CB_FSYNR0 (10.9.13): PLVL [1:0].
using FSYNR0_PLVL = Bits32<1, 0>;

}  // namespace modiommu::hw::smmuv2
