// MediaTek SMI local arbiter ("larb", compatible mediatek,mtXXXX-smi-larb):
// the multimedia masters' path to memory. Per port, a register bit chooses
// whether the port's transactions go through the M4U (translated) or
// straight to memory with the address the master emits (Linux mtk-smi.c:
// MTK_SMI_MMU_EN). Reset: every bit clear, so every port bypasses the M4U.
//
// Only that enable is modelled: bandwidth limits, OSTD, GALS, the smi-common
// above it and power/clock gating are not (the larb is always on).
//
// Locking: the enables are one atomic word, read per DMA piece by the M4U
// model; MMIO writes store it. No lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "base/api.h"
#include "hw/mmio.h"

namespace modiommu::hw::mtk {

class MODIOMMU_API SmiLarb : public MmioDevice {
 public:
  enum class Layout {
    mmu_en_f00,   // mt8173, mt6795: SMI_LARB_MMU_EN at 0xf00, bit per port
    mmu_en_fc0,   // mt8167: at 0xfc0
    nonsec_con,   // mt2712, mt6779, mt8183 and later: SMI_LARB_NONSEC_CON(port) bit 0
  };
  static constexpr uint64_t kRegionSize = 0x1000;
  static constexpr unsigned kPorts = 32;

  SmiLarb(std::string name, unsigned larb_id, Layout layout) : name_(std::move(name)), id_(larb_id), layout_(layout) {}

  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  unsigned id() const { return id_; }
  Layout layout() const { return layout_; }
  bool mmu_enabled(unsigned port) const {
    return port < kPorts && ((mmu_.load(std::memory_order_acquire) >> port) & 1);
  }
  uint32_t mmu_mask() const { return mmu_.load(std::memory_order_acquire); }

 private:
  const std::string name_;
  const unsigned id_;
  const Layout layout_;
  std::atomic<uint32_t> mmu_{0};
};

}  // namespace modiommu::hw::mtk
