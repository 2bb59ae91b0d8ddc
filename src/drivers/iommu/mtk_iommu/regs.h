// The M4U and SMI larb registers this driver programs (Linux mtk_iommu.c and
// mtk-smi.c names). Shared with nothing: the driver sees only the driver API.
#pragma once

#include <cstdint>

namespace modiommu::mtk_iommu {

inline constexpr uint64_t kBankSize = 0x1000;  // MTK_IOMMU_BANK_SZ
inline constexpr unsigned kMaxBanks = 5;       // MTK_IOMMU_BANK_MAX
inline constexpr unsigned kLarbMax = 32;       // MTK_LARB_NR_MAX

inline constexpr uint64_t REG_MMU_PT_BASE_ADDR = 0x000;
inline constexpr uint64_t REG_MMU_INVALIDATE = 0x020;
inline constexpr uint32_t F_MMU_INV_RANGE = 0x1;
inline constexpr uint32_t F_ALL_INVLD = 0x2;
inline constexpr uint64_t REG_MMU_INVLD_START_A = 0x024;
inline constexpr uint64_t REG_MMU_INVLD_END_A = 0x028;
inline constexpr uint64_t REG_MMU_INV_SEL_GEN2 = 0x02c;
inline constexpr uint64_t REG_MMU_INV_SEL_GEN1 = 0x038;
inline constexpr uint32_t F_INVLD_EN0 = 1u << 0, F_INVLD_EN1 = 1u << 1;
inline constexpr uint64_t REG_MMU_MISC_CTRL = 0x048;
inline constexpr uint32_t F_MMU_IN_ORDER_WR_EN_MASK = (1u << 1) | (1u << 17);
inline constexpr uint32_t F_MMU_STANDARD_AXI_MODE_MASK = (1u << 3) | (1u << 19);
inline constexpr uint64_t REG_MMU_DCM_DIS = 0x050;
inline constexpr uint64_t REG_MMU_WR_LEN_CTRL = 0x054;
inline constexpr uint32_t F_MMU_WR_THROT_DIS_MASK = (1u << 5) | (1u << 21);
inline constexpr uint64_t REG_MMU_CTRL_REG = 0x110;
inline constexpr uint32_t F_MMU_TF_PROT_TO_PROGRAM_ADDR = 2u << 4;
inline constexpr uint32_t F_MMU_PREFETCH_RT_REPLACE_MOD = 1u << 4;
inline constexpr uint32_t F_MMU_TF_PROT_TO_PROGRAM_ADDR_MT8173 = 2u << 5;
inline constexpr uint64_t REG_MMU_IVRP_PADDR = 0x114;
inline constexpr uint64_t REG_MMU_INT_CONTROL0 = 0x120;
inline constexpr uint32_t F_INT_CONTROL0_ENABLES = 0x6f;  // multi-hit, walk fault, FIFO overflow/error
inline constexpr uint32_t F_INT_CLR_BIT = 1u << 12;
inline constexpr uint64_t REG_MMU_INT_MAIN_CONTROL = 0x124;
inline constexpr uint32_t F_INT_MAIN_ENABLES = 0x3fff;  // every mmu0/mmu1 fault
inline constexpr uint64_t REG_MMU_CPE_DONE = 0x12c;
inline constexpr uint64_t REG_MMU_FAULT_ST1 = 0x134;
inline constexpr uint32_t F_REG_MMU0_FAULT_MASK = 0x7f;
inline constexpr uint64_t REG_MMU0_FAULT_VA = 0x13c, REG_MMU0_INVLD_PA = 0x140;
inline constexpr uint64_t REG_MMU1_FAULT_VA = 0x144, REG_MMU1_INVLD_PA = 0x148;
inline constexpr uint64_t REG_MMU0_INT_ID = 0x150, REG_MMU1_INT_ID = 0x154;
inline constexpr uint32_t F_MMU_FAULT_VA_WRITE_BIT = 1u << 1;
inline constexpr uint32_t F_MMU_FAULT_VA_LAYER_BIT = 1u << 0;

// SMI larb (mtk-smi.c).
inline constexpr uint64_t SMI_LARB_MMU_EN_MT8173 = 0xf00;
inline constexpr uint64_t SMI_LARB_MMU_EN_MT8167 = 0xfc0;
inline constexpr uint64_t SMI_LARB_NONSEC_CON_BASE = 0x380;
inline constexpr uint32_t F_MMU_EN = 1u << 0;

// dt-bindings/memory/mtk-memory-port.h.
inline constexpr unsigned m4u_to_larb(uint32_t id) { return (id >> 5) & 0x3f; }
inline constexpr unsigned m4u_to_port(uint32_t id) { return id & 0x1f; }
inline constexpr uint32_t m4u_id(unsigned larb, unsigned port) { return (larb << 5) | port; }

}  // namespace modiommu::mtk_iommu
