// Helpers shared by the SMMUv3 model's translation files (not an API).
#pragma once

#include <cstdint>

#include "hw/arm/vmsa_walk.h"
#include "hw/smmuv3/smmuv3.h"

namespace modiommu::hw::smmuv3::detail {

using arm::Granule;
using arm::WalkConfig;
using arm::WalkResult;
using Fault = WalkResult::Fault;

// IDR5.OAS / CD.IPS / STE.S2PS encodings (6.3.6).
inline unsigned pa_bits(unsigned enc) {
  static constexpr unsigned kBits[] = {32, 36, 40, 42, 44, 48, 52, 52};
  return kBits[enc & 7];
}

// CD.TG0 and STE.S2TG share one encoding: 0 4K, 1 64K, 2 16K (5.4, 5.2).
inline bool decode_tg(unsigned tg, const Features& f, Granule* g) {
  switch (tg) {
    case 0: *g = Granule::k4K; return f.gran4k;
    case 1: *g = Granule::k64K; return f.gran64k;
    case 2: *g = Granule::k16K; return f.gran16k;
    default: return false;
  }
}

inline uint8_t fault_event(Fault f) {
  switch (f) {
    case Fault::translation: return F_TRANSLATION;
    case Fault::address_size: return F_ADDR_SIZE;
    case Fault::access_flag: return F_ACCESS;
    case Fault::permission: return F_PERMISSION;
    case Fault::external: return F_WALK_EABT;
    case Fault::none: break;
  }
  return F_TRANSLATION;
}

struct S2Ctx {
  const PhysicalMemory* mem;
  const WalkConfig* s2;
};

// Nested: stage-1 table fetches are stage-2 translated reads (IHI 0070 3.3).
inline WalkResult s2_table_hook(void* ctx, uint64_t ipa) {
  auto* c = static_cast<S2Ctx*>(ctx);
  return arm::walk(*c->mem, *c->s2, ipa, Access::read);
}

// IOTLB slot of (tag, page): a hash of the tag plus the page number, so the
// pages of one buffer sit in consecutive slots (two per host cache line) and
// a streaming DMA reads the cache sequentially, as host prefetchers expect.
// The IOTLB is direct-mapped; a collision only evicts (always permitted).
inline size_t iotlb_hash(uint64_t tag) {
  const uint64_t h = tag * 0x9e3779b97f4a7c15ull;
  return static_cast<size_t>(h ^ (h >> 29));
}
inline size_t iotlb_slot(uint64_t tag, uint64_t page) { return iotlb_hash(tag) + static_cast<size_t>(page); }

inline unsigned log2_of(uint64_t v) { return static_cast<unsigned>(63 - __builtin_clzll(v)); }
}  // namespace modiommu::hw::smmuv3::detail
