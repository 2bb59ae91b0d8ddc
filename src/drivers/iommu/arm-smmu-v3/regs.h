// ARM SMMUv3 register, queue-entry and structure encodings the driver uses,
// from ARM IHI 0070 (as Linux's arm-smmu-v3.h keeps its own copy: a driver
// never shares headers with the hardware it drives). Every field is named
// once, position and width together (base/bitfield.h).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::arm_smmu_v3 {

// 6.2 register map: page 0, and page 1 at +64 KiB for the event queue indexes.
inline constexpr uint64_t IDR0 = 0x00, IDR1 = 0x04, IDR5 = 0x14, CR0 = 0x20, CR0ACK = 0x24, CR1 = 0x28, CR2 = 0x2c,
                          GBPA = 0x44, IRQ_CTRL = 0x50, IRQ_CTRLACK = 0x54, GERROR = 0x60, GERRORN = 0x64,
                          STRTAB_BASE = 0x80, STRTAB_BASE_CFG = 0x88, CMDQ_BASE = 0x90, CMDQ_PROD = 0x98,
                          CMDQ_CONS = 0x9c, EVTQ_BASE = 0xa0, EVTQ_PROD = 0x100a8, EVTQ_CONS = 0x100ac;
inline constexpr uint64_t kRegionSize = 0x20000;

// Physical addresses in registers and structures: bits [51:0].
using Addr52 = Bits<51, 0>;

// 6.3.1 IDR0.
namespace idr0 {
using S2P = Bit32<0>;
using S1P = Bit32<1>;
using TTF = Bits32<3, 2>;
using COHACC = Bit32<4>;
using HYP = Bit32<9>;
using ASID16 = Bit32<12>;
using VMID16 = Bit32<18>;
using TTENDIAN = Bits32<22, 21>;
using ST_LEVEL = Bits32<28, 27>;
}  // namespace idr0
// IDR0.TTF: 0b10 AArch64 tables, 0b11 AArch32 and AArch64; IDR0.TTENDIAN
// 0b11: big-endian tables only.
inline constexpr uint32_t IDR0_TTF_AARCH64 = 0b10, IDR0_TTENDIAN_BE = 0b11;
// 6.3.2 IDR1.
namespace idr1 {
using SIDSIZE = Bits32<5, 0>;
using EVENTQS = Bits32<20, 16>;
using CMDQS = Bits32<25, 21>;
using QUEUES_PRESET = Bit32<29>;
using TABLES_PRESET = Bit32<30>;
}  // namespace idr1
// 6.3.6 IDR5.
namespace idr5 {
using OAS = Bits32<2, 0>;
using GRAN4K = Bit32<4>;
using GRAN16K = Bit32<5>;
using GRAN64K = Bit32<6>;
}  // namespace idr5

// 6.3.9 CR0 (CR0ACK mirrors it once an update has taken effect).
inline constexpr uint32_t CR0_SMMUEN = Bit32<0>::mask, CR0_EVTQEN = Bit32<2>::mask, CR0_CMDQEN = Bit32<3>::mask;
// 6.3.10 CR1: queue (QUEUE_IC/OC/SH [5:0]) and table (TABLE_IC/OC/SH
// [11:6]) accesses inner/outer write-back cacheable (1), inner shareable (3).
namespace cr1 {
using QUEUE_IC = Bits32<1, 0>;
using QUEUE_OC = Bits32<3, 2>;
using QUEUE_SH = Bits32<5, 4>;
using TABLE_IC = Bits32<7, 6>;
using TABLE_OC = Bits32<9, 8>;
using TABLE_SH = Bits32<11, 10>;
}  // namespace cr1
inline constexpr uint32_t CR1_VALUE = cr1::QUEUE_IC::prep(1) | cr1::QUEUE_OC::prep(1) | cr1::QUEUE_SH::prep(3) |
                                      cr1::TABLE_IC::prep(1) | cr1::TABLE_OC::prep(1) | cr1::TABLE_SH::prep(3);
