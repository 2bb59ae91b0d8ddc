// NVIDIA Tegra SMMU model: the SMMU part of the memory controller
// ("nvidia,tegra210-mc", "nvidia,tegra132-mc", "nvidia,tegra124-mc"), at the
// MC node's first reg window. The DMA stream ID is the master's swgroup
// (its `iommus` cell).
//
// Modelled: SMMU_CONFIG (translation enable), SMMU_TLB_CONFIG and
// SMMU_PTC_CONFIG (stored), SMMU_PTB_ASID/SMMU_PTB_DATA (a directory base
// and read/write/nonsecure attributes per ASID), SMMU_TLB_FLUSH (all, by
// ASID, by 4 MiB section or 16 KiB group), SMMU_PTC_FLUSH(+_HI) (all or one
// 64-byte atom), each swgroup's ASID register (enable bit + ASID), the
// per-client translation enables (MC_SMMU_TRANSLATION_ENABLE_0..4), and
// MC_INTSTATUS/MC_INTMASK/MC_ERR_STATUS/MC_ERR_ADR for SMMU page faults.
// The two-level walk (1024-entry directory of 4 MiB, 1024-entry page tables
// of 4 KiB, pfn in the low bits: 34-bit addresses) from emulated RAM, a TLB
// of PTEs tagged by ASID and a page-table cache of table words.
//
// An access of swgroup g is made by one of g's memory clients (the first
// write client for writes, the first read client for reads). It is
// translated when SMMU_CONFIG is on, that client's enable bit is set and
// g's ASID register is enabled; otherwise it passes untranslated
// (TranslateOutcome::bypassed: the reset state, and an escape for a master
// that should be translated). A translated access to a page without the
// needed permission (or outside the tables) is aborted and latched in
// MC_ERR_STATUS/MC_ERR_ADR with the client ID, raising the MC interrupt
// (MC_INT_INVALID_SMMU_PAGE) when unmasked; the first error stays until
// its status bit is cleared.
//
// Not modelled: 4 MiB sections (a PDE without NEXT faults; Linux never
// writes one), the other MC functions (latency allowance, EMC, resets),
// hit-under-miss and arbitration settings (stored only).
//
// Locking: lock_ guards every register, the TLB and the PTC; MMIO accesses
// and translate() take it; walks only read RAM. The interrupt is raised
// after it is released.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/api.h"
#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/tegra/regs.h"
#include "hw/tegra/soc.h"

namespace modiommu::hw::tegra {

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, ptc_hits = 0, ptc_misses = 0;
  uint64_t faults = 0, bypassed = 0, translated = 0;
  uint64_t ignored_writes = 0;  // unknown or read-only offsets, bad sizes
};

class MODIOMMU_API TegraSmmu : public MmioDevice, public DmaTranslator {
 public:
  TegraSmmu(std::string name, PhysicalMemory& mem, const SmmuSoc& soc, IrqLine* irq = nullptr,
            unsigned ptc_entries = 64);
  ~TegraSmmu() override;

  // 4-byte accesses; anything else reads as zero / is ignored.
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  TranslateOutcome translate(uint32_t swgroup, uint64_t iova, Access access) override;

  const SmmuSoc& soc() const { return soc_; }
  Stats stats() const;
  size_t tlb_size() const;
  bool enabled() const;

 private:
  struct TlbEntry {
    bool valid = false;
    uint8_t asid = 0;
    uint32_t page = 0;  // IOVA >> 12
    uint32_t pte = 0;
  };
  struct PtcEntry {
    bool valid = false;
    uint64_t pa = 0;  // of the table word
    uint32_t value = 0;
  };
  const McClient* client_for(unsigned swgroup, Access access) const;
  bool client_enabled_locked(const McClient& c) const;
  Result<uint32_t> table_word_locked(uint64_t pa);
  // The PTE for (asid, iova), or 0 when none; false on a walk outside RAM.
  bool walk_locked(uint8_t asid, uint32_t iova, uint32_t* pte);
  bool fault_locked(const McClient& c, uint64_t iova, Access access, uint32_t pte);
  void tlb_flush_locked(uint32_t v);
  void ptc_flush_locked(uint32_t v);
  uint64_t pfn_mask() const { return (uint64_t{1} << (soc_.address_bits - 12)) - 1; }

  const std::string name_;
  PhysicalMemory& mem_;
  const SmmuSoc& soc_;
  IrqLine* const irq_;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  uint32_t config_ = 0, tlb_config_ = 0, ptc_config_ = 0, ptb_asid_ = 0, ptc_flush_hi_ = 0;
  uint32_t intstatus_ = 0, intmask_ = 0, err_status_ = 0, err_adr_ = 0;
  std::vector<uint32_t> ptb_data_;                    // per ASID
  std::unordered_map<uint64_t, uint32_t> asid_regs_;   // by register offset
  std::unordered_map<uint64_t, uint32_t> enable_regs_; // MC_SMMU_TRANSLATION_ENABLE_n
  std::vector<TlbEntry> tlb_;
  size_t tlb_victim_ = 0;
  std::vector<PtcEntry> ptc_;
  size_t ptc_victim_ = 0;
  Stats stats_;
};

}  // namespace modiommu::hw::tegra
