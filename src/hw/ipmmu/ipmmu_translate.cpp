// IPMMU-VMSA transaction path: micro-TLB, this instance's TLB, the root
// context's tables (shared VMSA walker), fault recording in the root.
#include <mutex>

#include "hw/ipmmu/ipmmu.h"

namespace modiommu::hw::ipmmu {

Ipmmu* Ipmmu::root_locked() {
  if (!resolver_) return this;
  if (!root_) root_ = resolver_();
  return root_.get();
}

// A root context for one access. IMCTR.MMUEN=0: untranslated. Otherwise
// the context's tables decide; a fault is recorded here, the first one
// keeping its address until software clears IMSTR.
Ipmmu::CtxResult Ipmmu::context_translate(unsigned ctx, uint64_t iova, Access access, bool* irq) {
  using F = arm::WalkResult::Fault;
  CtxResult out;
  if (ctx >= ctx_.size()) return out;  // TTSEL names no context: aborted
  Context& c = ctx_[ctx];
  if (!(c.imctr & IMCTR_MMUEN)) {
    out.kind = CtxResult::Kind::off;
    return out;
  }
  arm::WalkConfig cfg;
  cfg.stage = arm::Stage::s1;
  cfg.granule = arm::Granule::k4K;
  cfg.input_bits = 32 - imttbcr::TSZ0::get(c.imttbcr);
  cfg.output_bits = 40;
  cfg.ttb = ((uint64_t{c.ttubr0} << 32) | c.ttlbr0) & ~uint64_t{0x1f};
  // SL0 must name level 1, the start level of a 32-bit input with 4K pages.
  const bool sl0_ok = feat_.gen == Generation::gen2 ? imttbcr::SL0_GEN2::get(c.imttbcr) == SL0_GEN2_LVL1
                                                     : imttbcr::SL0_TWOBIT::get(c.imttbcr) == SL0_TWOBIT_LVL1;
  if (!(c.imttbcr & IMTTBCR_EAE) || !sl0_ok || imttbcr::TSZ0::get(c.imttbcr) != 0) {
    out.walk.fault = F::translation;  // short descriptors / other start levels: not modelled
  } else {
    out.walk = arm::walk(mem_, cfg, iova, access);
  }
  if (out.walk.ok()) {
    out.kind = CtxResult::Kind::walked;
    return out;
  }
  ++stats_.faults;
  if (!(c.imstr & IMSTR_ERR)) {
    switch (out.walk.fault) {
      case F::permission: c.imstr |= IMSTR_PF; break;
      case F::external: c.imstr |= IMSTR_ABORT; break;
      default: c.imstr |= IMSTR_TF; break;
    }
    c.imelar = static_cast<uint32_t>(iova);
    c.imeuar = static_cast<uint32_t>(iova >> 32);
  }
  if (c.imctr & IMCTR_INTEN) *irq = true;
  return out;
}

TranslateOutcome Ipmmu::translate(uint32_t utlb, uint64_t iova, Access access) {
  using Kind = TranslateOutcome::Kind;
  TranslateOutcome out;
  auto bypass = [&] {
    // Untranslated: answer to the end of the 4 KiB page so that a long
    // transfer is still split, and counted, per page.
    out.kind = Kind::bypassed;
    out.pa = iova;
    out.span = 0x1000 - (iova & 0xfff);
  };
  bool irq = false;
  Ipmmu* root = nullptr;
  {
    std::lock_guard g(lock_);
    if (utlb >= utlb_.size()) return out;  // no such micro-TLB wired: aborted
    const Utlb& u = utlb_[utlb];
    if (!(u.imuctr & IMUCTR_MMUEN)) {
      ++stats_.bypassed;
      bypass();
      return out;
    }
    const unsigned ctx = IMUCTR_TTSEL::get(u.imuctr);
    for (const auto& e : tlb_) {
      if (e.valid && e.ctx == ctx && iova >= e.va && iova - e.va < e.size &&
          (access == Access::write ? e.writable : e.readable)) {
        ++stats_.tlb_hits;
        out.kind = Kind::translated;
        out.pa = e.pa + (iova - e.va);
        out.span = e.size - (iova - e.va);
        return out;
      }
    }
    ++stats_.tlb_misses;
    root = root_locked();
    if (!root) return out;  // a leaf whose root has no model: nothing translates
    CtxResult r;
    if (root == this) {
      r = context_translate(ctx, iova, access, &irq);
    } else {
      std::lock_guard rg(root->lock_);  // leaf before root
      r = root->context_translate(ctx, iova, access, &irq);
    }
    if (r.kind == CtxResult::Kind::off) {
      ++stats_.bypassed;
      bypass();
      return out;
    }
    if (r.kind == CtxResult::Kind::walked) {
      TlbEntry e;
      e.valid = true;
      e.ctx = ctx;
      e.size = r.walk.block_size;
      e.va = iova & ~(r.walk.block_size - 1);
      e.pa = r.walk.pa - (iova - e.va);
      e.readable = r.walk.readable;
      e.writable = r.walk.writable;
      tlb_insert(e);
      out.kind = Kind::translated;
      out.pa = r.walk.pa;
      out.span = r.walk.block_size - (iova - e.va);
      return out;
    }
  }
  if (irq && root && root->irq_) root->irq_->raise();
  return out;  // faulted: aborted
}

}  // namespace modiommu::hw::ipmmu
