// Rockchip IOMMU model ("rockchip,iommu" v1 on RK3288/RK3399/PX30/RK3566's
// older blocks, "rockchip,rk3568-iommu" v2 with 40-bit addresses on
// RK3568/RK3588). A node is one RkIommu: one or more MMU register banks
// (RkMmu), each a complete MMU the driver programs the same way.
//
// Modelled per bank: MMU_DTE_ADDR, MMU_STATUS, MMU_COMMAND (paging and
// stall on/off, zap cache, page-fault done, force reset), MMU_PAGE_FAULT_ADDR,
// MMU_ZAP_ONE_LINE, MMU_INT_RAWSTAT/CLEAR/MASK/STATUS, MMU_AUTO_GATING; the
// two-level walk of 1024-entry directory and page tables in emulated RAM
// (v1 or v2 entry format, hw/rockchip/regs.h); a small IOTLB of PTEs that
// ZAP_CACHE empties and ZAP_ONE_LINE trims; page faults (invalid DTE or PTE,
// missing permission, IOVA above 32 bits) recorded with their address and
// direction, raising the bank's interrupt when unmasked; table reads outside
// RAM as a bus error (IRQ_BUS_ERROR).
//
// Reset state (and after FORCE_RESET): paging disabled, so every access
// passes untranslated (TranslateOutcome::bypassed: an escape for a master
// that should be translated); DTE_ADDR, interrupt mask and status 0.
//
// Not modelled: stall as a wait. A stalled real MMU holds transactions; here
// each register write takes effect atomically under the bank lock, so an
// access sees the configuration before or after it, never a mix, and STALL
// only shows in MMU_STATUS. A page fault aborts the access (the real part
// stalls it until PAGE_FAULT_DONE). Cache attribute bits (PTE [8:3]) and
// the v2 security bit are ignored; auto gating has no effect.
//
// Which bank translates: reads go through the first bank, writes through the
// last (a VOP-like block with a read and a write AXI port behind separate
// MMUs), so a driver that programs only one bank of several is caught.
//
// Locking: each bank has one mutex (lock_) for its registers and IOTLB,
// taken by MMIO accesses and translate(); walks only read RAM. Interrupt
// lines are raised after it is released.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/rockchip/regs.h"

namespace modiommu::hw::rockchip {

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, page_faults = 0, bus_errors = 0, bypassed = 0;
  uint64_t bad_commands = 0;  // MMU_COMMAND values outside 0..6, ignored
  uint64_t force_resets = 0;
};

class MODIOMMU_API RkMmu : public MmioDevice {
 public:
  RkMmu(std::string name, PhysicalMemory& mem, Version version, IrqLine* irq = nullptr, unsigned tlb_entries = 16);
  ~RkMmu() override;

  // 4-byte accesses to the registers; anything else reads as zero / is ignored.
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  TranslateOutcome translate(uint64_t iova, Access access);

  Version version() const { return version_; }
  Stats stats() const;
  size_t tlb_size() const;
  bool paging_enabled() const;

 private:
  struct TlbEntry {
    bool valid = false;
    uint32_t page = 0;  // IOVA >> 12
    uint32_t pte = 0;
  };
  enum class Walk { ok, fault, bus_error };
  Walk walk_locked(uint64_t iova, uint32_t* pte);
  void reset_locked();
  // Records a fault (first one wins until PAGE_FAULT_DONE); true: raise the line.
  bool page_fault_locked(uint64_t iova, Access access);
  bool bus_error_locked(uint64_t iova);
  void command_locked(uint32_t cmd);

  const std::string name_;
  PhysicalMemory& mem_;
  const Version version_;
  IrqLine* const irq_;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  uint32_t dte_addr_ = 0, int_rawstat_ = 0, int_mask_ = 0, fault_addr_ = 0, auto_gating_ = 0;
  bool paging_ = false, stall_ = false, fault_active_ = false, fault_write_ = false;
  std::vector<TlbEntry> tlb_;
  size_t next_victim_ = 0;
  Stats stats_;
};

// One device-tree node: its banks and the DMA path through them.
class MODIOMMU_API RkIommu : public DmaTranslator {
 public:
  explicit RkIommu(std::vector<std::shared_ptr<RkMmu>> banks);
  // Stream IDs do not exist here (#iommu-cells = <0>): every master behind
  // the node shares its banks.
  TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) override;
  const std::vector<std::shared_ptr<RkMmu>>& banks() const { return banks_; }

 private:
  const std::vector<std::shared_ptr<RkMmu>> banks_;
};

}  // namespace modiommu::hw::rockchip
