// NVIDIA Tegra memory controller: the registers of its SMMU and of its
// error reporting, as Linux's drivers/iommu/tegra-smmu.c and
// drivers/memory/tegra/mc.{c,h} (the public description; Tegra X1 TRM,
// "Memory Controller" chapter) give them. Offsets are from the MC node's
// first reg window (Linux maps the SMMU registers at mc->regs).
// The driver keeps its own copy (drivers see no hw/ header but memory.h).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::hw::tegra {

// MC error reporting (Linux mc.h).
inline constexpr uint64_t MC_INTSTATUS = 0x00;  // write 1 to clear
inline constexpr uint64_t MC_INTMASK = 0x04;
inline constexpr uint64_t MC_ERR_STATUS = 0x08;
inline constexpr uint64_t MC_ERR_ADR = 0x0c;
inline constexpr uint32_t MC_INT_INVALID_SMMU_PAGE = 1u << 10;
// The causes the model can latch (only SMMU page faults are raised here).
inline constexpr uint32_t MC_INT_MASK_BITS = 0x0003ffc0;

// MC_ERR_STATUS fields (Linux mc.h MC_ERR_STATUS_*).
using ErrType = Bits32<30, 28>;
inline constexpr uint32_t ERR_TYPE_INVALID_SMMU_PAGE = 6;
inline constexpr uint32_t ERR_READABLE = 1u << 27;  // the faulting page's attributes
inline constexpr uint32_t ERR_WRITABLE = 1u << 26;
inline constexpr uint32_t ERR_NONSECURE = 1u << 25;
using ErrAdrHi = Bits32<21, 20>;  // address bits 33:32
inline constexpr uint32_t ERR_RW = 1u << 16;  // set: a write
using ErrClient = Bits32<7, 0>;   // memory client ID (client_id_mask 0xff)

// SMMU (Linux tegra-smmu.c).
inline constexpr uint64_t SMMU_CONFIG = 0x010;
inline constexpr uint32_t SMMU_CONFIG_ENABLE = 1u << 0;
inline constexpr uint64_t SMMU_TLB_CONFIG = 0x014;
inline constexpr uint32_t TLB_CONFIG_HIT_UNDER_MISS = 1u << 29;
inline constexpr uint32_t TLB_CONFIG_ROUND_ROBIN = 1u << 28;
using TlbActiveLines = Bits32<7, 0>;
inline constexpr uint64_t SMMU_PTC_CONFIG = 0x018;
inline constexpr uint32_t PTC_CONFIG_ENABLE = 1u << 29;
using PtcReqLimit = Bits32<27, 24>;
using PtcIndexMap = Bits32<5, 0>;
inline constexpr uint64_t SMMU_PTB_ASID = 0x01c;  // selects the ASID SMMU_PTB_DATA shows
using PtbAsid = Bits32<6, 0>;
inline constexpr uint64_t SMMU_PTB_DATA = 0x020;  // directory base (pfn) + attributes
inline constexpr uint64_t SMMU_TLB_FLUSH = 0x030;
using TlbFlushMatch = Bits32<1, 0>;
inline constexpr uint32_t TLB_FLUSH_MATCH_ALL = 0;
inline constexpr uint32_t TLB_FLUSH_MATCH_SECTION = 2;  // a 4 MiB section: VA [31:22]
inline constexpr uint32_t TLB_FLUSH_MATCH_GROUP = 3;    // a 16 KiB group: VA [31:14]
using TlbFlushVa = Bits32<19, 2>;                        // VA [31:14] >> 12, in place
inline constexpr uint32_t TLB_FLUSH_ASID_MATCH = 1u << 31;
using TlbFlushAsid = Bits32<30, 24>;  // SoCs with 128 ASIDs
inline constexpr uint64_t SMMU_PTC_FLUSH = 0x034;
inline constexpr uint32_t PTC_FLUSH_TYPE_ADR = 1u << 0;  // else all
using PtcFlushAdr = Bits32<31, 2>;
inline constexpr uint64_t SMMU_PTC_FLUSH_HI = 0x9b8;
inline constexpr uint32_t PTC_FLUSH_HI_MASK = 0x3;

// Per-swgroup SMMU_<swgroup>_ASID register.
inline constexpr uint32_t SMMU_ASID_ENABLE = 1u << 31;
inline constexpr uint32_t SMMU_ASID_MASK = 0x7f;

// Per-client translation enables (MC_SMMU_TRANSLATION_ENABLE_0..4).
inline constexpr uint64_t kClientEnableRegs[] = {0x228, 0x22c, 0x230, 0x234, 0xb98};

// Directory (PTB_DATA, PDE) and PTE attribute bits; the low bits hold the
// pfn (34-bit addresses: 22 bits).
inline constexpr uint32_t ATTR_READABLE = 1u << 31;
inline constexpr uint32_t ATTR_WRITABLE = 1u << 30;
inline constexpr uint32_t ATTR_NONSECURE = 1u << 29;
inline constexpr uint32_t PDE_NEXT = 1u << 28;  // a page table (no NEXT: a 4 MiB section)

using IovaPde = Bits<31, 22>;
using IovaPte = Bits<21, 12>;
inline constexpr unsigned kEntries = 1024;
inline constexpr uint64_t kPageSize = 4096;
// Linux's PTC flush aligns to the SoC's atom size (64 bytes on Tegra124/210).
inline constexpr uint64_t kAtomSize = 64;

}  // namespace modiommu::hw::tegra
