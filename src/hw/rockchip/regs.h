// Rockchip IOMMU register map and table formats, as Linux's
// drivers/iommu/rockchip-iommu.c (the public description; RK3288/RK3399/
// RK3568/RK3588 TRMs, "MMU" chapters) gives them. One register bank is one
// MMU; a node's `reg` may hold several banks (e.g. a VOP's two AXI ports).
// The driver keeps its own copy (drivers see no hw/ header but memory.h).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::hw::rockchip {

// Register offsets within one bank.
inline constexpr uint64_t MMU_DTE_ADDR = 0x00;         // directory table address
inline constexpr uint64_t MMU_STATUS = 0x04;
inline constexpr uint64_t MMU_COMMAND = 0x08;
inline constexpr uint64_t MMU_PAGE_FAULT_ADDR = 0x0c;  // IOVA of the last page fault
inline constexpr uint64_t MMU_ZAP_ONE_LINE = 0x10;     // drop one IOTLB line by IOVA
inline constexpr uint64_t MMU_INT_RAWSTAT = 0x14;
inline constexpr uint64_t MMU_INT_CLEAR = 0x18;
inline constexpr uint64_t MMU_INT_MASK = 0x1c;
inline constexpr uint64_t MMU_INT_STATUS = 0x20;
inline constexpr uint64_t MMU_AUTO_GATING = 0x24;
inline constexpr uint64_t kBankRegsSize = 0x28;  // registers implemented per bank

// MMU_STATUS bits.
inline constexpr uint32_t STATUS_PAGING_ENABLED = 1u << 0;
inline constexpr uint32_t STATUS_PAGE_FAULT_ACTIVE = 1u << 1;
inline constexpr uint32_t STATUS_STALL_ACTIVE = 1u << 2;
inline constexpr uint32_t STATUS_IDLE = 1u << 3;
inline constexpr uint32_t STATUS_REPLAY_BUFFER_EMPTY = 1u << 4;
inline constexpr uint32_t STATUS_PAGE_FAULT_IS_WRITE = 1u << 5;
inline constexpr uint32_t STATUS_STALL_NOT_ACTIVE = 1u << 31;

// MMU_COMMAND values (not bits).
inline constexpr uint32_t CMD_ENABLE_PAGING = 0;
inline constexpr uint32_t CMD_DISABLE_PAGING = 1;
inline constexpr uint32_t CMD_ENABLE_STALL = 2;
inline constexpr uint32_t CMD_DISABLE_STALL = 3;
inline constexpr uint32_t CMD_ZAP_CACHE = 4;
inline constexpr uint32_t CMD_PAGE_FAULT_DONE = 5;
inline constexpr uint32_t CMD_FORCE_RESET = 6;

// MMU_INT_* bits.
inline constexpr uint32_t IRQ_PAGE_FAULT = 1u << 0;
inline constexpr uint32_t IRQ_BUS_ERROR = 1u << 1;
inline constexpr uint32_t IRQ_MASK = IRQ_PAGE_FAULT | IRQ_BUS_ERROR;

// MMU_AUTO_GATING bit 31 (Linux: DISABLE_FETCH_DTE_TIME_LIMIT, a workaround
// the driver sets; no effect in the model).
inline constexpr uint32_t AUTO_GATING_DISABLE_FETCH_DTE_TIME_LIMIT = 1u << 31;

// IOVA: [31:22] directory index, [21:12] page-table index, [11:0] offset.
using IovaDte = Bits<31, 22>;
using IovaPte = Bits<21, 12>;
inline constexpr unsigned kEntries = 1024;  // per directory and per page table
inline constexpr uint64_t kPageSize = 4096;

// DTE / PTE (32 bits each). v1: [31:12] address bits 31:12. v2 (RK3568,
// RK3588): also [11:8] = address bits 35:32 and [7:4] = address bits 39:36.
inline constexpr uint32_t ENTRY_VALID = 1u << 0;
inline constexpr uint32_t PTE_READABLE = 1u << 1;
inline constexpr uint32_t PTE_WRITABLE = 1u << 2;
using EntryAddrLo = Bits32<31, 12>;  // address bits 31:12 in place
using EntryAddrHi1 = Bits32<11, 8>;  // v2: address bits 35:32
using EntryAddrHi2 = Bits32<7, 4>;   // v2: address bits 39:36

enum class Version { v1, v2 };

// The physical address an entry points at; MMU_DTE_ADDR is packed the same
// way (Linux 6.1 and 6.12 write it with mk_dtentries and read it back with
// pt_address).
inline constexpr uint64_t entry_address(Version v, uint32_t e) {
  uint64_t pa = e & EntryAddrLo::mask;
  if (v == Version::v2) pa |= uint64_t{EntryAddrHi1::get(e)} << 32 | uint64_t{EntryAddrHi2::get(e)} << 36;
  return pa;
}
// Packs a 4 KiB-aligned address (v1: below 2^32, v2: below 2^40).
inline constexpr uint32_t pack_address(Version v, uint64_t pa) {
  uint32_t e = static_cast<uint32_t>(pa) & EntryAddrLo::mask;
  if (v == Version::v2) e |= EntryAddrHi1::prep_masked(pa >> 32) | EntryAddrHi2::prep_masked(pa >> 36);
  return e;
}
// Output address bits: 32 (v1) or 40 (v2).
inline constexpr unsigned address_bits(Version v) { return v == Version::v1 ? 32 : 40; }
// Bits of MMU_DTE_ADDR that hold state (the rest read as zero): v1 keeps
// [31:12] (Linux checks 5 nybbles read back), v2 [31:4] (7 nybbles).
inline constexpr uint32_t dte_addr_mask(Version v) { return v == Version::v1 ? 0xfffff000u : 0xfffffff0u; }

}  // namespace modiommu::hw::rockchip
