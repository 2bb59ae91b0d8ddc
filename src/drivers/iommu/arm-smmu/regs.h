// ARM SMMU v1/v2 registers as the driver uses them (ARM IHI 0062D chapters
// 9-10): GR0 is register page 0, GR1 page 1, context bank n is page n of
// the upper half of the SMMU's address space (IHI 0062 8.1).
#pragma once

#include <cstdint>

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
inline constexpr uint32_t IDR0_S1TS = 1u << 30, IDR0_S2TS = 1u << 29, IDR0_SMS = 1u << 27, IDR0_EXIDS = 1u << 8;
inline constexpr unsigned IDR0_NUMIRPT_SHIFT = 16, IDR0_NUMSIDB_SHIFT = 9;
// IDR1 (10.6.4).
inline constexpr uint32_t IDR1_PAGESIZE = 1u << 31;
inline constexpr unsigned IDR1_NUMPAGENDXB_SHIFT = 28;
// IDR2 (10.6.5).
inline constexpr uint32_t IDR2_PTFS_4K = 1u << 12;
// sGFSR (10.6.15).
inline constexpr uint32_t sGFSR_ICF = 1u << 0, sGFSR_USF = 1u << 1, sGFSR_SMCF = 1u << 2, sGFSR_UCBF = 1u << 3,
                          sGFSR_UCIF = 1u << 4, sGFSR_CAF = 1u << 5, sGFSR_EF = 1u << 6, sGFSR_PF = 1u << 7,
                          sGFSR_MULTI = 1u << 31;
inline constexpr uint32_t TLBGSTATUS_GSACTIVE = 1u << 0;

// SMR (10.6.23) and S2CR (10.6.22).
inline constexpr uint32_t SMR_VALID = 1u << 31;
inline constexpr unsigned SMR_MASK_SHIFT = 16;
inline constexpr uint32_t S2CR_TYPE_TRANS = 0, S2CR_TYPE_BYPASS = 1, S2CR_TYPE_FAULT = 2;
inline constexpr unsigned S2CR_TYPE_SHIFT = 16;
inline constexpr uint32_t S2CR_EXIDVALID = 1u << 10;

// GR1 (10.7).
inline constexpr uint32_t CBAR_BASE = 0x000, CBFRSYNRA_BASE = 0x400, CBA2R_BASE = 0x800;
inline constexpr uint32_t CBAR_TYPE_S1_S2BYPASS = 1;
inline constexpr unsigned CBAR_TYPE_SHIFT = 16, CBAR_IRPTNDX_SHIFT = 24;
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

}  // namespace modiommu::arm_smmu
