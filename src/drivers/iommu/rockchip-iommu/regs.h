// Rockchip IOMMU registers, per MMU bank (Linux rockchip-iommu.c; RK3399 and
// RK3568 TRMs, "IOMMU"/"MMU" chapters).
#pragma once

#include <cstdint>

namespace modiommu::rockchip_iommu {

inline constexpr uint64_t MMU_DTE_ADDR = 0x00;
inline constexpr uint64_t MMU_STATUS = 0x04;
inline constexpr uint64_t MMU_COMMAND = 0x08;
inline constexpr uint64_t MMU_PAGE_FAULT_ADDR = 0x0c;
inline constexpr uint64_t MMU_ZAP_ONE_LINE = 0x10;
inline constexpr uint64_t MMU_INT_RAWSTAT = 0x14;
inline constexpr uint64_t MMU_INT_CLEAR = 0x18;
inline constexpr uint64_t MMU_INT_MASK = 0x1c;
inline constexpr uint64_t MMU_INT_STATUS = 0x20;
inline constexpr uint64_t MMU_AUTO_GATING = 0x24;

inline constexpr uint32_t STATUS_PAGING_ENABLED = 1u << 0;
inline constexpr uint32_t STATUS_PAGE_FAULT_ACTIVE = 1u << 1;
inline constexpr uint32_t STATUS_STALL_ACTIVE = 1u << 2;
inline constexpr uint32_t STATUS_PAGE_FAULT_IS_WRITE = 1u << 5;

inline constexpr uint32_t CMD_ENABLE_PAGING = 0;
inline constexpr uint32_t CMD_DISABLE_PAGING = 1;
inline constexpr uint32_t CMD_ENABLE_STALL = 2;
inline constexpr uint32_t CMD_DISABLE_STALL = 3;
inline constexpr uint32_t CMD_ZAP_CACHE = 4;
inline constexpr uint32_t CMD_PAGE_FAULT_DONE = 5;
inline constexpr uint32_t CMD_FORCE_RESET = 6;

inline constexpr uint32_t IRQ_PAGE_FAULT = 1u << 0;
inline constexpr uint32_t IRQ_BUS_ERROR = 1u << 1;
inline constexpr uint32_t IRQ_MASK = IRQ_PAGE_FAULT | IRQ_BUS_ERROR;

// Linux DISABLE_FETCH_DTE_TIME_LIMIT: "workaround for iommu blocked".
inline constexpr uint32_t AUTO_GATING_DISABLE_FETCH_DTE_TIME_LIMIT = 1u << 31;

// Linux DTE_ADDR_DUMMY: written and read back to check the register works
// before a force reset.
inline constexpr uint32_t DTE_ADDR_DUMMY = 0xcafebabe;

}  // namespace modiommu::rockchip_iommu
