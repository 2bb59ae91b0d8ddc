// Allwinner sun50i (H6, H616) IOMMU register map and table format, as
// Linux's drivers/iommu/sun50i-iommu.c (6.1, 6.12) and the H6 user manual
// ("IOMMU" chapter) give them. One register block serves up to six masters
// (the master ID is the `iommus` cell). The driver keeps its own copy
// (drivers see no hw/ header but memory.h).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::hw::sun50i {

inline constexpr uint64_t IOMMU_RESET_REG = 0x010;            // per-master reset, 0 = held
inline constexpr uint64_t IOMMU_ENABLE_REG = 0x020;
inline constexpr uint64_t IOMMU_BYPASS_REG = 0x030;           // bit m: master m passes untranslated
inline constexpr uint64_t IOMMU_AUTO_GATING_REG = 0x040;
inline constexpr uint64_t IOMMU_WBUF_CTRL_REG = 0x044;
inline constexpr uint64_t IOMMU_OOO_CTRL_REG = 0x048;
inline constexpr uint64_t IOMMU_4KB_BDY_PRT_CTRL_REG = 0x04c;
inline constexpr uint64_t IOMMU_TTB_REG = 0x050;              // directory base
inline constexpr uint64_t IOMMU_TLB_ENABLE_REG = 0x060;
inline constexpr uint64_t IOMMU_TLB_PREFETCH_REG = 0x070;
inline constexpr uint64_t IOMMU_TLB_FLUSH_REG = 0x080;        // self-clearing
inline constexpr uint64_t IOMMU_TLB_IVLD_ADDR_REG = 0x090;
inline constexpr uint64_t IOMMU_TLB_IVLD_ADDR_MASK_REG = 0x094;
inline constexpr uint64_t IOMMU_TLB_IVLD_ENABLE_REG = 0x098;  // self-clearing
inline constexpr uint64_t IOMMU_PC_IVLD_ADDR_REG = 0x0a0;
inline constexpr uint64_t IOMMU_PC_IVLD_ENABLE_REG = 0x0a8;   // self-clearing
inline constexpr uint64_t IOMMU_DM_AUT_CTRL_BASE = 0x0b0;     // 8 registers, two ACI domains each
inline constexpr uint64_t IOMMU_DM_AUT_OVWT_REG = 0x0d0;
inline constexpr uint64_t IOMMU_INT_ENABLE_REG = 0x100;
inline constexpr uint64_t IOMMU_INT_CLR_REG = 0x104;
inline constexpr uint64_t IOMMU_INT_STA_REG = 0x108;
inline constexpr uint64_t IOMMU_INT_ERR_ADDR_BASE = 0x110;    // one per master
inline constexpr uint64_t IOMMU_INT_ERR_ADDR_L1_REG = 0x130;
inline constexpr uint64_t IOMMU_INT_ERR_ADDR_L2_REG = 0x134;
inline constexpr uint64_t IOMMU_INT_ERR_DATA_BASE = 0x150;    // one per master
inline constexpr uint64_t IOMMU_L1PG_INT_REG = 0x180;         // masters blamed for an invalid DTE
inline constexpr uint64_t IOMMU_L2PG_INT_REG = 0x184;         // masters blamed for an invalid PTE
inline constexpr uint64_t kRegsSize = 0x188;

inline constexpr unsigned kMasters = 6;  // Linux IOMMU_INT_MASTER_MASK: masters 0..5
inline constexpr unsigned kAciDomains = 16;
inline constexpr uint32_t kMasterMask = (1u << kMasters) - 1;

inline constexpr uint64_t dm_aut_ctrl(unsigned aci) { return IOMMU_DM_AUT_CTRL_BASE + (aci / 2) * 4; }
// Bit of DM_AUT_CTRL(aci) that denies reads (writes: the next bit) to master m.
inline constexpr unsigned dm_aut_rd_bit(unsigned aci, unsigned m) { return (aci & 1) * 16 + m * 2; }
inline constexpr uint64_t err_addr(unsigned m) { return IOMMU_INT_ERR_ADDR_BASE + 4 * m; }
inline constexpr uint64_t err_data(unsigned m) { return IOMMU_INT_ERR_DATA_BASE + 4 * m; }

inline constexpr uint32_t ENABLE_ENABLE = 1u << 0;
inline constexpr uint32_t AUTO_GATING_ENABLE = 1u << 0;
inline constexpr uint32_t TLB_FLUSH_PTW_CACHE = 1u << 17;
inline constexpr uint32_t TLB_FLUSH_MACRO_TLB = 1u << 16;
inline constexpr uint32_t TLB_FLUSH_MICRO_MASK = kMasterMask;
inline constexpr uint32_t IVLD_ENABLE = 1u << 0;

// Interrupt bits (INT_ENABLE/CLR/STA): a permission fault sets its
// master's bit; invalid entries set L1PG/L2PG.
inline constexpr uint32_t INT_INVALID_L2PG = 1u << 17;
inline constexpr uint32_t INT_INVALID_L1PG = 1u << 16;
inline constexpr uint32_t INT_MASK = INT_INVALID_L1PG | INT_INVALID_L2PG | kMasterMask;

// IOVA: [31:20] directory index, [19:12] page-table index, [11:0] offset.
using IovaDte = Bits<31, 20>;
using IovaPte = Bits<19, 12>;
inline constexpr unsigned kDtEntries = 4096;  // 16 KiB directory
inline constexpr unsigned kPtEntries = 256;   // 1 KiB page table
inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kDtSize = kDtEntries * 4;
inline constexpr uint64_t kPtSize = kPtEntries * 4;
// TTB holds a 16 KiB-aligned directory address (Linux allocates it with
// __get_free_pages(get_order(16K))).
inline constexpr uint32_t kTtbMask = 0xffffc000u;

// DTE: [31:10] page-table address, [1:0] == 1 valid.
using DtePtAddr = Bits32<31, 10>;
using DteAttrs = Bits32<1, 0>;
inline constexpr uint32_t DTE_VALID = 1;
// PTE: [31:12] page address, [7:4] ACI, bit 1 valid.
using PtePage = Bits32<31, 12>;
using PteAci = Bits32<7, 4>;
inline constexpr uint32_t PTE_VALID = 1u << 1;

inline constexpr bool dte_valid(uint32_t dte) { return DteAttrs::get(dte) == DTE_VALID; }
inline constexpr uint64_t dte_pt(uint32_t dte) { return dte & DtePtAddr::mask; }
inline constexpr uint64_t pte_page(uint32_t pte) { return pte & PtePage::mask; }

}  // namespace modiommu::hw::sun50i