// 6.3.12 CR2: RECINVSID (record C_BAD_STREAMID), PTM (no broadcast TLBI).
inline constexpr uint32_t CR2_RECINVSID = Bit32<1>::mask, CR2_PTM = Bit32<2>::mask;
// 6.3.14 GBPA.
inline constexpr uint32_t GBPA_UPDATE = Bit32<31>::mask, GBPA_ABORT = Bit32<20>::mask;
// 6.3.16 IRQ_CTRL.
inline constexpr uint32_t IRQ_CTRL_GERROR = Bit32<0>::mask, IRQ_CTRL_EVTQ = Bit32<2>::mask;
// 6.3.18 GERROR / GERRORN.
inline constexpr uint32_t GERROR_CMDQ_ERR = Bit32<0>::mask, GERROR_EVTQ_ABT = Bit32<2>::mask,
                          GERROR_PRIQ_ABT = Bit32<3>::mask, GERROR_MSI_CMDQ_ABT = Bit32<4>::mask,
                          GERROR_MSI_EVTQ_ABT = Bit32<5>::mask, GERROR_MSI_PRIQ_ABT = Bit32<6>::mask,
                          GERROR_MSI_GERROR_ABT = Bit32<7>::mask, GERROR_SFM = Bit32<8>::mask;
inline constexpr uint32_t GERROR_ALL = GERROR_CMDQ_ERR | GERROR_EVTQ_ABT | GERROR_PRIQ_ABT | GERROR_MSI_CMDQ_ABT |
                                       GERROR_MSI_EVTQ_ABT | GERROR_MSI_PRIQ_ABT | GERROR_MSI_GERROR_ABT | GERROR_SFM;
// 6.3.23 STRTAB_BASE: RA [62], ADDR [51:6].
namespace strtab_base {
using RA = Bit<62>;
using ADDR = Bits<51, 6>;
}  // namespace strtab_base
// 6.3.24 STRTAB_BASE_CFG.
namespace strtab_cfg {
using LOG2SIZE = Bits32<5, 0>;
using SPLIT = Bits32<10, 6>;
using FMT = Bits32<17, 16>;
}  // namespace strtab_cfg
inline constexpr uint32_t STRTAB_FMT_LINEAR = 0, STRTAB_FMT_2LVL = 1;
// 6.3.25/28 queue base: RA/WA [62], ADDR [51:5], LOG2SIZE [4:0].
namespace q_base {
using RWA = Bit<62>;
using ADDR = Bits<51, 5>;
using LOG2SIZE = Bits<4, 0>;
}  // namespace q_base
// 6.3.27 CMDQ_CONS.ERR [30:24], codes from 4.7.
using CMDQ_CONS_ERR = Bits32<30, 24>;
inline constexpr uint32_t CMDQ_ERR_NONE = 0, CMDQ_ERR_ILL = 1, CMDQ_ERR_ABT = 2, CMDQ_ERR_ATC_INV_SYNC = 3;
inline constexpr uint32_t Q_OVF = Bit32<31>::mask;  // 7.4 EVENTQ_PROD.OVFLG / EVENTQ_CONS.OVACKFLG

// 3.4.3 two-level stream table: SID[n:SPLIT] indexes 8-byte level-1
// descriptors of 2^SPLIT-STE level-2 tables.
inline constexpr unsigned kStrtabSplit = 8;
inline constexpr unsigned kL1DescBytes = 8, kSteBytes = 64, kCdBytes = 64, kCmdBytes = 16, kEvtBytes = 32;
// 5.1 level-1 descriptor: L2Ptr [51:6], Span [4:0].
namespace l1std {
using L2PTR = Bits<51, 6>;
using SPAN = Bits<4, 0>;
}  // namespace l1std

