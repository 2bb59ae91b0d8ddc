// SMMUv2 transaction path (IHI 0062 2.4 stream matching, 2.5 context banks):
// CLIENTPD, SMR/S2CR, context bank configuration, TLB, walk with the shared
// VMSAv8-64 walker, global and context fault recording.
#include <algorithm>
#include <mutex>

#include "hw/smmuv2/regs.h"
#include "hw/smmuv2/smmuv2.h"

namespace modiommu::hw::smmuv2 {

namespace {

// TCR.IPS / TCR2.PASIZE / VTCR.PS encoding (DDI 0487 D13.2).
unsigned pa_bits(uint32_t code) {
  static constexpr unsigned kBits[] = {32, 36, 40, 42, 44, 48, 48, 48};
  return kBits[code & 7];
}

bool granule_of(uint32_t tg0, arm::Granule* g) {
  switch (tg0) {
    case 0: *g = arm::Granule::k4K; return true;
    case 1: *g = arm::Granule::k64K; return true;
    case 2: *g = arm::Granule::k16K; return true;
    default: return false;  // reserved
  }
}

}  // namespace

// Decodes a translating bank's TCR/TTBR0 into a walk (IHI 0062 10.9: the
// bank registers take the VMSA TCR/VTCR formats). False: no valid
// configuration, reported as a translation fault.
bool SmmuV2::context_config(const ContextBank& cb, arm::WalkConfig* cfg, uint16_t* asid) const {
  const uint32_t type = cbar::TYPE::get(cb.cbar);
  cfg->output_bits = std::min(feat_.oas_bits, 48u);
  if (type == CBAR_S2) {
    // VTCR format.
    cfg->stage = arm::Stage::s2;
    if (!granule_of(tcr::TG0::get(cb.tcr), &cfg->granule)) return false;
    cfg->input_bits = 64 - tcr::T0SZ::get(cb.tcr);
    cfg->start_level = arm::s2_start_level(cfg->granule, tcr::SL0::get(cb.tcr));
    if (cfg->start_level > 3) return false;
    cfg->output_bits = std::min(cfg->output_bits, pa_bits(tcr::PS::get(cb.tcr)));
    cfg->ttb = cb.ttbr0 & TTBR_ADDR::mask;
    *asid = 0;
    return true;
  }
  cfg->stage = arm::Stage::s1;
  if (feat_.version == Version::v2 && (cb.cba2r & CBA2R_VA64)) {
    // AArch64 TCR; TCR2.AS selects 16-bit ASIDs, held in TTBR0.
    if (tcr::EPD0::is_set(cb.tcr)) return false;  // TTBR0 walks disabled
    if (!granule_of(tcr::TG0::get(cb.tcr), &cfg->granule)) return false;
    cfg->input_bits = 64 - tcr::T0SZ::get(cb.tcr);
    cfg->output_bits = std::min(cfg->output_bits, pa_bits(tcr2::PASIZE::get(cb.tcr2)));
    *asid = static_cast<uint16_t>(TTBR_ASID::get(cb.ttbr0));
    if (!tcr2::AS::is_set(cb.tcr2)) *asid &= 0xff;
  } else {
    // AArch32 LPAE (TTBCR.EAE=1): the same long descriptors with a 4K
    // granule and a 32-bit input; short descriptors are not modelled.
    if (!(cb.tcr & TCR_EAE) || tcr::EPD0::is_set(cb.tcr)) return false;
    cfg->granule = arm::Granule::k4K;
    cfg->input_bits = 32 - tcr::T0SZ_32::get(cb.tcr);
    cfg->output_bits = std::min(cfg->output_bits, 40u);
    *asid = static_cast<uint16_t>(TTBR_ASID::get(cb.ttbr0) & 0xff);  // 8-bit ASIDs
  }
  cfg->ttb = cb.ttbr0 & TTBR_ADDR::mask;
  return true;
}

void SmmuV2::global_fault(uint32_t bit, uint32_t sid, uint64_t iova, Access access, uint64_t& irqs) {
  ++global_faults_;
  // IHI 0062 10.6.15: a second fault while one is recorded only sets MULTI.
  if (sgfsr_ & ~SGFSR_MULTI) {
    sgfsr_ |= SGFSR_MULTI;
  } else {
    sgfsr_ |= bit;
    sgfar_ = iova;
    sgfsynr0_ = access == Access::write ? SGFSYNR0_WNR : 0;
    sgfsynr1_ = SGFSYNR1_STREAMID::prep_masked(sid);
  }
  if (scr0_ & SCR0_GFIE) irqs |= kIrqGlobal;
}

void SmmuV2::context_fault(unsigned n, uint32_t sid, const arm::WalkResult& r, uint64_t iova, Access access,
                           uint64_t& irqs) {
  using F = arm::WalkResult::Fault;
  ContextBank& cb = cbs_[n];
  ++context_faults_;
  uint32_t bit = FSR_TF;
  switch (r.fault) {
    case F::permission: bit = FSR_PF; break;
    case F::access_flag: bit = FSR_AFF; break;
    case F::address_size: bit = FSR_ASF; break;
    case F::external: bit = FSR_EF; break;
    default: break;
  }
  // IHI 0062 10.9.12: FAR/FSYNR0 hold the first fault; later ones set MULTI.
  if (cb.fsr & FSR_FAULT_MASK) {
    cb.fsr |= FSR_MULTI;
  } else {
    cb.fsr |= bit;
    cb.far = iova;
    cb.cbfrsynra = CBFRSYNRA_SID::prep_masked(sid);  // IHI 0062 10.7.2: the faulting stream
    cb.fsynr0 = FSYNR0_PLVL::prep_masked(r.level) | (access == Access::write ? FSYNR0_WNR : 0);
  }
  if (cb.sctlr & SCTLR_CFIE) {
    const unsigned line = cbar::IRPTNDX::get(cb.cbar);
    if (line < irqs_.context.size() && line < kMaxContextIrqs) irqs |= uint64_t{1} << line;
  }
}

void SmmuV2::tlb_insert(ContextBank& cb, const TlbEntry& e) {
  for (auto& t : cb.tlb) {
    if (!t.valid) {
      t = e;
      return;
    }
  }
  cb.tlb[cb.next_victim] = e;
  cb.next_victim = (cb.next_victim + 1) % cb.tlb.size();
}

TranslateOutcome SmmuV2::translate(uint32_t sid, uint64_t iova, Access access) {
  using Kind = TranslateOutcome::Kind;
  TranslateOutcome out;
  uint64_t irqs = 0;
  auto bypass = [&] {
    // Untranslated: the answer covers the rest of the 4 KiB page so a large
    // transfer is still split (and counted) per page.
    out.kind = Kind::bypassed;
    out.pa = iova;
    out.span = 0x1000 - (iova & 0xfff);
  };
  {
    std::lock_guard g(lock_);
    if (scr0_ & SCR0_CLIENTPD) {
      bypass();
      return out;
    }
    // Stream matching (IHI 0062 2.4): SMR n matches when the ID bits not
    // masked out agree; more than one match is a stream match conflict.
    const bool exid = feat_.sid_bits >= 16 && (scr0_ & SCR0_EXIDENABLE);
    const uint32_t s = sid & ((1u << feat_.sid_bits) - 1);
    int match = -1;
    unsigned matches = 0;
    for (unsigned i = 0; i < smr_.size(); ++i) {
      const uint32_t smr = smr_[i];
      const bool valid = exid ? (s2cr_[i] & S2CR_EXIDVALID) != 0 : (smr & SMR_VALID) != 0;
      if (!valid) continue;
      const uint32_t id = exid ? smr::EXID::get(smr) : smr::ID::get(smr);
      const uint32_t mask = exid ? smr::EXMASK::get(smr) : smr::MASK::get(smr);
      if (((s ^ id) & ~mask & 0xffff) == 0) {
        ++matches;
        if (match < 0) match = static_cast<int>(i);
      }
    }
    if (sid >> feat_.sid_bits) matches = 0;  // an ID wider than NUMSIDB matches nothing
    if (matches > 1) {
      global_fault(SGFSR_SMCF, sid, iova, access, irqs);
    } else if (matches == 0) {
      // sCR0.USFCFG (10.6.1): unidentified streams fault or bypass.
      if (!(scr0_ & SCR0_USFCFG)) {
        bypass();
        return out;
      }
      global_fault(SGFSR_USF, sid, iova, access, irqs);
    } else {
      const uint32_t s2cr = s2cr_[static_cast<unsigned>(match)];
      const uint32_t type = s2cr::TYPE::get(s2cr);
      const unsigned cbndx = s2cr::CBNDX::get(s2cr);
      if (type == S2CR_BYPASS) {
        bypass();
        return out;
      }
      if (type != S2CR_TRANSLATE) {
        // S2CR fault (and the reserved type): terminated; this model records
        // no global fault for it (the stream was deliberately blocked).
      } else if (cbndx >= cbs_.size()) {
        // CBNDX names an unimplemented bank.
        global_fault(SGFSR_UCBF, sid, iova, access, irqs);
      } else {
        ContextBank& cb = cbs_[cbndx];
        const uint32_t cbtype = cbar::TYPE::get(cb.cbar);
        const bool supported = (cbtype == CBAR_S1_BYPASS && feat_.stage1) || (cbtype == CBAR_S2 && feat_.stage2);
        if (!supported) {
          // Nested / stage-2-fault banks and unimplemented stages.
          global_fault(SGFSR_ICF, sid, iova, access, irqs);
        } else if (!(cb.sctlr & SCTLR_M)) {
          // Bank translation disabled: the stage passes addresses through (10.9.1).
          bypass();
          return out;
        } else {
          arm::WalkConfig cfg;
          uint16_t asid = 0;
          const uint16_t vmid = vmid_of(cb);
          arm::WalkResult r;
          if (!context_config(cb, &cfg, &asid)) {
            r.fault = arm::WalkResult::Fault::translation;
            context_fault(cbndx, sid, r, iova, access, irqs);
          } else {
            for (const auto& e : cb.tlb) {
              if (e.valid && e.vmid == vmid && e.asid == asid && iova >= e.va && iova - e.va < e.size &&
                  (access == Access::write ? e.writable : e.readable)) {
                ++tlb_hits_;
                out.kind = Kind::translated;
                out.pa = e.pa + (iova - e.va);
                out.span = e.size - (iova - e.va);
                return out;
              }
            }
            ++tlb_misses_;
            r = arm::walk(mem_, cfg, iova, access);
            if (!r.ok()) {
              context_fault(cbndx, sid, r, iova, access, irqs);
            } else {
              TlbEntry e;
              e.valid = true;
              e.asid = asid;
              e.vmid = vmid;
              e.size = r.block_size;
              e.va = iova & ~(r.block_size - 1);
              e.pa = r.pa - (iova - e.va);
              e.readable = r.readable;
              e.writable = r.writable;
              tlb_insert(cb, e);
              out.kind = Kind::translated;
              out.pa = r.pa;
              out.span = r.block_size - (iova - e.va);
              return out;
            }
          }
        }
      }
    }
  }
  fire(irqs);
  return out;  // faulted: the transaction is terminated (abort)
}

}  // namespace modiommu::hw::smmuv2
