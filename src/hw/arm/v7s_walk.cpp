// ARMv7 short-descriptor walk (DDI 0406C B3.5.1 descriptor formats, B3.6
// access permissions).
#include "hw/arm/v7s_walk.h"

namespace modiommu::hw::arm {

namespace {

uint64_t mtk_bits(uint32_t d) {
  uint64_t pa = 0;
  if (d & (1u << 9)) pa |= uint64_t{1} << 32;  // Linux ARM_V7S_ATTR_MTK_PA_BIT32
  if (d & (1u << 4)) pa |= uint64_t{1} << 33;  // ..._BIT33
  if (d & (1u << 5)) pa |= uint64_t{1} << 34;  // ..._BIT34
  return pa;
}

}  // namespace

WalkResult v7s_walk(const PhysicalMemory& mem, const V7sWalkConfig& cfg, uint64_t iova, Access access) {
  WalkResult r;
  const unsigned ib = cfg.input_bits < 32 ? 32 : (cfg.input_bits > 34 ? 34 : cfg.input_bits);
  auto fault = [&](WalkResult::Fault f, unsigned lvl) {
    r.fault = f;
    r.level = lvl;
    r.fault_ipa_or_va = iova;
    return r;
  };
  if (iova >> ib) return fault(WalkResult::Fault::translation, 1);
  const uint64_t a1 = cfg.ttb + (iova >> 20) * 4;
  mem.note_table_read(a1);
  auto d1 = mem.read32(a1);
  if (!d1.ok()) {
    r.fetch_pa = a1;
    return fault(WalkResult::Fault::external, 1);
  }
  const uint32_t l1 = *d1;
  uint32_t leaf = 0;
  unsigned lvl = 1;
  switch (l1 & 3) {
    case 0: return fault(WalkResult::Fault::translation, 1);
    case 1: {
      uint64_t t = l1 & 0xfffffc00u;
      if (cfg.mtk_table_ext) t |= mtk_bits(l1);
      const uint64_t a2 = t + ((iova >> 12) & 0xff) * 4;
      mem.note_table_read(a2);
      auto d2 = mem.read32(a2);
      if (!d2.ok()) {
        r.fetch_pa = a2;
        return fault(WalkResult::Fault::external, 2);
      }
      leaf = *d2;
      lvl = 2;
      if ((leaf & 3) == 0) return fault(WalkResult::Fault::translation, 2);
      if ((leaf & 3) == 1) {
        r.block_size = uint64_t{1} << 16;
        r.pa = (leaf & 0xffff0000u) | (iova & 0xffff);
      } else {
        r.block_size = uint64_t{1} << 12;
        r.pa = (leaf & 0xfffff000u) | (iova & 0xfff);
      }
      break;
    }
    default:
      // 2 and 3 (PXN on LPAE-capable parts): a section or supersection.
      leaf = l1;
      if (l1 & (1u << 18)) {
        r.block_size = uint64_t{1} << 24;
        r.pa = (l1 & 0xff000000u) | (iova & 0xffffff);
      } else {
        r.block_size = uint64_t{1} << 20;
        r.pa = (l1 & 0xfff00000u) | (iova & 0xfffff);
      }
      break;
  }
  r.level = lvl;
  if (cfg.mtk_ext) {
    r.pa |= mtk_bits(leaf);
    r.readable = r.writable = true;
  } else {
    // AP[2] sits at bit 15 (level 1) or bit 9 (level 2): read-only.
    const bool ro = leaf & (lvl == 1 ? (1u << 15) : (1u << 9));
    r.readable = true;
    r.writable = !ro;
    if (access == Access::write && ro) return fault(WalkResult::Fault::permission, lvl);
  }
  return r;
}

}  // namespace modiommu::hw::arm