// 5.2 STE, by 64-bit word.
namespace ste0 {
using V = Bit<0>;
using Config = Bits<3, 1>;
using S1Fmt = Bits<5, 4>;
using S1ContextPtr = Bits<51, 6>;
using S1CDMax = Bits<63, 59>;
}  // namespace ste0
inline constexpr uint64_t STE_CFG_ABORT = 0b000, STE_CFG_BYPASS = 0b100, STE_CFG_S1 = 0b101;
namespace ste1 {
using S1DSS = Bits<1, 0>;
using S1CIR = Bits<3, 2>;
using S1COR = Bits<5, 4>;
using S1CSH = Bits<7, 6>;
using STRW = Bits<31, 30>;
using SHCFG = Bits<45, 44>;
}  // namespace ste1
// Word 2: the stage-2 setup, S2VMID [15:0] to S2R [58]; every bit the
// SMMU reads in a stage-2 STE (VMID, T0SZ, SL0, IR0, OR0, SH0, TG, PS,
// AA64, ENDI, AFFD, PTW, HD/HA, S2S, S2R).
namespace ste2 {
using S2VMID = Bits<15, 0>;
using S2CFG = Bits<58, 32>;
inline constexpr uint64_t USED = S2VMID::mask | S2CFG::mask;
}  // namespace ste2
namespace ste3 {
using S2TTB = Bits<51, 4>;
}  // namespace ste3
// Word 1 holds one value for every configuration this driver uses: CD
// fetches write-back (S1CIR/S1COR 1) inner shareable (S1CSH 3), bypass
// keeps incoming shareability (SHCFG 1).
inline constexpr uint64_t STE1_VALUE =
    ste1::S1CIR::prep(1) | ste1::S1COR::prep(1) | ste1::S1CSH::prep(3) | ste1::SHCFG::prep(1);

// 5.4 CD, by 64-bit word.
namespace cd0 {
using T0SZ = Bits<5, 0>;
using TG0 = Bits<7, 6>;
using IRGN0 = Bits<9, 8>;
using ORGN0 = Bits<11, 10>;
using SH0 = Bits<13, 12>;
using EPD0 = Bit<14>;
using EPD1 = Bit<30>;
using V = Bit<31>;
using IPS = Bits<34, 32>;
using AA64 = Bit<41>;
using R = Bit<45>;
using A = Bit<46>;
using ASET = Bit<47>;
using ASID = Bits<63, 48>;
}  // namespace cd0
namespace cd1 {
using TTB0 = Bits<51, 4>;
}  // namespace cd1

// Chapter 4 command opcodes (word 0 [7:0]) and the fields the driver fills.
using CMD_OP = Bits<7, 0>;
inline constexpr uint8_t CMD_CFGI_STE = 0x03, CMD_CFGI_STE_RANGE = 0x04, CMD_CFGI_CD = 0x05, CMD_TLBI_NH_ASID = 0x11,
                         CMD_TLBI_NH_VA = 0x12, CMD_TLBI_EL2_ALL = 0x20, CMD_TLBI_NSNH_ALL = 0x30, CMD_SYNC = 0x46;
namespace cmd {
using SID = Bits<63, 32>;    // 4.3.1 CFGI_STE word 0
using LEAF = Bit<0>;         // 4.3.1 CFGI_STE, 4.4.3 TLBI_NH_VA word 1
using RANGE = Bits<4, 0>;    // 4.3.2 CFGI_STE_RANGE word 1 (31: all)
using ASID = Bits<63, 48>;   // 4.4.2/4.4.3 TLBI_NH_* word 0
using ADDR = Bits<63, 12>;   // 4.4.3 TLBI_NH_VA word 1
}  // namespace cmd

// 7.3 event records: type word0 [7:0], StreamID word0 [63:32], RnW word1 [35].
namespace evt {
using TYPE = Bits<7, 0>;
using SID = Bits<63, 32>;
using RNW = Bit<35>;
}  // namespace evt
inline constexpr uint8_t EVT_F_UUT = 0x01, EVT_C_BAD_STREAMID = 0x02, EVT_F_STE_FETCH = 0x03, EVT_C_BAD_STE = 0x04,
                         EVT_F_STREAM_DISABLED = 0x06, EVT_C_BAD_SUBSTREAMID = 0x08, EVT_F_CD_FETCH = 0x09,
                         EVT_C_BAD_CD = 0x0a, EVT_F_WALK_EABT = 0x0b, EVT_F_TRANSLATION = 0x10,
                         EVT_F_ADDR_SIZE = 0x11, EVT_F_ACCESS = 0x12, EVT_F_PERMISSION = 0x13,
                         EVT_F_TLB_CONFLICT = 0x20, EVT_F_CFG_CONFLICT = 0x21;

}  // namespace modiommu::arm_smmu_v3
