// SMI larb registers: the per-port M4U enables (Linux mtk-smi.c).
#include "hw/mtk/smi_larb.h"

#include "hw/mtk/regs.h"

namespace modiommu::hw::mtk {

uint64_t SmiLarb::read(uint64_t offset, unsigned size) {
  if (size != 4) return 0;
  const uint32_t m = mmu_.load(std::memory_order_acquire);
  switch (layout_) {
    case Layout::mmu_en_f00: return offset == SMI_LARB_MMU_EN_MT8173 ? m : 0;
    case Layout::mmu_en_fc0: return offset == SMI_LARB_MMU_EN_MT8167 ? m : 0;
    case Layout::nonsec_con:
      if (offset >= SMI_LARB_NONSEC_CON_BASE && offset < SMI_LARB_NONSEC_CON_BASE + 4 * kPorts && offset % 4 == 0)
        return (m >> ((offset - SMI_LARB_NONSEC_CON_BASE) / 4)) & 1 ? F_MMU_EN : 0;
      return 0;
  }
  return 0;
}

void SmiLarb::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4) return;  // other widths: ignored
  const uint32_t v = static_cast<uint32_t>(value);
  switch (layout_) {
    case Layout::mmu_en_f00:
      if (offset == SMI_LARB_MMU_EN_MT8173) mmu_.store(v, std::memory_order_release);
      return;
    case Layout::mmu_en_fc0:
      if (offset == SMI_LARB_MMU_EN_MT8167) mmu_.store(v, std::memory_order_release);
      return;
    case Layout::nonsec_con: {
      if (offset < SMI_LARB_NONSEC_CON_BASE || offset >= SMI_LARB_NONSEC_CON_BASE + 4 * kPorts || offset % 4) return;
      const uint32_t bit = 1u << ((offset - SMI_LARB_NONSEC_CON_BASE) / 4);
      if (v & F_MMU_EN) mmu_.fetch_or(bit, std::memory_order_acq_rel);
      else mmu_.fetch_and(~bit, std::memory_order_acq_rel);
      return;
    }
  }
}

}  // namespace modiommu::hw::mtk
