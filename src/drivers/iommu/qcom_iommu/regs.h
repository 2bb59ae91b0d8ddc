// Context bank registers as qcom_iommu programs them: ARM IHI 0062 (SMMUv2)
// 10.8/10.9, the same offsets Linux's arm-smmu.h gives and qcom_iommu.c
// uses. A driver sees no hw/ header, so the few it needs are here.
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::qcom_iommu {

inline constexpr uint32_t CB_SCTLR = 0x000, CB_RESUME = 0x008, CB_TCR2 = 0x010, CB_TTBR0 = 0x020, CB_TTBR1 = 0x028,
                          CB_TCR = 0x030, CB_CONTEXTIDR = 0x034, CB_MAIR0 = 0x038, CB_MAIR1 = 0x03c, CB_FSR = 0x058,
                          CB_FAR = 0x060, CB_FSYNR0 = 0x068, CB_TLBIVA = 0x600, CB_TLBIASID = 0x610,
                          CB_TLBIVAL = 0x620, CB_TLBSYNC = 0x7f0, CB_TLBSTATUS = 0x7f4;
// SCTLR: M [0], TRE [1], AFE [2], CFRE [5], CFIE [6], CFCFG [7], ASIDPNE [12].
inline constexpr uint32_t SCTLR_M = 1u << 0, SCTLR_TRE = 1u << 1, SCTLR_AFE = 1u << 2, SCTLR_CFRE = 1u << 5,
                          SCTLR_CFIE = 1u << 6, SCTLR_CFCFG = 1u << 7, SCTLR_ASIDPNE = 1u << 12;
// FSR: TF [1], AFF [2], PF [3], EF [4], ASF [7], MULTI [31]; write 1 to clear.
inline constexpr uint32_t FSR_TF = 1u << 1, FSR_AFF = 1u << 2, FSR_PF = 1u << 3, FSR_EF = 1u << 4, FSR_ASF = 1u << 7,
                          FSR_MULTI = 1u << 31;
inline constexpr uint32_t FSR_FAULT = FSR_TF | FSR_AFF | FSR_PF | FSR_EF | FSR_ASF | FSR_MULTI;
inline constexpr uint32_t FSYNR0_WNR = 1u << 4;
inline constexpr uint32_t RESUME_TERMINATE = 1u << 0;
inline constexpr uint32_t TLBSTATUS_SACTIVE = 1u << 0;
// TCR (AArch32 long-descriptor TTBCR as Linux arm_smmu_lpae_tcr writes it):
// T0SZ [5:0] = 64 - 32 (its low three bits, the TTBCR field, are 0: the
// whole 32-bit space through TTBR0), EAE [31].
using TCR_T0SZ = Bits32<5, 0>;
inline constexpr uint32_t TCR_EAE = 1u << 31;
// TCR2: PASIZE [2:0] (2: 40 bits).
using TCR2_PASIZE = Bits32<2, 0>;
inline constexpr uint32_t PASIZE_40 = 2;
// TTBRn: ASID [63:48].
using TTBR_ASID = Bits<63, 48>;

// The local window (Linux qcom_iommu.c SMMU_INTR_SEL_NS).
inline constexpr uint32_t SMMU_INTR_SEL_NS = 0x2000;

}  // namespace modiommu::qcom_iommu
