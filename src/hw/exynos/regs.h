// Samsung Exynos SysMMU register map and table format, as Linux's
// drivers/iommu/exynos-iommu.c (sysmmu_variant tables, 6.1 and 6.12) and
// the samsung,sysmmu.yaml binding describe them. Three register layouts:
// v1..v3 (32-bit PA), v5 and v7 (36-bit PA: entries hold PA >> 4) and v7
// with the VM register block (exynosautov9). The driver keeps its own copy
// (drivers see no hw/ header but memory.h).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::hw::exynos {

// Registers common to every version.
inline constexpr uint64_t REG_MMU_CTRL = 0x000;
inline constexpr uint64_t REG_MMU_CFG = 0x004;
inline constexpr uint64_t REG_MMU_STATUS = 0x008;
inline constexpr uint64_t REG_MMU_VERSION = 0x034;
// v1..v3 fault address registers.
inline constexpr uint64_t REG_PAGE_FAULT_ADDR = 0x024;
inline constexpr uint64_t REG_AW_FAULT_ADDR = 0x028;
inline constexpr uint64_t REG_AR_FAULT_ADDR = 0x02c;
inline constexpr uint64_t REG_DEFAULT_SLAVE_ADDR = 0x030;
// v5 fault address registers.
inline constexpr uint64_t REG_V5_FAULT_AR_VA = 0x070;
inline constexpr uint64_t REG_V5_FAULT_AW_VA = 0x080;
// v7 capability registers and the VM control register.
inline constexpr uint64_t REG_V7_CAPA0 = 0x870;
inline constexpr uint64_t REG_V7_CAPA1 = 0x874;
inline constexpr uint64_t REG_V7_CTRL_VM = 0x8000;
inline constexpr uint64_t kRegsSize = 0x9000;  // covers the VM block

// MMU_CTRL values (Linux CTRL_ENABLE/BLOCK/DISABLE): bit 0 enables
// translation, bit 1 blocks (holds) traffic.
inline constexpr uint32_t CTRL_DISABLE = 0x0;
inline constexpr uint32_t CTRL_ENABLE = 0x5;
inline constexpr uint32_t CTRL_BLOCK = 0x7;
using CtrlEnable = Bit32<0>;
using CtrlBlock = Bit32<1>;
// MMU_STATUS bit 0: blocked (Linux sysmmu_block polls it).
inline constexpr uint32_t STATUS_BLOCKED = 1u << 0;

// MMU_CFG bits the model acts on.
inline constexpr uint32_t CFG_EAP = 1u << 2;         // check access-protection bits
inline constexpr uint32_t CFG_FLPDCACHE = 1u << 20;  // v3.2+: first-level entries cached

inline constexpr uint32_t CTRL_VM_ENABLE = 1u << 0;
inline constexpr uint32_t CAPA0_CAPA1_EXIST = 1u << 11;
inline constexpr uint32_t CAPA1_VCR_ENABLED = 1u << 14;

// REG_MMU_VERSION: [31:21] raw version, major in its [10:7], minor [6:0].
inline constexpr uint32_t make_version(unsigned maj, unsigned min) { return (maj & 0xf) << 7 | (min & 0x7f); }

enum class Version { v1, v5, v7, v7_vm };

// The registers whose offsets differ per version (Linux sysmmu_variant);
// 0 = absent.
struct Layout {
  uint64_t pt_base, flush_all, flush_entry, flush_range, flush_start, flush_end, int_status, int_clear;
  uint64_t fault_va, fault_info;  // v7 only
};
inline constexpr Layout kLayoutV1{0x14, 0x0c, 0x10, 0, 0, 0, 0x18, 0x1c, 0, 0};
inline constexpr Layout kLayoutV5{0x0c, 0x10, 0x14, 0x18, 0x20, 0x24, 0x60, 0x64, 0, 0};
inline constexpr Layout kLayoutV7{0x0c, 0x10, 0x14, 0x18, 0x20, 0x24, 0x60, 0x64, 0x70, 0x78};
inline constexpr Layout kLayoutV7Vm{0x800c, 0x8010, 0x8014, 0x8018, 0x8020, 0x8024, 0x60, 0x64, 0x1000, 0x1004};
inline constexpr const Layout& layout(Version v) {
  return v == Version::v1 ? kLayoutV1 : v == Version::v5 ? kLayoutV5 : v == Version::v7 ? kLayoutV7 : kLayoutV7Vm;
}
// The version the part reports: 3.3 for v1 (the last of the 32-bit layout,
// with the first-level cache Linux flushes), 5.0, 7.0.
inline constexpr uint32_t raw_version(Version v) {
  return v == Version::v1 ? make_version(3, 3) : v == Version::v5 ? make_version(5, 0) : make_version(7, 0);
}

// Interrupt causes. v1 (Linux sysmmu_v1_faults, bit = index): page fault,
// AR/AW multi-hit, bus error, AR/AW security and access protection.
inline constexpr uint32_t V1_INT_PAGE_FAULT = 1u << 0;
inline constexpr uint32_t V1_INT_BUS_ERROR = 1u << 3;
inline constexpr uint32_t V1_INT_AR_ACCESS = 1u << 5;
inline constexpr uint32_t V1_INT_AW_ACCESS = 1u << 7;
// v5/v7: read causes in [4:0], write causes in [20:16]: PTW (walk error),
// PAGE, then (v5) MULTI-HIT, ACCESS PROTECTION / (v7) ACCESS PROTECTION.
inline constexpr uint32_t V5_INT_PTW = 1u << 0;
inline constexpr uint32_t V5_INT_PAGE = 1u << 1;
inline constexpr uint32_t V5_INT_ACCESS = 1u << 3;
inline constexpr uint32_t V7_INT_ACCESS = 1u << 2;
inline constexpr unsigned kV5WriteShift = 16;
// v7 fault_info bit 20: the faulting access was a write.
inline constexpr uint32_t V7_INFO_WRITE = 1u << 20;

// Table format: a 4096-entry first level (1 MiB sections or links to
// 256-entry second-level tables of 4 KiB small and 64 KiB large pages).
// Entries hold PA >> shift (0 for v1, 4 for v5+). No 16 MiB supersection
// (Linux: "We do not consider super section mapping").
inline constexpr unsigned kLv1Entries = 4096, kLv2Entries = 256;
inline constexpr uint64_t kSectSize = 1u << 20, kLpageSize = 1u << 16, kSpageSize = 1u << 12;
using IovaLv1 = Bits<31, 20>;
using IovaLv2 = Bits<19, 12>;
inline constexpr unsigned entry_shift(Version v) { return v == Version::v1 ? 0 : 4; }
inline constexpr unsigned pa_bits(Version v) { return v == Version::v1 ? 32 : 36; }
inline constexpr uint32_t kLv2LinkMask = 0xffffffc0u;  // Linux lv2table_base

}  // namespace modiommu::hw::exynos
