// SMMUv3 transaction path: GBPA, config, IOTLB hit, walks (IHI 0070 3.4, using
// the VMSAv8-64 walker), fault recording.
#include <algorithm>
#include <mutex>

#include "hw/smmuv3/internal.h"
#include "hw/smmuv3/smmuv3.h"

namespace modiommu::hw::smmuv3 {

using namespace detail;

void SmmuV3::plan_probe(uint64_t summary, uint64_t sizes, ProbePlan* plan) {
  const uint64_t fk = summary & 0xffff;
  const uint64_t kind = fk == kFastNested ? kNested : fk == kFastS1 ? kS1 : kS2;
  const uint16_t vmid = static_cast<uint16_t>(summary >> 16), asid = static_cast<uint16_t>(summary >> 32);
  plan->n = 0;
  while (sizes) {
    const unsigned s = static_cast<unsigned>(__builtin_ctzll(sizes));
    sizes &= sizes - 1;
    const uint64_t tag = tlb_tag(kind, vmid, asid, s);
    plan->size[plan->n] = s;
    plan->key[plan->n] = tag | SeqSlots::kValid;
    plan->hash[plan->n] = iotlb_hash(tag);
    ++plan->n;
  }
}

// Inline: only this file probes, once per page of every DMA burst.
[[gnu::always_inline]] inline bool SmmuV3::probe_planned(const ProbePlan& plan, uint64_t iova, Access access,
                                                         TranslateOutcome* out) const {
  // One lock-free probe per leaf size present (seqlocked slots).
  for (unsigned k = 0; k < plan.n; ++k) {
    const unsigned s = plan.size[k];
    const uint64_t page = iova >> s;
    uint64_t v;
    if (!tlb_.lookup(tlb_.index(plan.hash[k] + static_cast<size_t>(page)), plan.key[k], page, &v)) continue;
    if (!(v & (access == Access::read ? 1 : 2))) return false;  // walk again for the precise fault
    const uint64_t off = iova & ((uint64_t{1} << s) - 1);
    out->kind = TranslateOutcome::Kind::translated;
    out->pa = (v & ~uint64_t{0xfff}) + off;
    out->span = (uint64_t{1} << s) - off;
    return true;
  }
  return false;
}

bool SmmuV3::iotlb_probe(uint64_t summary, uint64_t sizes, uint64_t iova, Access access,
                         TranslateOutcome* out) const {
  ProbePlan plan;
  plan_probe(summary, sizes, &plan);
  return probe_planned(plan, iova, access, out);
}

size_t SmmuV3::translate_burst(uint32_t sid, uint64_t iova, uint64_t len, Access access, TranslateOutcome* out,
                               size_t max) {
  uint64_t summary = 0;
  const uint64_t fk = [&]() -> uint64_t {
    if (!smmuen_.load(std::memory_order_acquire) || !fast_config(sid, &summary)) return kFastAbort;
    return summary & 0xffff;
  }();
  // Disabled SMMU, unknown/abort/bypass stream: nothing to batch; the
  // page-by-page path decides (and records events) exactly as before.
  if (fk != kFastS1 && fk != kFastS2 && fk != kFastNested)
    return DmaTranslator::translate_burst(sid, iova, len, access, out, max);
  // Leaf sizes read once: one added meanwhile only costs a miss, which
  // translate() resolves; reread after a miss, whose walk may have added one.
  uint64_t sizes = tlb_sizes_.load(std::memory_order_acquire);
  ProbePlan plan;
  plan_probe(summary, sizes, &plan);
  uint64_t hits = 0;
  size_t n = 0;
  while (len && n < max) {
    TranslateOutcome& o = out[n++];
    if (probe_planned(plan, iova, access, &o)) {
      ++hits;
    } else {
      o = translate(sid, iova, access);
      if (const uint64_t now = tlb_sizes_.load(std::memory_order_acquire); now != sizes) {
        sizes = now;
        plan_probe(summary, sizes, &plan);
      }
      if (o.kind == TranslateOutcome::Kind::faulted || o.span == 0) break;
    }
    o.span = std::min(len, o.span);
    iova += o.span;
    len -= o.span;
  }
  if (hits) tlb_hits_.fetch_add(hits, std::memory_order_relaxed);
  return n;
}

TranslateOutcome SmmuV3::translate(uint32_t sid, uint64_t iova, Access access) {
  using Kind = TranslateOutcome::Kind;
  TranslateOutcome out;
  auto bypass = [&] {
    // Untranslated: the answer covers the rest of the 4 KiB page so a big
    // transfer still gets split (and counted) at page granularity.
    out.kind = Kind::bypassed;
    out.pa = iova;
    out.span = 0x1000 - (iova & 0xfff);
    return out;
  };
  if (!smmuen_.load(std::memory_order_acquire)) {
    // 6.3.14: with SMMUEN=0 GBPA decides; abort records no event.
    if (gbpa_abort_.load(std::memory_order_acquire)) return out;
    return bypass();
  }
  auto kind_of = [](uint64_t sum) { return sum & 0xffff; };
  auto probe = [&](uint64_t summary) {
    if (!iotlb_probe(summary, tlb_sizes_.load(std::memory_order_acquire), iova, access, &out)) return false;
    tlb_hits_.fetch_add(1, std::memory_order_relaxed);
    return true;
  };
  // Hit path: config summary and IOTLB entry, no StreamConfig built.
  uint64_t summary;
  // fast_config(), inlined: this runs once per page of every DMA.
  const bool have_summary = cfg_fast_.lookup(cfg_fast_.index(sid), sid | SeqSlots::kValid, 0, &summary);
  if (have_summary) {
    if (kind_of(summary) == kFastAbort) return out;  // 5.2: abort, no event
    if (kind_of(summary) == kFastBypass) return bypass();
    if (probe(summary)) return out;
  }
  // Miss path. The StreamConfig is only built here: constructing it on
  // every call cost more than the IOTLB probe itself. The IOTLB generation
  // is noted before the config fetch and the walk read any table, so an
  // invalidation from here on makes tlb_insert() drop the result.
  const uint64_t gen = tlb_gen_.load(std::memory_order_acquire);
  StreamConfig sc;
  if (!have_summary) {
    if (!get_config(sid, &sc)) return out;
    summary = fast_summary(sc);
    if (kind_of(summary) == kFastAbort) return out;
    if (kind_of(summary) == kFastBypass) return bypass();
    if (probe(summary)) return out;
    tlb_misses_.fetch_add(1, std::memory_order_relaxed);
  } else {
    tlb_misses_.fetch_add(1, std::memory_order_relaxed);
    if (!get_config(sid, &sc)) return out;
    // The STE may have changed since the summary was read: decide again.
    if (kind_of(fast_summary(sc)) == kFastAbort) return out;
    if (kind_of(fast_summary(sc)) == kFastBypass) return bypass();
  }
  const uint64_t kind = sc.s1 && sc.s2 ? kNested : sc.s1 ? kS1 : kS2;
  const uint16_t asid = sc.s1 ? sc.asid : 0;

  WalkResult s1r, s2r;
  uint64_t ipa = iova, size = 0;
  bool r = true, w = true;
  if (sc.s1) {
    if (sc.epd0) {
      // 5.4: EPD0=1 disables TTB0 walks: translation fault.
      WalkResult f;
      f.fault = Fault::translation;
      f.fault_ipa_or_va = iova;
      if (sc.s1_record) record_walk_fault(sid, f, access, false, false, 0);
      return out;
    }
    WalkConfig c = sc.s1cfg;
    S2Ctx ctx{&mem_, &sc.s2cfg};
    if (sc.s2) {
      c.table_ipa_to_pa = &s2_table_hook;
      c.table_ctx = &ctx;
    }
    s1r = arm::walk(mem_, c, iova, access);
    if (!s1r.ok()) {
      const bool rec = s1r.fault == Fault::external || (s1r.stage2_on_table ? sc.s2_record : sc.s1_record);
      if (rec) record_walk_fault(sid, s1r, access, false, false, 0);
      return out;
    }
    ipa = s1r.pa;
    size = s1r.block_size;
    r = s1r.readable;
    w = s1r.writable;
  }
  uint64_t pa = ipa;
  if (sc.s2) {
    s2r = arm::walk(mem_, sc.s2cfg, ipa, access);
    if (!s2r.ok()) {
      if (s2r.fault == Fault::external || sc.s2_record) {
        s2r.fault_ipa_or_va = iova;
        record_walk_fault(sid, s2r, access, true, sc.s1, ipa);
      }
      return out;
    }
    pa = s2r.pa;
    size = size ? std::min(size, s2r.block_size) : s2r.block_size;
    r = r && s2r.readable;
    w = w && s2r.writable;
  }
  const unsigned s = log2_of(size);
  const uint64_t mask = size - 1;
  tlb_insert(tlb_tag(kind, sc.vmid, asid, s), iova >> s, (pa & ~mask) | (r ? 1 : 0) | (w ? 2 : 0), s, gen);
  out.kind = Kind::translated;
  out.pa = pa;
  out.span = size - (iova & mask);
  return out;
}

}  // namespace modiommu::hw::smmuv3
