// sun50i IOMMU registers (Linux sun50i-iommu.c; H6 user manual, "IOMMU").
#pragma once

#include <cstdint>

namespace modiommu::sun50i_iommu {

inline constexpr uint32_t IOMMU_RESET_REG = 0x010;
inline constexpr uint32_t IOMMU_RESET_RELEASE_ALL = 0xffffffffu;
inline constexpr uint32_t IOMMU_ENABLE_REG = 0x020;
inline constexpr uint32_t IOMMU_ENABLE_ENABLE = 1u << 0;
inline constexpr uint32_t IOMMU_BYPASS_REG = 0x030;
inline constexpr uint32_t IOMMU_AUTO_GATING_REG = 0x040;
inline constexpr uint32_t IOMMU_AUTO_GATING_ENABLE = 1u << 0;
inline constexpr uint32_t IOMMU_TTB_REG = 0x050;
inline constexpr uint32_t IOMMU_TLB_PREFETCH_REG = 0x070;
inline constexpr uint32_t IOMMU_TLB_FLUSH_REG = 0x080;
inline constexpr uint32_t IOMMU_TLB_FLUSH_PTW_CACHE = 1u << 17;
inline constexpr uint32_t IOMMU_TLB_FLUSH_MACRO_TLB = 1u << 16;
inline constexpr uint32_t IOMMU_TLB_IVLD_ADDR_REG = 0x090;
inline constexpr uint32_t IOMMU_TLB_IVLD_ADDR_MASK_REG = 0x094;
inline constexpr uint32_t IOMMU_TLB_IVLD_ENABLE_REG = 0x098;
inline constexpr uint32_t IOMMU_PC_IVLD_ADDR_REG = 0x0a0;
inline constexpr uint32_t IOMMU_PC_IVLD_ENABLE_REG = 0x0a8;
inline constexpr uint32_t IOMMU_IVLD_ENABLE = 1u << 0;
inline constexpr uint32_t IOMMU_INT_ENABLE_REG = 0x100;
inline constexpr uint32_t IOMMU_INT_CLR_REG = 0x104;
inline constexpr uint32_t IOMMU_INT_STA_REG = 0x108;
inline constexpr uint32_t IOMMU_INT_ERR_ADDR_L1_REG = 0x130;
inline constexpr uint32_t IOMMU_INT_ERR_ADDR_L2_REG = 0x134;
inline constexpr uint32_t IOMMU_L1PG_INT_REG = 0x180;
inline constexpr uint32_t IOMMU_L2PG_INT_REG = 0x184;

inline constexpr unsigned kMasters = 6;  // master IDs 0..5
inline constexpr uint32_t kMasterMask = (1u << kMasters) - 1;
inline constexpr uint32_t IOMMU_INT_INVALID_L2PG = 1u << 17;
inline constexpr uint32_t IOMMU_INT_INVALID_L1PG = 1u << 16;
inline constexpr uint32_t IOMMU_INT_MASK = IOMMU_INT_INVALID_L1PG | IOMMU_INT_INVALID_L2PG | kMasterMask;

inline constexpr uint32_t dm_aut_ctrl(unsigned aci) { return 0x0b0 + (aci / 2) * 4; }
inline constexpr uint32_t dm_aut_rd_unavail(unsigned aci, unsigned m) { return 1u << ((aci & 1) * 16 + m * 2); }
inline constexpr uint32_t dm_aut_wr_unavail(unsigned aci, unsigned m) { return 1u << ((aci & 1) * 16 + m * 2 + 1); }
inline constexpr uint32_t int_err_addr(unsigned m) { return 0x110 + 4 * m; }
inline constexpr uint32_t int_err_data(unsigned m) { return 0x150 + 4 * m; }

}  // namespace modiommu::sun50i_iommu
