// SMMUv3 register offsets, field positions and structure layouts
// (ARM IHI 0070, chapter 6 registers, chapter 5 STE/CD, 4 commands, 7.3 events).
#pragma once

#include <cstdint>

namespace modiommu::hw::smmuv3 {

constexpr uint64_t field(uint64_t v, unsigned lo, unsigned width) {
  return (v >> lo) & ((width >= 64) ? ~uint64_t{0} : (uint64_t{1} << width) - 1);
}

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
constexpr unsigned IDR0_S2P = 0, IDR0_S1P = 1, IDR0_TTF = 2, IDR0_COHACC = 4, IDR0_HYP = 9, IDR0_ASID16 = 12,
                   IDR0_MSI = 13, IDR0_SEV = 14, IDR0_VMID16 = 18, IDR0_CD2L = 19, IDR0_TTENDIAN = 21,
                   IDR0_STALL_MODEL = 24, IDR0_TERM_MODEL = 26, IDR0_ST_LEVEL = 27;
// IDR1 (6.3.2)
constexpr unsigned IDR1_SIDSIZE = 0, IDR1_SSIDSIZE = 6, IDR1_PRIQS = 11, IDR1_EVENTQS = 16, IDR1_CMDQS = 21;
// IDR5 (6.3.6)
constexpr unsigned IDR5_OAS = 0, IDR5_GRAN4K = 4, IDR5_GRAN16K = 5, IDR5_GRAN64K = 6;

// CR0 (6.3.9)
constexpr uint32_t CR0_SMMUEN = 1u << 0, CR0_PRIQEN = 1u << 1, CR0_EVENTQEN = 1u << 2, CR0_CMDQEN = 1u << 3,
                   CR0_ATSCHK = 1u << 4;
// GBPA (6.3.14)
constexpr uint32_t GBPA_UPDATE = 1u << 31, GBPA_ABORT = 1u << 20;
// IRQ_CTRL (6.3.16)
constexpr uint32_t IRQ_GERROR = 1u << 0, IRQ_PRIQ = 1u << 1, IRQ_EVENTQ = 1u << 2;
// GERROR (6.3.18)
constexpr uint32_t GERROR_CMDQ_ERR = 1u << 0, GERROR_EVENTQ_ABT_ERR = 1u << 2, GERROR_PRIQ_ABT_ERR = 1u << 3,
                   GERROR_SFM_ERR = 1u << 8;
// STRTAB_BASE_CFG (6.3.24)
constexpr unsigned STRTAB_LOG2SIZE = 0, STRTAB_SPLIT = 6, STRTAB_FMT = 16;
// Queue base registers (6.3.25, 6.3.28): ADDR [51:5], LOG2SIZE [4:0].
constexpr uint64_t kQueueAddrMask = ((uint64_t{1} << 52) - 1) & ~uint64_t{0x1f};
// CMDQ_CONS.ERR (6.3.27), codes from 4.7.
constexpr unsigned CMDQ_CONS_ERR = 24;
enum CmdError : uint32_t { CERROR_NONE = 0, CERROR_ILL = 1, CERROR_ABT = 2, CERROR_ATC_INV_SYNC = 3 };
constexpr uint32_t Q_OVFLG = 1u << 31;  // EVENTQ_PROD.OVFLG / EVENTQ_CONS.OVACKFLG

// Structure sizes.
constexpr unsigned kCmdBytes = 16, kEventBytes = 32, kSteBytes = 64, kCdBytes = 64, kL1StdBytes = 8;

// STE (5.2), as four 64-bit words of the first 256 bits.
enum SteConfig : unsigned {
  STE_CFG_ABORT = 0b000, STE_CFG_BYPASS = 0b100, STE_CFG_S1 = 0b101, STE_CFG_S2 = 0b110, STE_CFG_NESTED = 0b111,
};

// Commands (4.1 - 4.7): opcode in word0 [7:0].
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
  // 7.3: word0 type [7:0], SSV [11], SubstreamID [31:12], StreamID [63:32];
  // word1 RnW [35], S2 [39], CLASS [41:40]; word2 input address; word3
  // IPA [51:12] (translation faults) or FetchAddr [51:3].
  Event e;
  e.type = static_cast<uint8_t>(field(w[0], 0, 8));
  e.ssv = field(w[0], 11, 1);
  e.substream_id = static_cast<uint32_t>(field(w[0], 12, 20));
  e.stream_id = static_cast<uint32_t>(field(w[0], 32, 32));
  e.rnw = field(w[1], 35, 1);
  e.s2 = field(w[1], 39, 1);
  e.cls = static_cast<unsigned>(field(w[1], 40, 2));
  e.input_addr = w[2];
  e.ipa = w[3] & (((uint64_t{1} << 52) - 1) & ~uint64_t{0xfff});
  e.fetch_addr = w[3] & (((uint64_t{1} << 52) - 1) & ~uint64_t{0x7});
  return e;
}

}  // namespace modiommu::hw::smmuv3
