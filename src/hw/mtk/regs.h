// MediaTek M4U (multimedia IOMMU) and SMI larb register offsets and fields,
// as Linux's drivers/iommu/mtk_iommu.c and drivers/memory/mtk-smi.c program
// them (MediaTek publishes no register manual for these blocks). Offsets are
// within one bank (MTK_IOMMU_BANK_SZ = 0x1000); bank 0 also holds the
// global controls.
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::hw::mtk {

inline constexpr uint64_t kBankSize = 0x1000;
inline constexpr unsigned kMaxBanks = 5;  // Linux MTK_IOMMU_BANK_MAX

inline constexpr uint64_t MMU_PT_BASE_ADDR = 0x000;
inline constexpr uint64_t MMU_INVALIDATE = 0x020;
inline constexpr uint64_t MMU_INVLD_START_A = 0x024;
inline constexpr uint64_t MMU_INVLD_END_A = 0x028;
inline constexpr uint64_t MMU_INV_SEL_GEN2 = 0x02c;
inline constexpr uint64_t MMU_INV_SEL_GEN1 = 0x038;
inline constexpr uint64_t MMU_MISC_CTRL = 0x048;
inline constexpr uint64_t MMU_DCM_DIS = 0x050;
inline constexpr uint64_t MMU_WR_LEN_CTRL = 0x054;
inline constexpr uint64_t MMU_CTRL_REG = 0x110;
inline constexpr uint64_t MMU_IVRP_PADDR = 0x114;
inline constexpr uint64_t MMU_VLD_PA_RNG = 0x118;
inline constexpr uint64_t MMU_INT_CONTROL0 = 0x120;
inline constexpr uint64_t MMU_INT_MAIN_CONTROL = 0x124;
inline constexpr uint64_t MMU_CPE_DONE = 0x12c;
inline constexpr uint64_t MMU_FAULT_ST1 = 0x134;
inline constexpr uint64_t MMU0_FAULT_VA = 0x13c;
inline constexpr uint64_t MMU0_INVLD_PA = 0x140;
inline constexpr uint64_t MMU1_FAULT_VA = 0x144;
inline constexpr uint64_t MMU1_INVLD_PA = 0x148;
inline constexpr uint64_t MMU0_INT_ID = 0x150;
inline constexpr uint64_t MMU1_INT_ID = 0x154;

// MMU_INVALIDATE.
inline constexpr uint32_t F_MMU_INV_RANGE = 1u << 0;
inline constexpr uint32_t F_ALL_INVLD = 1u << 1;
// MMU_INV_SEL: which of the two TLBs (mmu0/mmu1) maintenance reaches.
inline constexpr uint32_t F_INVLD_EN0 = 1u << 0, F_INVLD_EN1 = 1u << 1;
// MMU_INVLD_START_A / END_A: IOVA[31:12] in [31:12], IOVA[34:32] in [2:0]
// (Linux MTK_IOMMU_TLB_ADDR).
using INVLD_VA_31_12 = Bits32<31, 12>;
using INVLD_VA_34_32 = Bits32<2, 0>;
// MMU_PT_BASE_ADDR: table PA[31:7], PA[34:32] in [2:0] (the MediaTek TTBR).
using PT_ADDR_31_7 = Bits32<31, 7>;
using PT_ADDR_34_32 = Bits32<2, 0>;
// MMU_INT_CONTROL0.
inline constexpr uint32_t F_TABLE_WALK_FAULT_INT_EN = 1u << 1;
inline constexpr uint32_t F_INT_CLR_BIT = 1u << 12;
// MMU_INT_MAIN_CONTROL / MMU_FAULT_ST1: mmu0 faults in [6:0], mmu1 in [13:7].
inline constexpr uint32_t F_INT_TRANSLATION_FAULT_MMU0 = 1u << 0;
inline constexpr uint32_t F_INT_INVALID_PA_FAULT_MMU0 = 1u << 2;
inline constexpr uint32_t F_REG_MMU0_FAULT_MASK = 0x7f;
// MMU0_FAULT_VA.
inline constexpr uint32_t F_MMU_FAULT_VA_LAYER_BIT = 1u << 0;
inline constexpr uint32_t F_MMU_FAULT_VA_WRITE_BIT = 1u << 1;
using FAULT_PA_34_32 = Bits32<8, 6>;
using FAULT_VA_34_32 = Bits32<11, 9>;
// MMU0_INT_ID (default layout): the larb's SMI common port in [9:7], the
// larb port in [6:2] (Linux F_MMU_INT_ID_LARB_ID / F_MMU_INT_ID_PORT_ID).
using INT_ID_LARB = Bits32<9, 7>;
using INT_ID_PORT = Bits32<6, 2>;
// MMU_VLD_PA_RNG: valid PA[32:30] window, end in [15:8], start in [7:0].

// SMI larb (Linux mtk-smi.c): per-port "go through the M4U" enables.
inline constexpr uint64_t SMI_LARB_MMU_EN_MT8173 = 0xf00;  // one bit per port
inline constexpr uint64_t SMI_LARB_MMU_EN_MT8167 = 0xfc0;  // one bit per port
inline constexpr uint64_t SMI_LARB_NONSEC_CON_BASE = 0x380;  // SMI_LARB_NONSEC_CON(port) = base + 4 * port
inline constexpr uint32_t F_MMU_EN = 1u << 0;              // in SMI_LARB_NONSEC_CON

}  // namespace modiommu::hw::mtk
