#include "hw/arm/vmsa_walk.h"

#include <algorithm>

namespace modiommu::hw::arm {
namespace {

using Fault = WalkResult::Fault;

constexpr uint64_t bits_below(unsigned n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

// Descriptor output-address field is bits [47:shift] (DDI 0487 D8.3.1,
// 48-bit OA formats).
constexpr uint64_t kOaTop = bits_below(48);

unsigned stride(Granule g) { return granule_shift(g) - 3; }

unsigned level_shift(Granule g, unsigned level) { return granule_shift(g) + stride(g) * (3 - level); }

// DDI 0487 D8.3.1: block descriptors exist at level 1 and 2 for 4K, level 2
// for 16K and 64K (level-1 blocks for those need 52-bit OA, unsupported).
bool block_allowed(Granule g, unsigned level) {
  switch (g) {
    case Granule::k4K: return level == 1 || level == 2;
    case Granule::k16K:
    case Granule::k64K: return level == 2;
  }
  return false;
}

WalkResult fault(Fault f, unsigned level, uint64_t iova) {
  WalkResult r;
  r.fault = f;
  r.level = level;
  r.fault_ipa_or_va = iova;
  return r;
}

}  // namespace

unsigned granule_shift(Granule g) {
  switch (g) {
    case Granule::k4K: return 12;
    case Granule::k16K: return 14;
    case Granule::k64K: return 16;
  }
  return 12;
}

uint64_t level_size(Granule g, unsigned level) {
  if (level > 3) return 0;
  return uint64_t{1} << level_shift(g, level);
}

unsigned s1_start_level(Granule g, unsigned input_bits) {
  const unsigned shift = granule_shift(g);
  if (input_bits <= shift || input_bits > 48) return 4;
  const unsigned levels = (input_bits - shift + stride(g) - 1) / stride(g);
  if (levels < 1 || levels > 4) return 4;
  return 4 - levels;
}

unsigned s2_start_level(Granule g, unsigned sl0) {
  // DDI 0487 D8.2.7 (VTCR_EL2.SL0): 4K counts down from level 2, 16K/64K
  // from level 3. SL0=3 is reserved without FEAT_TTST/LPA2.
  if (sl0 > 2) return 4;
  if (g == Granule::k4K) return 2 - sl0;
  if (g == Granule::k64K && sl0 == 2) return 1;
  return 3 - sl0;
}

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::none: return "none";
    case Fault::translation: return "translation";
    case Fault::permission: return "permission";
    case Fault::address_size: return "address size";
    case Fault::access_flag: return "access flag";
    case Fault::external: return "external abort";
  }
  return "?";
}

