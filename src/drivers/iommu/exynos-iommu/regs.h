// Exynos SysMMU registers (Linux exynos-iommu.c: the common registers and
// the sysmmu_variant offsets of v1..v3, v5, v7 and v7 with the VM block).
#pragma once

#include <cstdint>

namespace modiommu::exynos_iommu {

inline constexpr uint64_t REG_MMU_CTRL = 0x000;
inline constexpr uint64_t REG_MMU_CFG = 0x004;
inline constexpr uint64_t REG_MMU_STATUS = 0x008;
inline constexpr uint64_t REG_MMU_VERSION = 0x034;
inline constexpr uint64_t REG_PAGE_FAULT_ADDR = 0x024;
inline constexpr uint64_t REG_AW_FAULT_ADDR = 0x028;
inline constexpr uint64_t REG_AR_FAULT_ADDR = 0x02c;
inline constexpr uint64_t REG_DEFAULT_SLAVE_ADDR = 0x030;
inline constexpr uint64_t REG_V5_FAULT_AR_VA = 0x070;
inline constexpr uint64_t REG_V5_FAULT_AW_VA = 0x080;
inline constexpr uint64_t REG_V7_CAPA0 = 0x870;
inline constexpr uint64_t REG_V7_CAPA1 = 0x874;
inline constexpr uint64_t REG_V7_CTRL_VM = 0x8000;

inline constexpr uint32_t CTRL_ENABLE = 0x5;
inline constexpr uint32_t CTRL_BLOCK = 0x7;
inline constexpr uint32_t CTRL_DISABLE = 0x0;
inline constexpr uint32_t STATUS_BLOCKED = 1u << 0;

inline constexpr uint32_t CFG_LRU = 0x1;
inline constexpr uint32_t CFG_EAP = 1u << 2;
inline constexpr uint32_t cfg_qos(uint32_t n) { return (n & 0xf) << 7; }
inline constexpr uint32_t CFG_ACGEN = 1u << 24;     // 3.3 only
inline constexpr uint32_t CFG_SYSSEL = 1u << 22;    // 3.2 only
inline constexpr uint32_t CFG_FLPDCACHE = 1u << 20;  // 3.2+

inline constexpr uint32_t CTRL_VM_ENABLE = 1u << 0;
inline constexpr uint32_t CTRL_VM_FAULT_MODE_STALL = 1u << 3;
inline constexpr uint32_t CAPA0_CAPA1_EXIST = 1u << 11;
inline constexpr uint32_t CAPA1_VCR_ENABLED = 1u << 14;

// Linux MMU_MAJ_VER / MMU_MIN_VER / MMU_RAW_VER / MAKE_MMU_VER.
inline constexpr unsigned maj_ver(uint32_t v) { return v >> 7; }
inline constexpr unsigned min_ver(uint32_t v) { return v & 0x7f; }
inline constexpr uint32_t raw_ver(uint32_t reg) { return (reg >> 21) & 0x7ff; }
inline constexpr uint32_t make_ver(unsigned maj, unsigned min) { return (maj & 0xf) << 7 | (min & 0x7f); }
// Linux: "controllers on some SoCs don't report proper version".
inline constexpr uint32_t kBrokenVersionReg = 0x80000001u;

struct Variant {
  const char* name;
  uint64_t pt_base, flush_all, flush_entry, flush_range, flush_start, flush_end, int_status, int_clear;
  uint64_t fault_va, fault_info;
};
inline constexpr Variant kVariantV1{"v1", 0x14, 0x0c, 0x10, 0, 0, 0, 0x18, 0x1c, 0, 0};
inline constexpr Variant kVariantV5{"v5", 0x0c, 0x10, 0x14, 0x18, 0x20, 0x24, 0x60, 0x64, 0, 0};
inline constexpr Variant kVariantV7{"v7", 0x0c, 0x10, 0x14, 0x18, 0x20, 0x24, 0x60, 0x64, 0x70, 0x78};
inline constexpr Variant kVariantV7Vm{"v7 VM", 0x800c, 0x8010, 0x8014, 0x8018, 0x8020, 0x8024, 0x60, 0x64, 0x1000, 0x1004};

}  // namespace modiommu::exynos_iommu
