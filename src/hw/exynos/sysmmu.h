// Samsung Exynos SysMMU model ("samsung,exynos-sysmmu"): one SysMMU per
// device-tree node, of the version the board chooses (hw/exynos/regs.h:
// v1 = the 32-bit v1..v3 layout reporting 3.3, v5, v7, v7 with the VM
// register block).
//
// Modelled: MMU_CTRL (enable, block), MMU_CFG (EAP: access-protection
// check; FLPDCACHE on v1), MMU_STATUS, MMU_VERSION, v7 CAPA0/CAPA1 and
// CTRL_VM; the page-table base (v1: the PA; v5+: PA >> 12); the two-level
// walk of the table in emulated RAM; a TLB of walked mappings and a
// first-level (FLPD) cache of links to second-level tables, emptied by
// FLUSH (all), FLUSH_ENTRY (the mapping and the link covering one IOVA)
// and, v5+, the FLUSH_START/END/RANGE range flush; faults (page fault,
// access protection, table walk outside RAM) latched with their address
// and direction in the version's registers, raising the interrupt.
//
// Reset state: MMU_CTRL disabled, so every access passes untranslated
// (TranslateOutcome::bypassed: an escape for a described master). On v7
// with the VM block, CTRL_VM's enable is needed as well.
//
// BLOCK holds traffic on the real part while the driver reprograms it; here
// an access during BLOCK is translated with the configuration of the moment
// BLOCK was set (enable, table base, CFG), without the TLB, so it sees the
// old configuration or (after CTRL_ENABLE) the new one, never a mix.
//
// Not modelled: a fault aborts the access (the real part holds it until the
// interrupt is handled); QoS, clock gating, security faults and multi-hits.
//
// Locking: lock_ guards the registers, TLB and FLPD cache; taken by MMIO
// accesses and translate(); walks only read RAM. The interrupt line is
// raised after it is released.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "hw/dma.h"
#include "hw/exynos/regs.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"

namespace modiommu::hw::exynos {

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, flpd_hits = 0, page_faults = 0, access_faults = 0, bus_errors = 0;
  uint64_t bypassed = 0, flushes = 0, ignored_writes = 0;
};

class MODIOMMU_API Sysmmu : public MmioDevice, public DmaTranslator {
 public:
  Sysmmu(std::string name, PhysicalMemory& mem, Version version, IrqLine* irq = nullptr, unsigned tlb_entries = 32);
  ~Sysmmu() override;

  // 4-byte accesses; anything else reads as zero / is ignored.
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  // No stream IDs (#iommu-cells = <0>).
  TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) override;

  Version version() const { return version_; }
  Stats stats() const;
  size_t tlb_size() const;
  bool enabled() const;  // translating (not bypassing)

 private:
  struct TlbEntry {
    bool valid = false;
    uint32_t base = 0, size = 0;  // the mapping's IOVA range
    uint64_t pa = 0;
    uint8_t perm = 0;  // bit 0 read, bit 1 write
  };
  struct FlpdEntry {
    bool valid = false;
    uint32_t index = 0;  // first-level index
    uint32_t entry = 0;
  };
  enum class Walk { ok, fault, bus_error };
  struct Config {
    bool translating = false;
    uint32_t pt_base = 0, cfg = 0;
  };
  // cached: use and fill the TLB and FLPD cache (not during BLOCK).
  Walk walk_locked(uint32_t iova, const Config& c, bool cached, TlbEntry* out);
  bool fault_locked(uint32_t iova, Access access, Walk w, bool access_fault);  // true: raise the line
  bool translating_locked() const;
  void flush_range_locked(uint32_t start, uint32_t end);
  uint64_t pt_base_pa(uint32_t pt_base) const;
  Config live_locked() const { return Config{translating_locked(), pt_base_, cfg_}; }

  const std::string name_;
  PhysicalMemory& mem_;
  const Version version_;
  const Layout& lay_;
  IrqLine* const irq_;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  uint32_t ctrl_ = 0, cfg_ = 0, pt_base_ = 0, ctrl_vm_ = 0, int_status_ = 0;
  uint32_t flush_start_ = 0, flush_end_ = 0;
  Config held_;  // the configuration BLOCK holds traffic in
  uint32_t fault_addr_ = 0, fault_info_ = 0;  // the latched fault (v1: one per address register)
  uint32_t v1_page_addr_ = 0, v1_ar_addr_ = 0, v1_aw_addr_ = 0, v1_slave_addr_ = 0, v5_ar_va_ = 0, v5_aw_va_ = 0;
  std::vector<TlbEntry> tlb_;
  std::vector<FlpdEntry> flpd_;
  size_t next_victim_ = 0, next_flpd_ = 0;
  Stats stats_;
};

// A master with several SysMMUs (one per AXI port, e.g. a display
// controller's read and write ports): reads go through the first, writes
// through the last, so a driver that gives the domain to only one of them
// is caught.
class MODIOMMU_API SysmmuPorts : public DmaTranslator {
 public:
  explicit SysmmuPorts(std::vector<std::shared_ptr<DmaTranslator>> mmus) : mmus_(std::move(mmus)) {}
  TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) override {
    if (mmus_.empty()) return TranslateOutcome{};
    return (access == Access::write ? mmus_.back() : mmus_.front())->translate(stream_id, iova, access);
  }

 private:
  const std::vector<std::shared_ptr<DmaTranslator>> mmus_;
};

}  // namespace modiommu::hw::exynos
