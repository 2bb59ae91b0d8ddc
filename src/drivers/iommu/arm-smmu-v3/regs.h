// ARM SMMUv3 register, queue-entry and structure encodings the driver uses,
// from ARM IHI 0070 (as Linux's arm-smmu-v3.h keeps its own copy: a driver
// never shares headers with the hardware it drives).
#pragma once

#include <cstdint>

namespace modiommu::arm_smmu_v3 {

constexpr uint64_t bits(uint64_t v, unsigned lo, unsigned width) {
  return (v >> lo) & ((width >= 64) ? ~uint64_t{0} : (uint64_t{1} << width) - 1);
}
constexpr uint64_t put(uint64_t v, unsigned lo, unsigned width) {
  return (v & ((width >= 64) ? ~uint64_t{0} : (uint64_t{1} << width) - 1)) << lo;
}
inline constexpr uint64_t kAddrMask52 = (uint64_t{1} << 52) - 1;

// 6.2 register map: page 0, and page 1 at +64 KiB for the event queue indexes.
inline constexpr uint64_t IDR0 = 0x00, IDR1 = 0x04, IDR5 = 0x14, CR0 = 0x20, CR0ACK = 0x24, CR1 = 0x28, CR2 = 0x2c,
                          GBPA = 0x44, IRQ_CTRL = 0x50, IRQ_CTRLACK = 0x54, GERROR = 0x60, GERRORN = 0x64,
                          STRTAB_BASE = 0x80, STRTAB_BASE_CFG = 0x88, CMDQ_BASE = 0x90, CMDQ_PROD = 0x98,
                          CMDQ_CONS = 0x9c, EVTQ_BASE = 0xa0, EVTQ_PROD = 0x100a8, EVTQ_CONS = 0x100ac;
inline constexpr uint64_t kRegionSize = 0x20000;

// 6.3.1 IDR0.
inline constexpr unsigned IDR0_S2P = 0, IDR0_S1P = 1, IDR0_TTF = 2, IDR0_COHACC = 4, IDR0_HYP = 9,
                          IDR0_ASID16 = 12, IDR0_VMID16 = 18, IDR0_TTENDIAN = 21, IDR0_ST_LEVEL = 27;
// 6.3.2 IDR1.
inline constexpr unsigned IDR1_SIDSIZE = 0, IDR1_EVENTQS = 16, IDR1_CMDQS = 21, IDR1_QUEUES_PRESET = 29,
                          IDR1_TABLES_PRESET = 30;
// 6.3.6 IDR5.
inline constexpr unsigned IDR5_OAS = 0, IDR5_GRAN4K = 4, IDR5_GRAN16K = 5, IDR5_GRAN64K = 6;

// 6.3.9 CR0 (CR0ACK mirrors it once an update has taken effect).
inline constexpr uint32_t CR0_SMMUEN = 1u << 0, CR0_EVTQEN = 1u << 2, CR0_CMDQEN = 1u << 3;
// 6.3.10 CR1: inner/outer write-back cacheable (1), inner shareable (3)
// for queue and table accesses.
inline constexpr uint32_t CR1_VALUE = 1u << 0 | 1u << 2 | 3u << 4 | 1u << 6 | 1u << 8 | 3u << 10;
// 6.3.12 CR2: RECINVSID (record C_BAD_STREAMID), PTM (no broadcast TLBI).
inline constexpr uint32_t CR2_RECINVSID = 1u << 1, CR2_PTM = 1u << 2;
// 6.3.14 GBPA.
inline constexpr uint32_t GBPA_UPDATE = 1u << 31, GBPA_ABORT = 1u << 20;
// 6.3.16 IRQ_CTRL.
inline constexpr uint32_t IRQ_CTRL_GERROR = 1u << 0, IRQ_CTRL_EVTQ = 1u << 2;
// 6.3.18 GERROR / GERRORN.
inline constexpr uint32_t GERROR_CMDQ_ERR = 1u << 0, GERROR_EVTQ_ABT = 1u << 2, GERROR_PRIQ_ABT = 1u << 3,
                          GERROR_MSI_CMDQ_ABT = 1u << 4, GERROR_MSI_EVTQ_ABT = 1u << 5,
                          GERROR_MSI_PRIQ_ABT = 1u << 6, GERROR_MSI_GERROR_ABT = 1u << 7, GERROR_SFM = 1u << 8,
                          GERROR_ALL = 0x1fd;
// 6.3.23-24 stream table base and configuration.
inline constexpr uint64_t STRTAB_BASE_RA = uint64_t{1} << 62;
inline constexpr unsigned STRTAB_CFG_LOG2SIZE = 0, STRTAB_CFG_SPLIT = 6, STRTAB_CFG_FMT = 16;
inline constexpr uint32_t STRTAB_FMT_LINEAR = 0, STRTAB_FMT_2LVL = 1;
// 6.3.25/28 queue base: ADDR [51:5], LOG2SIZE [4:0], RA/WA [62].
inline constexpr uint64_t Q_BASE_RWA = uint64_t{1} << 62, Q_BASE_ADDR_MASK = kAddrMask52 & ~uint64_t{0x1f};
// 6.3.27 CMDQ_CONS.ERR [30:24]; 3.5 queue index: wrap bit above the index.
inline constexpr unsigned CMDQ_CONS_ERR = 24;
inline constexpr uint32_t CMDQ_ERR_NONE = 0, CMDQ_ERR_ILL = 1, CMDQ_ERR_ABT = 2, CMDQ_ERR_ATC_INV_SYNC = 3;
inline constexpr uint32_t Q_OVF = 1u << 31;  // 7.4 EVENTQ_PROD.OVFLG / EVENTQ_CONS.OVACKFLG

// 3.4.3 two-level stream table: SID[n:SPLIT] indexes 8-byte level-1
// descriptors (L2Ptr [51:6], Span [4:0]) of 2^SPLIT-STE level-2 tables.
inline constexpr unsigned kStrtabSplit = 8;
inline constexpr unsigned kL1DescBytes = 8, kSteBytes = 64, kCdBytes = 64, kCmdBytes = 16, kEvtBytes = 32;

// 5.2 STE (words of 64 bits).
inline constexpr uint64_t STE0_V = 1;
inline constexpr unsigned STE0_CONFIG = 1, STE0_S1FMT = 4, STE0_S1CDMAX = 59;
inline constexpr uint64_t STE0_S1CTXPTR_MASK = kAddrMask52 & ~uint64_t{0x3f};
inline constexpr uint64_t STE_CFG_ABORT = 0b000, STE_CFG_BYPASS = 0b100, STE_CFG_S1 = 0b101;
// Word 1: S1DSS [1:0], S1CIR [3:2], S1COR [5:4], S1CSH [7:6], STRW [31:30],
// SHCFG [45:44]. One value for every configuration: CD fetches write-back
// inner shareable, bypass keeps incoming shareability (SHCFG=1).
inline constexpr uint64_t STE1_VALUE = put(1, 2, 2) | put(1, 4, 2) | put(3, 6, 2) | put(1, 44, 2);

// 5.4 CD word 0.
inline constexpr unsigned CD0_T0SZ = 0, CD0_TG0 = 6, CD0_IRGN0 = 8, CD0_ORGN0 = 10, CD0_SH0 = 12, CD0_IPS = 32,
                          CD0_ASID = 48;
inline constexpr uint64_t CD0_EPD1 = uint64_t{1} << 30, CD0_V = uint64_t{1} << 31, CD0_AA64 = uint64_t{1} << 41,
                          CD0_R = uint64_t{1} << 45, CD0_A = uint64_t{1} << 46, CD0_ASET = uint64_t{1} << 47;
inline constexpr uint64_t CD1_TTB0_MASK = kAddrMask52 & ~uint64_t{0xf};

// Chapter 4 command opcodes (word 0 [7:0]).
inline constexpr uint8_t CMD_CFGI_STE = 0x03, CMD_CFGI_STE_RANGE = 0x04, CMD_CFGI_CD = 0x05, CMD_TLBI_NH_ASID = 0x11,
                         CMD_TLBI_NH_VA = 0x12, CMD_TLBI_EL2_ALL = 0x20, CMD_TLBI_NSNH_ALL = 0x30, CMD_SYNC = 0x46;

// 7.3 event records: type word0 [7:0], StreamID word0 [63:32], RnW word1
// [35], input address word 2.
inline constexpr uint8_t EVT_F_UUT = 0x01, EVT_C_BAD_STREAMID = 0x02, EVT_F_STE_FETCH = 0x03, EVT_C_BAD_STE = 0x04,
                         EVT_F_STREAM_DISABLED = 0x06, EVT_C_BAD_SUBSTREAMID = 0x08, EVT_F_CD_FETCH = 0x09,
                         EVT_C_BAD_CD = 0x0a, EVT_F_WALK_EABT = 0x0b, EVT_F_TRANSLATION = 0x10,
                         EVT_F_ADDR_SIZE = 0x11, EVT_F_ACCESS = 0x12, EVT_F_PERMISSION = 0x13,
                         EVT_F_TLB_CONFLICT = 0x20, EVT_F_CFG_CONFLICT = 0x21;

}  // namespace modiommu::arm_smmu_v3
