// Allwinner sun50i IOMMU model ("allwinner,sun50i-h6-iommu",
// "allwinner,sun50i-h616-iommu"): one register block, one directory (TTB)
// shared by up to six masters, each named by its master ID (the `iommus`
// cell, the stream ID here).
//
// Modelled: the registers Linux's sun50i-iommu.c programs (hw/sun50i/
// regs.h); the two-level walk of a 4096-entry directory (1 MiB per DTE) and
// 256-entry page tables (4 KiB pages) in emulated RAM; the PTE's access
// control index (ACI) looked up in DM_AUT_CTRL per master for read/write
// permission; a TLB of PTEs and a page-table-walk (PTW) cache of DTEs,
// emptied by TLB_FLUSH (macro TLB / PTW cache bits), trimmed by
// TLB_IVLD_ADDR/ADDR_MASK/ENABLE (address and mask) and by
// PC_IVLD_ADDR/ENABLE (one DTE); the enable registers complete at once and
// read back 0 (the handshake Linux polls). Faults: an invalid DTE sets
// INT_STA.L1PG with ERR_ADDR_L1 and the master's bit in L1PG_INT, an invalid
// PTE the same for L2, a permission miss the master's INT_STA bit with
// ERR_ADDR(m) and ERR_DATA(m) = the PTE; the interrupt line is raised when
// an enabled cause becomes pending. The first fault of a cause stays
// recorded until INT_CLR clears it.
//
// Reset state: ENABLE = 0, so every access passes untranslated
// (TranslateOutcome::bypassed, an escape for a described master); with
// ENABLE = 1 a master whose IOMMU_BYPASS_REG bit is set passes too. A master
// held in reset (its IOMMU_RESET_REG bit 0) or an ID above 5 is aborted.
//
// Not modelled: micro TLBs (the micro-TLB flush bits are accepted: one
// shared TLB stands for macro and micro), prefetch, write buffer,
// out-of-order and 4 KiB-boundary controls, auto gating (stored only),
// DM_AUT_OVWT. Table reads outside RAM fault as an invalid entry of that
// level (counted in Stats::bus_errors).
//
// Locking: lock_ guards the registers, the TLB and the PTW cache; taken by
// MMIO accesses and translate(); walks only read RAM. The interrupt line is
// raised after it is released.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/sun50i/regs.h"

namespace modiommu::hw::sun50i {

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, ptw_hits = 0;
  uint64_t l1_faults = 0, l2_faults = 0, permission_faults = 0, bus_errors = 0;
  uint64_t bypassed = 0, bad_master = 0, in_reset = 0;
  uint64_t tlb_flushes = 0, tlb_invalidations = 0, ptw_invalidations = 0;
};

class MODIOMMU_API Sun50iIommu : public MmioDevice, public DmaTranslator {
 public:
  Sun50iIommu(std::string name, PhysicalMemory& mem, IrqLine* irq = nullptr, unsigned tlb_entries = 64,
              unsigned ptw_entries = 16);
  ~Sun50iIommu() override;

  // 4-byte accesses; anything else reads as zero / is ignored.
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  // stream_id is the master ID.
  TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) override;

  Stats stats() const;
  size_t tlb_size() const;
  size_t ptw_size() const;
  bool enabled() const;
  uint32_t bypass() const;

 private:
  struct TlbEntry {
    bool valid = false;
    uint32_t key = 0;  // TLB: IOVA >> 12; PTW cache: directory index
    uint32_t entry = 0;
  };
  enum class Walk { ok, l1, l2 };
  void reset_locked();
  Walk walk_locked(uint64_t iova, uint32_t* pte);
  // Records a fault; true when the line must be raised.
  bool fault_locked(Walk w, unsigned master, uint64_t iova, uint32_t pte);
  bool set_sta_locked(uint32_t bit);

  const std::string name_;
  PhysicalMemory& mem_;
  IrqLine* const irq_;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  uint32_t reset_ = 0, enable_ = 0, bypass_ = 0, auto_gating_ = 0, wbuf_ = 0, ooo_ = 0, bdy_prt_ = 0, ttb_ = 0;
  uint32_t tlb_enable_ = 0, prefetch_ = 0, ivld_addr_ = 0, ivld_mask_ = 0, pc_ivld_addr_ = 0, ovwt_ = 0;
  std::array<uint32_t, kAciDomains / 2> dm_aut_{};
  uint32_t int_enable_ = 0, int_sta_ = 0, err_addr_l1_ = 0, err_addr_l2_ = 0, l1pg_int_ = 0, l2pg_int_ = 0;
  std::array<uint32_t, kMasters> err_addr_{}, err_data_{};
  std::vector<TlbEntry> tlb_, ptw_;
  size_t tlb_victim_ = 0, ptw_victim_ = 0;
  Stats stats_;
};

}  // namespace modiommu::hw::sun50i