WalkResult walk(const PhysicalMemory& mem, const WalkConfig& cfg, uint64_t iova, Access access) {
  const Granule g = cfg.granule;
  const unsigned oa_bits = std::min(cfg.output_bits, 48u);
  const bool s1 = cfg.stage == Stage::s1;
  const unsigned start = s1 ? s1_start_level(g, cfg.input_bits) : cfg.start_level;
  if (start > 3 || cfg.input_bits > 48 || cfg.input_bits <= granule_shift(g)) return fault(Fault::translation, 0, iova);
  // Bits resolved at the start level; more than a stride means concatenated
  // start tables, allowed up to 16 of them at stage 2 only (DDI 0487 D8.2.7).
  if (cfg.input_bits <= level_shift(g, start)) return fault(Fault::translation, start, iova);
  const unsigned first_bits = cfg.input_bits - level_shift(g, start);
  if (first_bits > stride(g) + (s1 ? 0 : 4)) return fault(Fault::translation, start, iova);
  // Input beyond the configured size: translation fault (DDI 0487 D8.2.4).
  if (iova >> cfg.input_bits) return fault(Fault::translation, start, iova);
  // A TTB beyond the OA size is an address size fault at the start level
  // (DDI 0487 D8.8.2).
  if (cfg.ttb >> oa_bits) return fault(Fault::address_size, start, iova);

  // Base aligned to the table size (low bits RES0), 64 bytes at least.
  uint64_t table = cfg.ttb & ~bits_below(std::max(6u, first_bits + 3));
  bool ap_no_write = false, ap_no_el0 = false;
  for (unsigned level = start; level <= 3; ++level) {
    const unsigned lshift = level_shift(g, level);
    const unsigned nbits = level == start ? first_bits : stride(g);
    const uint64_t index = (iova >> lshift) & bits_below(nbits);
    uint64_t table_pa = table;
    if (cfg.table_ipa_to_pa) {
      WalkResult s2 = cfg.table_ipa_to_pa(cfg.table_ctx, table);
      if (!s2.ok()) {
        s2.stage2_on_table = true;
        s2.table_ipa = table;
        s2.fault_ipa_or_va = iova;
        return s2;
      }
      table_pa = s2.pa;
    }
    const uint64_t desc_pa = table_pa + index * 8;
    mem.note_table_read(desc_pa);
    auto d = mem.read64(desc_pa);
    if (!d) {
      WalkResult r = fault(Fault::external, level, iova);
      r.fetch_pa = desc_pa;
      return r;
    }
    const uint64_t desc = *d;
    // DDI 0487 D8.3: bit 0 = valid; bits[1:0] = 0b11 table (levels 0-2) or
    // page (level 3), 0b01 block; 0b01 at level 3 is reserved (invalid).
    if (!(desc & 1)) return fault(Fault::translation, level, iova);
    const bool is_table_or_page = desc & 2;
    if (level < 3 && is_table_or_page) {
      const uint64_t next = desc & kOaTop & ~bits_below(granule_shift(g));
      if ((desc & kOaTop) >> oa_bits) return fault(Fault::address_size, level, iova);
      if (s1) {
        // APTable, DDI 0487 D8.4.2: bit 62 = no write, bit 61 = no EL0.
        ap_no_write |= (desc >> 62) & 1;
        ap_no_el0 |= (desc >> 61) & 1;
      }
      table = next;
      continue;
    }
    if (level == 3 ? !is_table_or_page : !block_allowed(g, level)) return fault(Fault::translation, level, iova);

    const uint64_t oa = desc & kOaTop & ~bits_below(lshift);
    // DDI 0487 D8.8.2: output address above the configured size.
    if ((desc & kOaTop) >> oa_bits) return fault(Fault::address_size, level, iova);
    // AF, bit 10: without hardware update an access with AF=0 faults
    // (DDI 0487 D8.5.1).
    if (!((desc >> 10) & 1)) return fault(Fault::access_flag, level, iova);
    WalkResult r;
    r.level = level;
    r.block_size = uint64_t{1} << lshift;
    r.pa = oa | (iova & bits_below(lshift));
    if (s1) {
      // AP[2:1] = bits [7:6] (DDI 0487 D8.4.1): AP[2]=1 read-only; AP[1]=1
      // grants EL0. A privileged access ignores AP[1].
      const bool ap2 = (desc >> 7) & 1, ap1 = (desc >> 6) & 1;
      const bool allowed = cfg.s1_ignore_ap_user || (ap1 && !ap_no_el0);
      r.readable = allowed;
      r.writable = allowed && !ap2 && !ap_no_write;
    } else {
      // S2AP, bits [7:6]: bit 6 read, bit 7 write (DDI 0487 D8.4.3).
      r.readable = (desc >> 6) & 1;
      r.writable = (desc >> 7) & 1;
    }
    if ((access == Access::read && !r.readable) || (access == Access::write && !r.writable)) {
      WalkResult f = fault(Fault::permission, level, iova);
      f.readable = r.readable;
      f.writable = r.writable;
      return f;
    }
    return r;
  }
  return fault(Fault::translation, 3, iova);  // not reached: level 3 always returns
}

}  // namespace modiommu::hw::arm
