// SMMUv3 transaction path: GBPA, config, IOTLB hit, walks (IHI 0070 3.4, using
// the VMSAv8-64 walker), fault recording.
#include <algorithm>
#include <mutex>

#include "hw/smmuv3/internal.h"
#include "hw/smmuv3/smmuv3.h"

namespace modiommu::hw::smmuv3 {

using namespace detail;

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
  const uint64_t gen = tlb_gen_.load(std::memory_order_acquire);
  StreamConfig sc;
  bool have_full = false;
  uint64_t summary;
  if (!fast_config(sid, &summary)) {
    if (!get_config(sid, &sc)) return out;
    have_full = true;
    summary = fast_summary(sc);
  }
  auto kind_of = [](uint64_t sum) { return sum & 0xffff; };
  if (kind_of(summary) == kFastAbort) return out;  // 5.2: abort, no event
  if (kind_of(summary) == kFastBypass) return bypass();

  // IOTLB lookup: one probe per leaf size present, lock-free.
  {
    const uint64_t kind = kind_of(summary) == kFastNested ? kNested : kind_of(summary) == kFastS1 ? kS1 : kS2;
    const uint16_t vmid = static_cast<uint16_t>(summary >> 16), asid = static_cast<uint16_t>(summary >> 32);
    uint64_t sizes = tlb_sizes_.load(std::memory_order_acquire);
    while (sizes) {
      const unsigned s = static_cast<unsigned>(__builtin_ctzll(sizes));
      sizes &= sizes - 1;
      const uint64_t tag = tlb_tag(kind, vmid, asid, s), page = iova >> s;
      uint64_t v;
      if (!tlb_.lookup(tlb_.index(tlb_hash(tag, page)), tag | SeqSlots::kValid, page, &v)) continue;
      if (!(v & (access == Access::read ? 1 : 2))) break;  // walk again for the precise fault
      tlb_hits_.fetch_add(1, std::memory_order_relaxed);
      const uint64_t off = iova & ((uint64_t{1} << s) - 1);
      out.kind = Kind::translated;
      out.pa = (v & ~uint64_t{0xfff}) + off;
      out.span = (uint64_t{1} << s) - off;
      return out;
    }
  }
  tlb_misses_.fetch_add(1, std::memory_order_relaxed);
  if (!have_full) {
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
