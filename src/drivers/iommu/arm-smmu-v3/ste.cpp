// STE/CD encodings and the hitless entry update (see ste.h).
#include "drivers/iommu/arm-smmu-v3/ste.h"

#include "drivers/iommu/arm-smmu-v3/regs.h"

namespace modiommu::arm_smmu_v3 {

Entry ste_abort() {
  Entry e{};
  e[0] = ste0::V::mask | ste0::Config::prep(STE_CFG_ABORT);
  e[1] = STE1_VALUE;
  return e;
}

Entry ste_bypass() {
  Entry e{};
  e[0] = ste0::V::mask | ste0::Config::prep(STE_CFG_BYPASS);
  e[1] = STE1_VALUE;
  return e;
}

Entry ste_s1(uint64_t cd_pa) {
  Entry e{};
  e[0] = ste0::V::mask | ste0::Config::prep(STE_CFG_S1) | (cd_pa & ste0::S1ContextPtr::mask);
  e[1] = STE1_VALUE;
  return e;
}

Entry cd_s1(const CdConfig& c) {
  Entry e{};
  // 5.4: TTB0 walks only (EPD1), AArch64 tables, faults recorded (R), aborts
  // reported as aborts (A), private ASID (ASET).
  e[0] = cd0::T0SZ::prep(c.t0sz) | cd0::TG0::prep(c.tg0) | cd0::IRGN0::prep(c.irgn0) | cd0::ORGN0::prep(c.orgn0) |
         cd0::SH0::prep(c.sh0) | cd0::EPD1::mask | cd0::IPS::prep(c.ips) | cd0::AA64::mask | cd0::R::mask |
         cd0::A::mask | cd0::ASET::mask | cd0::ASID::prep(c.asid) | cd0::V::mask;
  e[1] = c.ttb0 & cd1::TTB0::mask;
  e[3] = c.mair;
  return e;
}

Entry ste_used(const Entry& ste) {
  Entry u{};
  u[0] = ste0::V::mask;
  if (!ste0::V::is_set(ste[0])) return u;  // 5.2: V=0, nothing else is read
  u[0] |= ste0::Config::mask;
  const uint64_t cfg = ste0::Config::get(ste[0]);
  if (cfg == STE_CFG_BYPASS) u[1] |= ste1::SHCFG::mask;
  if (cfg & 1) {  // stage 1 (S1 or nested)
    u[0] |= ste0::S1Fmt::mask | ste0::S1ContextPtr::mask | ste0::S1CDMax::mask;
    u[1] |= ste1::S1DSS::mask | ste1::S1CIR::mask | ste1::S1COR::mask | ste1::S1CSH::mask | ste1::STRW::mask;
    // S1DSS = bypass: streams without a substream use SHCFG as bypass does.
    if (ste1::S1DSS::get(ste[1]) == 1) u[1] |= ste1::SHCFG::mask;
  }
  if (cfg & 2) {  // stage 2 (S2 or nested)
    u[2] = ste2::USED;
    u[3] = ste3::S2TTB::mask;
  }
  return u;
}

Entry cd_used(const Entry& cd) {
  Entry u{};
  u[0] = cd0::V::mask;
  if (!cd0::V::is_set(cd[0])) return u;  // 5.4: V=0, nothing else is read
  u.fill(~uint64_t{0});
  // EPD0: no TTB0 walks, so TTB0 and its TCR fields are ignored.
  if (cd0::EPD0::is_set(cd[0])) {
    u[0] &= ~(cd0::T0SZ::mask | cd0::TG0::mask | cd0::IRGN0::mask | cd0::ORGN0::mask | cd0::SH0::mask);
    u[1] &= ~cd1::TTB0::mask;
  }
  return u;
}

namespace {

// Stores the words [first, first + n) of `src` that differ from `cur`, then
// syncs if anything was stored.
Status entry_set(EntryWriter& w, Entry& cur, const Entry& src, unsigned first, unsigned n) {
  bool changed = false;
  for (unsigned i = first; i < first + n; ++i) {
    if (cur[i] == src[i]) continue;
    TRY(w.store(i, src[i]));
    cur[i] = src[i];
    changed = true;
  }
  if (changed) TRY(w.sync());
  return {};
}

}  // namespace

Status write_entry(EntryWriter& w, const Entry& cur_in, const Entry& target) {
  Entry cur = cur_in;
  const Entry cur_used = w.used(cur), target_used = w.used(target);
  // The target in every bit the SMMU ignores now; and the words whose used
  // bits (by the target's reading) still differ after that.
  Entry unused_update{};
  unsigned diff_words = 0, critical = 0;
  for (unsigned i = 0; i < kEntryWords; ++i) {
    unused_update[i] = (cur[i] & cur_used[i]) | (target[i] & ~cur_used[i]);
    if ((unused_update[i] ^ target[i]) & target_used[i]) {
      ++diff_words;
      critical = i;
    }
  }
  if (diff_words == 1) {
    // Hitless: the other words already agree with the target wherever the
    // target reads them, so one store of the critical word switches.
    unused_update[critical] = cur[critical];
    TRY(entry_set(w, cur, unused_update, 0, kEntryWords));
    TRY(entry_set(w, cur, target, critical, 1));
    return entry_set(w, cur, target, 0, kEntryWords);
  }
  if (diff_words > 1) {
    // Breaking: V=0 in word 0 makes the entry invalid while words 1-7 change.
    Entry off = cur;
    off[0] = 0;
    TRY(entry_set(w, cur, off, 0, 1));
    TRY(entry_set(w, cur, target, 1, kEntryWords - 1));
    return entry_set(w, cur, target, 0, 1);
  }
  // No used bit changes: only ignored bits are tidied.
  return entry_set(w, cur, target, 0, kEntryWords);
}

}  // namespace modiommu::arm_smmu_v3
