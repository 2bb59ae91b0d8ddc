// Qualcomm MSM IOMMU transaction path: the context bank TZ routed the
// stream to, its TLB, its LPAE stage-1 tables (shared VMSA walker), and
// fault recording in FSR/FAR/FSYNR0 with the bank's interrupt.
#include <mutex>

#include "hw/qcom/qcom_iommu.h"
#include "hw/smmuv2/regs.h"

namespace modiommu::hw::qcom {

using namespace smmuv2;

TranslateOutcome QcomIommu::translate(uint32_t sid, uint64_t iova, Access access) {
  using Kind = TranslateOutcome::Kind;
  using F = arm::WalkResult::Fault;
  TranslateOutcome out;
  IrqLine* irq = nullptr;
  {
    std::lock_guard g(lock_);
    // A stream TZ routed to no context bank of this tree: the SMMU's
    // unmatched-stream default for these SoCs is fault (sCR0.USFCFG).
    if (sid >= banks_.size() || !banks_[sid].present) return out;
    Bank& b = banks_[sid];
    if (!(b.sctlr & SCTLR_M)) {
      // MMU off for the context: untranslated, per 4 KiB page so a long
      // transfer is still counted page by page.
      ++stats_.bypassed;
      out.kind = Kind::bypassed;
      out.pa = iova;
      out.span = 0x1000 - (iova & 0xfff);
      return out;
    }
    // AArch32 long-descriptor TTBR0: ASID [55:48] (8-bit ASIDs, TCR2.AS=0).
    const uint16_t asid = static_cast<uint16_t>((b.ttbr0 >> 48) & 0xff);
    for (const auto& e : tlb_) {
      if (e.valid && e.ctx == sid && e.asid == asid && iova >= e.va && iova - e.va < e.size &&
          (access == Access::write ? e.writable : e.readable)) {
        ++stats_.tlb_hits;
        out.kind = Kind::translated;
        out.pa = e.pa + (iova - e.va);
        out.span = e.size - (iova - e.va);
        return out;
      }
    }
    ++stats_.tlb_misses;
    arm::WalkResult w;
    // TTBCR.EAE=1 and T0SZ [2:0] = 0: the whole 32-bit space through TTBR0
    // from level 1. Short descriptors and split spaces are not modelled.
    if (!(b.tcr & TCR_EAE) || tcr::T0SZ_32::get(b.tcr) != 0 || iova > 0xffffffffull) {
      w.fault = F::translation;
    } else {
      arm::WalkConfig cfg;
      cfg.stage = arm::Stage::s1;
      cfg.granule = arm::Granule::k4K;
      cfg.input_bits = 32;
      cfg.output_bits = 40;
      cfg.ttb = b.ttbr0 & 0x000000ffffffffe0ull;  // 40-bit table address, 32-byte aligned
      w = arm::walk(mem_, cfg, iova, access);
    }
    if (w.ok()) {
      TlbEntry e;
      e.valid = true;
      e.ctx = sid;
      e.asid = asid;
      e.size = w.block_size;
      e.va = iova & ~(w.block_size - 1);
      e.pa = w.pa - (iova - e.va);
      e.readable = w.readable;
      e.writable = w.writable;
      tlb_insert(e);
      out.kind = Kind::translated;
      out.pa = w.pa;
      out.span = w.block_size - (iova - e.va);
      return out;
    }
    ++stats_.faults;
    uint32_t bit = FSR_TF;
    if (w.fault == F::permission) bit = FSR_PF;
    else if (w.fault == F::external) bit = FSR_EF;
    else if (w.fault == F::access_flag) bit = FSR_AFF;
    if (b.fsr & FSR_FAULT_MASK) {
      b.fsr |= FSR_MULTI;  // the first fault keeps FAR until software clears FSR
    } else {
      b.fsr |= bit;
      b.far = iova;
      b.fsynr0 = (access == Access::write ? FSYNR0_WNR : 0) | FSYNR0_PLVL::prep(w.level & 3);
    }
    if ((b.sctlr & SCTLR_CFIE) && b.irq) irq = b.irq;
  }
  if (irq) irq->raise();
  return out;  // terminated: aborted
}

}  // namespace modiommu::hw::qcom
