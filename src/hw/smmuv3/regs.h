// SMMUv3 register offsets, field positions and structure layouts
// (ARM IHI 0070, chapter 6 registers, chapter 5 STE/CD, 4 commands, 7.3 events),
// as the hardware implements them. Every field is named once, position and
// width together (base/bitfield.h); get() masks, so guest values are safe.
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::hw::smmuv3 {

// 6.2: page 0 registers.
enum Reg : uint64_t {
  IDR0 = 0x00, IDR1 = 0x04, IDR2 = 0x08, IDR3 = 0x0c, IDR4 = 0x10, IDR5 = 0x14, IIDR = 0x18, AIDR = 0x1c,
  CR0 = 0x20, CR0ACK = 0x24, CR1 = 0x28, CR2 = 0x2c, STATUSR = 0x40, GBPA = 0x44, AGBPA = 0x48,
  IRQ_CTRL = 0x50, IRQ_CTRLACK = 0x54, GERROR = 0x60, GERRORN = 0x64, GERROR_IRQ_CFG0 = 0x68,
  GERROR_IRQ_CFG1 = 0x70, GERROR_IRQ_CFG2 = 0x74, STRTAB_BASE = 0x80, STRTAB_BASE_CFG = 0x88,
  CMDQ_BASE = 0x90, CMDQ_PROD = 0x98, CMDQ_CONS = 0x9c, EVENTQ_BASE = 0xa0, EVENTQ_PROD_P0 = 0xa8,
  EVENTQ_CONS_P0 = 0xac, EVENTQ_IRQ_CFG0 = 0xb0, EVENTQ_IRQ_CFG1 = 0xb8, EVENTQ_IRQ_CFG2 = 0xbc,
  // 6.2: the event queue PROD/CONS live in page 1 (offset 0x10000 + 0xa8/0xac).
  PAGE1 = 0x10000, EVENTQ_PROD = PAGE1 + 0xa8, EVENTQ_CONS = PAGE1 + 0xac,
};
constexpr uint64_t kRegionSize = 0x20000;  // page 0 + page 1, 64 KiB each

// IDR0 (6.3.1)
namespace idr0 {
using S2P = Bit32<0>;
using S1P = Bit32<1>;
using TTF = Bits32<3, 2>;
using COHACC = Bit32<4>;
using HYP = Bit32<9>;
using ASID16 = Bit32<12>;
using MSI = Bit32<13>;
using SEV = Bit32<14>;
using VMID16 = Bit32<18>;
using CD2L = Bit32<19>;
using TTENDIAN = Bits32<22, 21>;
using STALL_MODEL = Bits32<25, 24>;
using TERM_MODEL = Bit32<26>;
using ST_LEVEL = Bits32<28, 27>;
}  // namespace idr0
// IDR1 (6.3.2)
namespace idr1 {
using SIDSIZE = Bits32<5, 0>;
using SSIDSIZE = Bits32<10, 6>;
using PRIQS = Bits32<15, 11>;
using EVENTQS = Bits32<20, 16>;
using CMDQS = Bits32<25, 21>;
}  // namespace idr1
// IDR5 (6.3.6)
namespace idr5 {
using OAS = Bits32<2, 0>;
using GRAN4K = Bit32<4>;
using GRAN16K = Bit32<5>;
using GRAN64K = Bit32<6>;
}  // namespace idr5

// CR0 (6.3.9)
constexpr uint32_t CR0_SMMUEN = Bit32<0>::mask, CR0_PRIQEN = Bit32<1>::mask, CR0_EVENTQEN = Bit32<2>::mask,
                   CR0_CMDQEN = Bit32<3>::mask, CR0_ATSCHK = Bit32<4>::mask;
// GBPA (6.3.14)
constexpr uint32_t GBPA_UPDATE = Bit32<31>::mask, GBPA_ABORT = Bit32<20>::mask;
// IRQ_CTRL (6.3.16)
constexpr uint32_t IRQ_GERROR = Bit32<0>::mask, IRQ_PRIQ = Bit32<1>::mask, IRQ_EVENTQ = Bit32<2>::mask;
// GERROR (6.3.18)
constexpr uint32_t GERROR_CMDQ_ERR = Bit32<0>::mask, GERROR_EVENTQ_ABT_ERR = Bit32<2>::mask,
                   GERROR_PRIQ_ABT_ERR = Bit32<3>::mask, GERROR_SFM_ERR = Bit32<8>::mask;
// STRTAB_BASE (6.3.23): ADDR [51:6].
using STRTAB_BASE_ADDR = Bits<51, 6>;
// STRTAB_BASE_CFG (6.3.24)
namespace strtab_cfg {
using LOG2SIZE = Bits32<5, 0>;
using SPLIT = Bits32<10, 6>;
using FMT = Bits32<17, 16>;
}  // namespace strtab_cfg
constexpr uint32_t STRTAB_FMT_LINEAR = 0, STRTAB_FMT_2LVL = 1;
// Level-1 stream table descriptor (5.1): L2Ptr [51:6], Span [4:0].
namespace l1std {
using L2PTR = Bits<51, 6>;
using SPAN = Bits<4, 0>;
}  // namespace l1std
// Queue base registers (6.3.25, 6.3.28): ADDR [51:5], LOG2SIZE [4:0].
namespace q_base {
using ADDR = Bits<51, 5>;
using LOG2SIZE = Bits<4, 0>;
}  // namespace q_base
// Queue PROD/CONS (6.3.26-27, 6.3.29-30): index and wrap bit in [19:0] at
// most (log2 size <= 19), CMDQ_CONS.ERR [30:24] (codes from 4.7),
// EVENTQ_PROD.OVFLG / EVENTQ_CONS.OVACKFLG [31].
using Q_INDEX_WRAP = Bits32<19, 0>;
using CMDQ_CONS_ERR = Bits32<30, 24>;
enum CmdError : uint32_t { CERROR_NONE = 0, CERROR_ILL = 1, CERROR_ABT = 2, CERROR_ATC_INV_SYNC = 3 };
constexpr uint32_t Q_OVFLG = Bit32<31>::mask;

// Structure sizes.
constexpr unsigned kCmdBytes = 16, kEventBytes = 32, kSteBytes = 64, kCdBytes = 64, kL1StdBytes = 8;

// STE (5.2), as four 64-bit words of the first 256 bits.
namespace ste0 {
using V = Bit<0>;
using Config = Bits<3, 1>;
using S1Fmt = Bits<5, 4>;
using S1ContextPtr = Bits<51, 6>;
using S1CDMax = Bits<63, 59>;
}  // namespace ste0
namespace ste1 {
using S1DSS = Bits<1, 0>;
}  // namespace ste1
namespace ste2 {
using S2VMID = Bits<15, 0>;
using S2T0SZ = Bits<37, 32>;
using S2SL0 = Bits<39, 38>;
using S2TG = Bits<47, 46>;
using S2PS = Bits<50, 48>;
using S2AA64 = Bit<51>;
using S2R = Bit<58>;
}  // namespace ste2
namespace ste3 {
using S2TTB = Bits<51, 4>;
}  // namespace ste3
enum SteConfig : unsigned {
  STE_CFG_ABORT = 0b000, STE_CFG_BYPASS = 0b100, STE_CFG_S1 = 0b101, STE_CFG_S2 = 0b110, STE_CFG_NESTED = 0b111,
};

// CD (5.4), first 256 bits.
namespace cd0 {
using T0SZ = Bits<5, 0>;
using TG0 = Bits<7, 6>;
using EPD0 = Bit<14>;
using V = Bit<31>;
using IPS = Bits<34, 32>;
using AA64 = Bit<41>;
using R = Bit<45>;
using ASID = Bits<63, 48>;
}  // namespace cd0
namespace cd1 {
using TTB0 = Bits<51, 4>;
}  // namespace cd1

// Commands (4.1 - 4.7): opcode in word0 [7:0]; the fields the model reads.
namespace cmd0 {
using OP = Bits<7, 0>;
using SYNC_CS = Bits<13, 12>;  // 4.7.3
using SID = Bits<63, 32>;      // CFGI_*, PREFETCH_*
using VMID = Bits<47, 32>;     // TLBI_*
using ASID = Bits<63, 48>;     // TLBI_NH_*
}  // namespace cmd0
namespace cmd1 {
using RANGE = Bits<4, 0>;   // 4.3.2 CFGI_STE_RANGE
using ADDR = Bits<63, 12>;  // 4.4.1 TLBI_*_VA
using IPA = Bits<51, 12>;   // 4.4.9 TLBI_S2_IPA
}  // namespace cmd1
enum Opcode : uint8_t {
  CMD_PREFETCH_CONFIG = 0x01, CMD_PREFETCH_ADDR = 0x02, CMD_CFGI_STE = 0x03, CMD_CFGI_STE_RANGE = 0x04,
  CMD_CFGI_CD = 0x05, CMD_CFGI_CD_ALL = 0x06, CMD_TLBI_NH_ALL = 0x10, CMD_TLBI_NH_ASID = 0x11,
  CMD_TLBI_NH_VA = 0x12, CMD_TLBI_NH_VAA = 0x13, CMD_TLBI_EL3_ALL = 0x18, CMD_TLBI_EL3_VA = 0x1a,
  CMD_TLBI_EL2_ALL = 0x20, CMD_TLBI_EL2_ASID = 0x21, CMD_TLBI_EL2_VA = 0x22, CMD_TLBI_EL2_VAA = 0x23,
  CMD_TLBI_S12_VMALL = 0x28, CMD_TLBI_S2_IPA = 0x2a, CMD_TLBI_NSNH_ALL = 0x30, CMD_ATC_INV = 0x40,
  CMD_PRI_RESP = 0x41, CMD_RESUME = 0x44, CMD_STALL_TERM = 0x45, CMD_SYNC = 0x46,
};
// CMD_SYNC.CS (4.7.3)
enum SyncCs : unsigned { SYNC_SIG_NONE = 0, SYNC_SIG_IRQ = 1, SYNC_SIG_SEV = 2 };

// Event record types (7.3).
enum EventType : uint8_t {
  F_UUT = 0x01, C_BAD_STREAMID = 0x02, F_STE_FETCH = 0x03, C_BAD_STE = 0x04, F_STREAM_DISABLED = 0x06,
  C_BAD_SUBSTREAMID = 0x08, F_CD_FETCH = 0x09, C_BAD_CD = 0x0a, F_WALK_EABT = 0x0b, F_TRANSLATION = 0x10,
  F_ADDR_SIZE = 0x11, F_ACCESS = 0x12, F_PERMISSION = 0x13,
};
// Event CLASS field (7.3.12): what was being accessed when the fault happened.
enum EventClass : unsigned { CLASS_CD = 0b00, CLASS_TT = 0b01, CLASS_IN = 0b10 };
// Event record layout (7.3): word 2 is the input address.
namespace evt0 {
using TYPE = Bits<7, 0>;
using SSV = Bit<11>;
using SUBSTREAMID = Bits<31, 12>;
using SID = Bits<63, 32>;
}  // namespace evt0
namespace evt1 {
using RNW = Bit<35>;
using S2 = Bit<39>;
using CLASS = Bits<41, 40>;
}  // namespace evt1
namespace evt3 {
using IPA = Bits<51, 12>;         // F_TRANSLATION..F_PERMISSION with S2=1
using FETCH_ADDR = Bits<51, 3>;   // F_STE_FETCH, F_CD_FETCH, F_WALK_EABT
}  // namespace evt3

// Decoded view of a 32-byte event record, for tests and tools.
struct Event {
  uint8_t type = 0;
  uint32_t stream_id = 0;
  uint32_t substream_id = 0;
  bool ssv = false;
  bool rnw = false;  // 1 = read
  bool s2 = false;
  unsigned cls = 0;
  uint64_t input_addr = 0;
  uint64_t ipa = 0;         // F_TRANSLATION..F_PERMISSION with S2=1
  uint64_t fetch_addr = 0;  // F_STE_FETCH, F_CD_FETCH, F_WALK_EABT
  static Event decode(const uint64_t w[4]);
};

inline Event Event::decode(const uint64_t w[4]) {
  Event e;
  e.type = static_cast<uint8_t>(evt0::TYPE::get(w[0]));
  e.ssv = evt0::SSV::is_set(w[0]);
  e.substream_id = static_cast<uint32_t>(evt0::SUBSTREAMID::get(w[0]));
  e.stream_id = static_cast<uint32_t>(evt0::SID::get(w[0]));
  e.rnw = evt1::RNW::is_set(w[1]);
  e.s2 = evt1::S2::is_set(w[1]);
  e.cls = static_cast<unsigned>(evt1::CLASS::get(w[1]));
  e.input_addr = w[2];
  e.ipa = w[3] & evt3::IPA::mask;
  e.fetch_addr = w[3] & evt3::FETCH_ADDR::mask;
  return e;
}

}  // namespace modiommu::hw::smmuv3
