// SMMUv3 stream table and context descriptor decode (IHI 0070 3.3, 5.1, 5.2, 5.4).
#include <algorithm>
#include <mutex>

#include "hw/smmuv3/internal.h"
#include "hw/smmuv3/smmuv3.h"

namespace modiommu::hw::smmuv3 {

using namespace detail;

bool SmmuV3::decode_cd(uint32_t sid, uint64_t cd_addr, StreamConfig* sc) {
  uint64_t cd_pa = cd_addr;
  if (sc->s2) {
    // Nested: S1ContextPtr is an IPA; a stage-2 fault on it is reported
    // with CLASS=CD (7.3.12).
    WalkResult r = arm::walk(mem_, sc->s2cfg, cd_addr, Access::read);
    if (!r.ok()) {
      if (sc->s2_record || r.fault == Fault::external) {
        EventRecord e;
        e.sid = sid;
        e.type = fault_event(r.fault);
        e.rnw = true;
        e.s2 = true;
        e.cls = CLASS_CD;
        e.input = cd_addr;
        e.ipa = cd_addr;
        e.fetch = r.fetch_pa;
        record(e);
      }
      return false;
    }
    cd_pa = r.pa;
  }
  uint64_t w[4];
  if ((cd_pa >> feat_.oas_bits) || !mem_.read(cd_pa, w, sizeof w)) {
    EventRecord e;
    e.type = F_CD_FETCH;
    e.sid = sid;
    e.fetch = cd_pa;
    record(e);
    return false;
  }
  auto bad_cd = [&] {
    EventRecord e;
    e.type = C_BAD_CD;
    e.sid = sid;
    record(e);
    return false;
  };
  // CD (5.4): word 3 is MAIR.
  if (!cd0::V::is_set(w[0])) return bad_cd();
  if (!cd0::AA64::is_set(w[0])) return bad_cd();  // AArch32 tables: IDR0.TTF has no AArch32
  Granule g;
  if (!decode_tg(static_cast<unsigned>(cd0::TG0::get(w[0])), feat_, &g)) return bad_cd();
  const unsigned t0sz = static_cast<unsigned>(cd0::T0SZ::get(w[0]));
  // 5.4: T0SZ within [16, 39] (no TTST, 48-bit VA).
  if (t0sz < 16 || t0sz > 39) return bad_cd();
  WalkConfig& c = sc->s1cfg;
  c.stage = arm::Stage::s1;
  c.granule = g;
  c.input_bits = 64 - t0sz;
  // IPS > OAS acts as OAS.
  c.output_bits = std::min(pa_bits(static_cast<unsigned>(cd0::IPS::get(w[0]))), feat_.oas_bits);
  c.ttb = w[1] & cd1::TTB0::mask;
  c.start_level = arm::s1_start_level(g, c.input_bits);
  if (c.start_level > 3) return bad_cd();
  c.s1_ignore_ap_user = true;
  sc->epd0 = cd0::EPD0::is_set(w[0]);
  sc->s1_record = cd0::R::is_set(w[0]);
  sc->asid = static_cast<uint16_t>(cd0::ASID::get(w[0]));
  sc->mair = w[3];
  return true;
}

bool SmmuV3::decode_stream(uint32_t sid, StreamConfig* sc) {
  uint64_t base;
  uint32_t cfg;
  {
    std::lock_guard g(regs_lock_);
    base = strtab_base_ & STRTAB_BASE_ADDR::mask;
    cfg = strtab_cfg_;
  }
  auto event = [&](uint8_t type, uint64_t fetch = 0) {
    EventRecord e;
    e.type = type;
    e.sid = sid;
    e.fetch = fetch;
    record(e);
    return false;
  };
  // 6.3.24: LOG2SIZE above IDR1.SIDSIZE acts as SIDSIZE; an out-of-range
  // StreamID is C_BAD_STREAMID (7.3.3).
  const unsigned log2size = std::min<unsigned>(strtab_cfg::LOG2SIZE::get(cfg), feat_.sid_bits);
  if (log2size < 32 && (uint64_t{sid} >> log2size)) return event(C_BAD_STREAMID);
  const unsigned fmt = strtab_cfg::FMT::get(cfg);
  uint64_t ste_addr;
  if (fmt == STRTAB_FMT_LINEAR) {
    ste_addr = base + uint64_t{sid} * kSteBytes;
  } else if (fmt == STRTAB_FMT_2LVL && feat_.two_level_strtab) {
    // 3.4.3 2-level: level-1 descriptors (SPAN [4:0], L2Ptr [51:6]) index
    // SID[n:SPLIT]; SPLIT is 6, 8 or 10.
    const unsigned split = strtab_cfg::SPLIT::get(cfg);
    if (split != 6 && split != 8 && split != 10) return event(C_BAD_STREAMID);
    const uint64_t l1_addr = base + uint64_t{sid >> split} * kL1StdBytes;
    auto l1 = (l1_addr >> feat_.oas_bits) ? Result<uint64_t>(make_error(Errc::fault, "")) : mem_.read64(l1_addr);
    if (!l1) return event(F_STE_FETCH, l1_addr);
    const unsigned span = static_cast<unsigned>(l1std::SPAN::get(*l1));
    // SPAN 0: invalid descriptor; SPAN > SPLIT+1 is ILLEGAL (5.1).
    if (span == 0 || span > split + 1) return event(C_BAD_STREAMID);
    const uint32_t low = sid & ((1u << split) - 1);
    if (low >= (1u << (span - 1))) return event(C_BAD_STREAMID);
    ste_addr = (*l1 & l1std::L2PTR::mask) + uint64_t{low} * kSteBytes;
  } else {
    return event(C_BAD_STREAMID);  // reserved FMT or 2-level not implemented
  }
  uint64_t w[4];
  if ((ste_addr >> feat_.oas_bits) || !mem_.read(ste_addr, w, sizeof w)) return event(F_STE_FETCH, ste_addr);
  uint64_t cd_addr = 0;
  if (const uint8_t bad = decode_ste(w, feat_, sc, &cd_addr)) return event(bad);
  if (sc->s1 && !decode_cd(sid, cd_addr, sc)) return false;
  return true;
}

uint8_t SmmuV3::decode_ste(const uint64_t w[4], const Features& f, StreamConfig* sc, uint64_t* cd_addr) {
  if (!ste0::V::is_set(w[0])) return C_BAD_STE;
  const unsigned config = static_cast<unsigned>(ste0::Config::get(w[0]));
  sc->config = config;
  switch (config) {
    case STE_CFG_ABORT:
    case STE_CFG_BYPASS: return 0;
    case STE_CFG_S1: if (!f.stage1) return C_BAD_STE; break;
    case STE_CFG_S2: if (!f.stage2) return C_BAD_STE; break;
    case STE_CFG_NESTED: if (!f.stage1 || !f.stage2) return C_BAD_STE; break;
    default: return C_BAD_STE;  // 0b001-0b011 reserved
  }
  sc->s1 = config & 1;
  sc->s2 = config & 2;
  // Stage-1-only streams use VMID 0 for TLB tagging (S2VMID is ignored).
  sc->vmid = sc->s2 ? static_cast<uint16_t>(ste2::S2VMID::get(w[2])) : 0;
  if (sc->s2) {
    if (!ste2::S2AA64::is_set(w[2])) return C_BAD_STE;  // no AArch32 tables
    Granule g;
    if (!decode_tg(static_cast<unsigned>(ste2::S2TG::get(w[2])), f, &g)) return C_BAD_STE;
    WalkConfig& c = sc->s2cfg;
    c.stage = arm::Stage::s2;
    c.granule = g;
    const unsigned t0sz = static_cast<unsigned>(ste2::S2T0SZ::get(w[2]));
    if (t0sz < 16) return C_BAD_STE;
    c.input_bits = 64 - t0sz;
    c.output_bits = std::min(pa_bits(static_cast<unsigned>(ste2::S2PS::get(w[2]))), f.oas_bits);
    c.start_level = arm::s2_start_level(g, static_cast<unsigned>(ste2::S2SL0::get(w[2])));
    c.ttb = w[3] & ste3::S2TTB::mask;
    // DDI 0487 D8.2.7: SL0 and T0SZ must agree (1..16 concatenated tables
    // at the start level); otherwise the STE is ILLEGAL.
    const unsigned gs = arm::granule_shift(g), stride = gs - 3;
    if (c.start_level > 3) return C_BAD_STE;
    const unsigned lshift = gs + stride * (3 - c.start_level);
    if (c.input_bits <= lshift || c.input_bits - lshift > stride + 4 || c.input_bits > 48) return C_BAD_STE;
    sc->s2_record = ste2::S2R::is_set(w[2]);
  }
  if (sc->s1) {
    const unsigned cdmax = f.ssid_bits ? static_cast<unsigned>(ste0::S1CDMax::get(w[0])) : 0;
    if (cdmax) {
      // Substreams configured: a transaction without SSID follows S1DSS
      // (5.2): 0b00 terminate (F_STREAM_DISABLED), 0b01 bypass stage 1,
      // 0b10 use CD 0. Only linear CD tables (IDR0.CD2L=0).
      if (ste0::S1Fmt::get(w[0]) != 0) return C_BAD_STE;
      const unsigned dss = static_cast<unsigned>(ste1::S1DSS::get(w[1]));
      if (dss == 0) return F_STREAM_DISABLED;
      if (dss == 3) return C_BAD_STE;
      if (dss == 1) {
        sc->s1_bypass_no_ssid = true;
        sc->s1 = false;
        return 0;
      }
    }
    *cd_addr = w[0] & ste0::S1ContextPtr::mask;
  }
  return 0;
}

}  // namespace modiommu::hw::smmuv3
