// SMMUv3 register file, command queue and GERROR (IHI 0070 chapters 4 and 6).
#include <algorithm>

#include "base/fault_inject.h"
#include "hw/smmuv3/smmuv3.h"

namespace modiommu::hw::smmuv3 {
namespace {

constexpr unsigned kIrqEventq = 1, kIrqGerror = 2, kIrqSync = 4;

unsigned oas_encoding(unsigned bits) {
  switch (bits) {
    case 32: return 0;
    case 36: return 1;
    case 40: return 2;
    case 42: return 3;
    case 44: return 4;
    default: return 5;  // 48
  }
}

// Queue index arithmetic (IHI 0070 3.5): an index of log2 bits plus a wrap
// bit just above it.
uint32_t q_idx(uint32_t v, unsigned log2) { return v & ((1u << log2) - 1); }
uint32_t q_inc(uint32_t v, unsigned log2) { return (v + 1) & ((2u << log2) - 1); }

}  // namespace

SmmuV3::SmmuV3(std::string name, PhysicalMemory& mem, Features features, Irqs irqs)
    : name_(std::move(name)), mem_(mem), feat_(features), irqs_(irqs), tlb_(std::max<size_t>(features.iotlb_capacity, 1)) {
  auto& f = const_cast<Features&>(feat_);
  f.sid_bits = std::min(f.sid_bits, 32u);
  f.ssid_bits = std::min(f.ssid_bits, 20u);
  f.cmdq_log2 = std::clamp(f.cmdq_log2, 1u, 19u);
  f.eventq_log2 = std::clamp(f.eventq_log2, 1u, 19u);
  f.oas_bits = std::clamp(f.oas_bits, 32u, 48u);
  if (f.iotlb_capacity == 0) f.iotlb_capacity = 1;
}

SmmuV3::~SmmuV3() = default;

Stats SmmuV3::stats() const {
  Stats s;
  s.tlb_hits = tlb_hits_.load(std::memory_order_relaxed);
  s.tlb_misses = tlb_misses_.load(std::memory_order_relaxed);
  s.cfg_misses = cfg_misses_.load(std::memory_order_relaxed);
  s.events = events_.load(std::memory_order_relaxed);
  s.events_lost = events_lost_.load(std::memory_order_relaxed);
  s.commands = commands_.load(std::memory_order_relaxed);
  s.syncs = syncs_.load(std::memory_order_relaxed);
  s.sevs = sevs_.load(std::memory_order_relaxed);
  return s;
}

void SmmuV3::fire(unsigned irqs) {
  if ((irqs & kIrqEventq) && irqs_.eventq) irqs_.eventq->raise();
  if ((irqs & kIrqGerror) && irqs_.gerror) irqs_.gerror->raise();
  if ((irqs & kIrqSync) && irqs_.cmdq_sync) irqs_.cmdq_sync->raise();
}

bool SmmuV3::gerror_active(uint32_t bit) const {
  return ((gerror_.load(std::memory_order_acquire) ^ gerrorn_.load(std::memory_order_acquire)) & bit) != 0;
}

// IHI 0070 6.3.18: an error is active while GERROR and GERRORN differ in its
// bit; the SMMU toggles GERROR to activate, software toggles GERRORN to ack.
// A condition recurring while active is not signalled again.
void SmmuV3::gerror_raise(uint32_t bit, unsigned& irqs) {
  uint32_t cur = gerror_.load(std::memory_order_acquire);
  for (;;) {
    if ((cur ^ gerrorn_.load(std::memory_order_acquire)) & bit) return;
    if (gerror_.compare_exchange_weak(cur, cur ^ bit, std::memory_order_acq_rel)) break;
  }
  if (irq_ctrl_mirror_.load(std::memory_order_acquire) & IRQ_GERROR) irqs |= kIrqGerror;
}

uint64_t SmmuV3::read(uint64_t offset, unsigned size) {
  if ((size != 4 && size != 8) || offset >= kRegionSize) return 0;
  std::lock_guard g(regs_lock_);
  uint64_t v = read32_locked(offset);
  if (size == 8) v |= uint64_t{read32_locked(offset + 4)} << 32;
  return v;
}

void SmmuV3::write(uint64_t offset, uint64_t value, unsigned size) {
  if ((size != 4 && size != 8) || offset >= kRegionSize) return;
  unsigned irqs = 0;
  {
    std::lock_guard g(regs_lock_);
    if (size == 8) {
      // A 64-bit write to a 64-bit register is one update (the high half
      // first keeps e.g. a base address consistent before LOG2SIZE users run).
      write32_locked(offset + 4, static_cast<uint32_t>(value >> 32), irqs);
      write32_locked(offset, static_cast<uint32_t>(value), irqs);
    } else {
      write32_locked(offset, static_cast<uint32_t>(value), irqs);
    }
  }
  fire(irqs);
}

uint32_t SmmuV3::read32_locked(uint64_t off) {
  auto lo = [](uint64_t v) { return static_cast<uint32_t>(v); };
  auto hi = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  switch (off) {
    case IDR0: {
      // 6.3.1. TTF=0b10 AArch64 tables; COHACC; ASID16; VMID16; TTENDIAN=0b10
      // little-endian; STALL_MODEL=0b01 no stall; TERM_MODEL=1 always abort.
      return idr0::S2P::prep(feat_.stage2) | idr0::S1P::prep(feat_.stage1) | idr0::TTF::prep(2) |
             idr0::COHACC::mask | idr0::HYP::prep(feat_.hyp) | idr0::ASID16::mask | idr0::SEV::prep(feat_.sev) |
             idr0::VMID16::mask | idr0::TTENDIAN::prep(2) | idr0::STALL_MODEL::prep(1) | idr0::TERM_MODEL::mask |
             idr0::ST_LEVEL::prep(feat_.two_level_strtab);
    }
    case IDR1:
      return idr1::SIDSIZE::prep(feat_.sid_bits) | idr1::SSIDSIZE::prep(feat_.ssid_bits) |
             idr1::EVENTQS::prep(feat_.eventq_log2) | idr1::CMDQS::prep(feat_.cmdq_log2);
    case IDR5:
      return idr5::OAS::prep(oas_encoding(feat_.oas_bits)) | idr5::GRAN4K::prep(feat_.gran4k) |
             idr5::GRAN16K::prep(feat_.gran16k) | idr5::GRAN64K::prep(feat_.gran64k);
    case IIDR: return 0x43b;  // Implementer = Arm (JEP106 0x43B)
    case AIDR: return 0;      // SMMUv3.0
    case CR0: return cr0_;
    case CR0ACK: return cr0_;  // updates complete at once
    case CR1: return cr1_;
    case CR2: return cr2_;
    case GBPA: return gbpa_;  // UPDATE always reads 0: updates complete at once
    case IRQ_CTRL:
    case IRQ_CTRLACK: return irq_ctrl_;
    case GERROR: return gerror_.load(std::memory_order_acquire);
    case GERRORN: return gerrorn_.load(std::memory_order_acquire);
    case GERROR_IRQ_CFG0: return lo(gerror_irq_cfg0_);
    case GERROR_IRQ_CFG0 + 4: return hi(gerror_irq_cfg0_);
    case GERROR_IRQ_CFG1: return gerror_irq_cfg1_;
    case GERROR_IRQ_CFG2: return gerror_irq_cfg2_;
    case STRTAB_BASE: return lo(strtab_base_);
    case STRTAB_BASE + 4: return hi(strtab_base_);
    case STRTAB_BASE_CFG: return strtab_cfg_;
    case CMDQ_BASE: return lo(cmdq_base_);
    case CMDQ_BASE + 4: return hi(cmdq_base_);
    case CMDQ_PROD: return cmdq_prod_;
    case CMDQ_CONS: return cmdq_cons_;
    case EVENTQ_IRQ_CFG0: return lo(eventq_irq_cfg0_);
    case EVENTQ_IRQ_CFG0 + 4: return hi(eventq_irq_cfg0_);
    case EVENTQ_IRQ_CFG1: return eventq_irq_cfg1_;
    case EVENTQ_IRQ_CFG2: return eventq_irq_cfg2_;
    case EVENTQ_BASE:
    case EVENTQ_BASE + 4:
    case EVENTQ_PROD:
    case EVENTQ_CONS: {
      std::lock_guard e(evtq_lock_);
      if (off == EVENTQ_BASE) return lo(eventq_base_);
      if (off == EVENTQ_BASE + 4) return hi(eventq_base_);
      return off == EVENTQ_PROD ? eventq_prod_ : eventq_cons_;
    }
    default: return 0;  // IDR2-4, STATUSR, unimplemented and reserved: RAZ
  }
}

void SmmuV3::write32_locked(uint64_t off, uint32_t v, unsigned& irqs) {
  auto set_lo = [](uint64_t& r, uint32_t x) { r = (r & ~0xffffffffull) | x; };
  auto set_hi = [](uint64_t& r, uint32_t x) { r = (r & 0xffffffffull) | (uint64_t{x} << 32); };
  const bool smmuen = cr0_ & CR0_SMMUEN, cmdqen = cr0_ & CR0_CMDQEN, eventqen = cr0_ & CR0_EVENTQEN;
  switch (off) {
    case CR0: {
      // 6.3.9; PRIQ is not implemented so PRIQEN is RES0.
      const uint32_t old = cr0_;
      cr0_ = v & (CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN | CR0_ATSCHK);
      if ((cr0_ ^ old) & CR0_SMMUEN) {
        smmuen_.store(cr0_ & CR0_SMMUEN, std::memory_order_release);
      }
      {
        std::lock_guard e(evtq_lock_);
        eventq_en_.store(cr0_ & CR0_EVENTQEN, std::memory_order_release);
      }
      if ((cr0_ & CR0_CMDQEN) && !(old & CR0_CMDQEN)) process_cmdq_locked(irqs);
      break;
    }
    case CR1: if (!smmuen && !cmdqen && !eventqen) cr1_ = v; break;  // 6.3.10: writable only with all disabled
    case CR2: if (!smmuen) cr2_ = v & 7; break;
    case GBPA:
      // 6.3.14: a write takes effect only with UPDATE set; it completes at
      // once, so UPDATE reads back 0. Writes without UPDATE are ignored.
      if (v & GBPA_UPDATE) {
        gbpa_ = v & 0x001fff7fu;  // ABORT, INSTCFG, PRIVCFG, SHCFG, ALLOCCFG, MTCFG, MemAttr
        gbpa_abort_.store(gbpa_ & GBPA_ABORT, std::memory_order_release);
      }
      break;
    case IRQ_CTRL:
      irq_ctrl_ = v & (IRQ_GERROR | IRQ_EVENTQ);
      irq_ctrl_mirror_.store(irq_ctrl_, std::memory_order_release);
      break;
    case GERRORN: {
      // Bits of implemented errors only; acking CMDQ_ERR resumes the queue
      // (IHI 0070 7.1).
      const uint32_t mask = GERROR_CMDQ_ERR | GERROR_EVENTQ_ABT_ERR | GERROR_SFM_ERR;
      const bool was_cmdq_err = gerror_active(GERROR_CMDQ_ERR);
      gerrorn_.store(v & mask, std::memory_order_release);
      if (was_cmdq_err && !gerror_active(GERROR_CMDQ_ERR)) process_cmdq_locked(irqs);
      break;
    }
    case GERROR_IRQ_CFG0: set_lo(gerror_irq_cfg0_, v); break;
    case GERROR_IRQ_CFG0 + 4: set_hi(gerror_irq_cfg0_, v); break;
    case GERROR_IRQ_CFG1: gerror_irq_cfg1_ = v; break;
    case GERROR_IRQ_CFG2: gerror_irq_cfg2_ = v; break;
    // 6.3.23-24: the stream table registers are ignored while SMMUEN=1.
    case STRTAB_BASE: if (!smmuen) set_lo(strtab_base_, v); break;
    case STRTAB_BASE + 4: if (!smmuen) set_hi(strtab_base_, v); break;
    case STRTAB_BASE_CFG:
      if (!smmuen) strtab_cfg_ = v & (strtab_cfg::FMT::mask | strtab_cfg::SPLIT::mask | strtab_cfg::LOG2SIZE::mask);
      break;
    // 6.3.25-27: base and CONS are writable only while the queue is disabled.
    case CMDQ_BASE: if (!cmdqen) set_lo(cmdq_base_, v); break;
    case CMDQ_BASE + 4: if (!cmdqen) set_hi(cmdq_base_, v); break;
    case CMDQ_PROD:
      cmdq_prod_ = v & 0xfffff;  // WR [19:0]: index + wrap for up to 2^19 entries
      process_cmdq_locked(irqs);
      break;
    case CMDQ_CONS: if (!cmdqen) cmdq_cons_ = v & 0x7f0fffff; break;
    case EVENTQ_IRQ_CFG0: set_lo(eventq_irq_cfg0_, v); break;
    case EVENTQ_IRQ_CFG0 + 4: set_hi(eventq_irq_cfg0_, v); break;
    case EVENTQ_IRQ_CFG1: eventq_irq_cfg1_ = v; break;
    case EVENTQ_IRQ_CFG2: eventq_irq_cfg2_ = v; break;
    case EVENTQ_BASE:
    case EVENTQ_BASE + 4:
    case EVENTQ_PROD:
    case EVENTQ_CONS: {
      std::lock_guard e(evtq_lock_);
      if (off == EVENTQ_BASE && !eventqen) set_lo(eventq_base_, v);
      else if (off == EVENTQ_BASE + 4 && !eventqen) set_hi(eventq_base_, v);
      else if (off == EVENTQ_PROD && !eventqen) eventq_prod_ = v & (Q_OVFLG | Q_INDEX_WRAP::mask);
      else if (off == EVENTQ_CONS) eventq_cons_ = v & (Q_OVFLG | Q_INDEX_WRAP::mask);  // RD + OVACKFLG
      break;
    }
    default: break;  // read-only or reserved: WI
  }
}

// IHI 0070 3.5 / 4: consume commands from CONS up to PROD. An error stops the
// queue with CONS at the failing command and CMDQ_CONS.ERR set until software
// acks GERROR.CMDQ_ERR (7.1).
void SmmuV3::process_cmdq_locked(unsigned& irqs) {
  if (!(cr0_ & CR0_CMDQEN) || gerror_active(GERROR_CMDQ_ERR)) return;
  // Fault point: the queue stalls this time (CONS stays; a CMD_SYNC waiting
  // on it times out); the next PROD write resumes it.
  if (fault_point("smmuv3.cmdq.stall")) return;
  // LOG2SIZE above IDR1.CMDQS behaves as CMDQS (6.3.25: we pick the
  // permitted "treated as the maximum" behaviour).
  const unsigned log2 = std::min<unsigned>(static_cast<unsigned>(q_base::LOG2SIZE::get(cmdq_base_)), feat_.cmdq_log2);
  const uint64_t base = cmdq_base_ & q_base::ADDR::mask;
  const uint32_t mask = (2u << log2) - 1;
  uint32_t cons = cmdq_cons_ & mask;
  const uint32_t prod = cmdq_prod_ & mask;
  bool consumed = false;
  while (cons != prod) {
    uint64_t cmd[2];
    CmdError err = CERROR_NONE;
    if (!mem_.read(base + uint64_t{q_idx(cons, log2)} * kCmdBytes, cmd, sizeof cmd)) err = CERROR_ABT;
    else err = exec_cmd_locked(cmd, irqs);
    if (err != CERROR_NONE) {
      cmdq_cons_ = cons | CMDQ_CONS_ERR::prep(err);
      gerror_raise(GERROR_CMDQ_ERR, irqs);
      return;
    }
    commands_.fetch_add(1, std::memory_order_relaxed);
    cons = q_inc(cons, log2);
    consumed = true;
  }
  if (consumed || !CMDQ_CONS_ERR::get(cmdq_cons_)) cmdq_cons_ = cons;
}

CmdError SmmuV3::exec_cmd_locked(const uint64_t cmd[2], unsigned& irqs) {
  const uint8_t op = static_cast<uint8_t>(cmd0::OP::get(cmd[0]));
  const uint32_t sid = static_cast<uint32_t>(cmd0::SID::get(cmd[0]));
  const bool sid_ok = feat_.sid_bits >= 32 || (uint64_t{sid} >> feat_.sid_bits) == 0;
  const uint16_t vmid = static_cast<uint16_t>(cmd0::VMID::get(cmd[0]));
  const uint16_t asid = static_cast<uint16_t>(cmd0::ASID::get(cmd[0]));
  const uint64_t addr = cmd[1] & cmd1::ADDR::mask;
  switch (op) {
    case CMD_PREFETCH_CONFIG:
    case CMD_PREFETCH_ADDR:
      // 4.2: hints; a model may ignore them, but a bad SID is still illegal.
      return sid_ok ? CERROR_NONE : CERROR_ILL;
    case CMD_CFGI_STE:  // 4.3.1
    case CMD_CFGI_CD:   // 4.3.3: the CD is folded into the cached stream config
    case CMD_CFGI_CD_ALL:
      if (!sid_ok) return CERROR_ILL;
      cfg_invalidate(sid, 1);
      return CERROR_NONE;
    case CMD_CFGI_STE_RANGE: {
      // 4.3.2: 2^(Range+1) STEs from SID aligned down; Range=31 is CFGI_ALL.
      const unsigned range = static_cast<unsigned>(cmd1::RANGE::get(cmd[1]));
      const uint64_t n = uint64_t{2} << range;
      cfg_invalidate(static_cast<uint32_t>(sid & ~(n - 1)), n);
      return CERROR_NONE;
    }
    // 4.4: stage-1 invalidations, by VMID of the stream (0 when unused).
    case CMD_TLBI_NH_ALL:
      if (!feat_.stage1) return CERROR_ILL;
      tlb_invalidate_if([&](uint64_t tag, uint64_t) { return tag_kind(tag) != kS2 && tag_vmid(tag) == vmid; });
      return CERROR_NONE;
    case CMD_TLBI_NH_ASID:
      if (!feat_.stage1) return CERROR_ILL;
      tlb_invalidate_if([&](uint64_t tag, uint64_t) {
        return tag_kind(tag) != kS2 && tag_vmid(tag) == vmid && tag_asid(tag) == asid;
      });
      return CERROR_NONE;
    case CMD_TLBI_NH_VA:
      if (!feat_.stage1) return CERROR_ILL;
      tlb_invalidate_va(kS1, vmid, asid, addr);
      tlb_invalidate_va(kNested, vmid, asid, addr);
      return CERROR_NONE;
    case CMD_TLBI_NH_VAA:
      if (!feat_.stage1) return CERROR_ILL;
      tlb_invalidate_if([&](uint64_t tag, uint64_t page) {
        return tag_kind(tag) != kS2 && tag_vmid(tag) == vmid && page == (addr >> tag_size(tag));
      });
      return CERROR_NONE;
    case CMD_TLBI_EL2_ALL:
    case CMD_TLBI_EL2_ASID:
    case CMD_TLBI_EL2_VA:
    case CMD_TLBI_EL2_VAA:
      // 4.4.5+: EL2 regime entries. No stream here uses the EL2 regime
      // (STRW is not modelled), so dropping everything over-invalidates,
      // which is always permitted.
      if (!feat_.hyp) return CERROR_ILL;
      tlb_invalidate_if([](uint64_t, uint64_t) { return true; });
      return CERROR_NONE;
    case CMD_TLBI_S12_VMALL:  // 4.4.8: stage 1 and 2 of one VMID
      if (!feat_.stage2) return CERROR_ILL;
      tlb_invalidate_if([&](uint64_t tag, uint64_t) { return tag_vmid(tag) == vmid; });
      return CERROR_NONE;
    case CMD_TLBI_S2_IPA: {  // 4.4.9
      if (!feat_.stage2) return CERROR_ILL;
      const uint64_t ipa = cmd[1] & cmd1::IPA::mask;
      tlb_invalidate_va(kS2, vmid, 0, ipa);
      // Combined S1+S2 entries are not indexed by IPA; software follows with
      // TLBI_NH_* or S12_VMALL, but dropping them here too is permitted and
      // never leaves a stale nested entry.
      tlb_invalidate_if([&](uint64_t tag, uint64_t) { return tag_kind(tag) == kNested && tag_vmid(tag) == vmid; });
      return CERROR_NONE;
    }
    case CMD_TLBI_NSNH_ALL:  // 4.4.10: every non-secure, non-hyp entry
      tlb_invalidate_if([](uint64_t, uint64_t) { return true; });
      return CERROR_NONE;
    case CMD_SYNC: {
      // 4.7.3: commands before it are complete already (synchronous queue).
      // CS=SIG_IRQ signals on the wired cmdq-sync line (no MSI support,
      // MSIAddress is ignored); CS=SIG_SEV counts a send-event.
      const unsigned cs = static_cast<unsigned>(cmd0::SYNC_CS::get(cmd[0]));
      if (cs == 3 || (cs == SYNC_SIG_SEV && !feat_.sev)) return CERROR_ILL;
      syncs_.fetch_add(1, std::memory_order_relaxed);
      if (cs == SYNC_SIG_IRQ) irqs |= 4;
      if (cs == SYNC_SIG_SEV) sevs_.fetch_add(1, std::memory_order_relaxed);
      return CERROR_NONE;
    }
    default:
      // EL3 and secure commands, ATS, PRI, stall commands (unsupported
      // features) and unknown opcodes: CERROR_ILL (4.1.2).
      return CERROR_ILL;
  }
}

}  // namespace modiommu::hw::smmuv3
