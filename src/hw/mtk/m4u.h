// MediaTek M4U / "iommu-mm" / "iommu-infra" model (compatible
// mediatek,mt8183-m4u, mediatek,mt8195-iommu-vdo, ...), programmed as Linux's
// mtk_iommu.c programs it: one register bank per page (MTK_IOMMU_BANK_SZ),
// bank 0 also holding the global controls. Masters reach it through SMI
// larbs (hw/mtk/smi_larb.h): a port whose larb enable is clear bypasses the
// M4U; the stream ID a master emits is Linux's MTK_M4U_ID(larb, port) =
// larb << 5 | port (dt-bindings/memory/mtk-memory-port.h).
//
// Modelled: MMU_PT_BASE_ADDR per bank (ARMv7 short-descriptor tables with
// the MediaTek PA extension, walked by hw/arm/v7s_walk), one TLB with
// invalidate-all and range invalidation (MMU_INVALIDATE with MMU_INV_SEL,
// MMU_INVLD_START_A/END_A, completion in MMU_CPE_DONE), translation faults
// latched in MMU_FAULT_ST1 / MMU0_FAULT_VA / MMU0_INVLD_PA / MMU0_INT_ID with
// the bank's interrupt (MMU_INT_MAIN_CONTROL enable, F_INT_CLR_BIT clear),
// and the control registers Linux writes (MMU_CTRL_REG, MMU_IVRP_PADDR,
// MMU_VLD_PA_RNG, MMU_MISC_CTRL, MMU_DCM_DIS, MMU_WR_LEN_CTRL: stored, read
// back, otherwise without effect).
//
// A faulting transaction is terminated here; the real M4U (with
// F_MMU_TF_PROT_TO_PROGRAM_ADDR) redirects it to the protect buffer at
// MMU_IVRP_PADDR, which also keeps it away from the intended memory.
// MMU_PT_BASE_ADDR = 0 (its reset value) means "no table": every access
// through the M4U faults. The real M4U would walk PA 0, which on MediaTek
// SoCs is not DRAM (DRAM starts at 0x40000000); the driver relies on this
// to leave the M4U blocking when it unloads.
//
// Not modelled: the second TLB (mmu1) as a separate cache (both INV_SEL
// bits select the one TLB), prefetch, victim TLB, 4 GB mode remapping,
// MMU_VLD_PA_RNG checking (F_INT_INVALID_PA_FAULT never fires), PERICFG
// enables of infra masters (infra ports always go through the M4U), the
// secure world, power and clocks.
//
// Locking: lock_ guards the registers and the TLB; MMIO accesses and
// translate() take it (walks only read RAM), so maintenance completes in the
// writing thread and MMU_CPE_DONE is set when the write returns. Interrupts
// are raised with no lock held.
#pragma once

#include <array>
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
#include "hw/mtk/regs.h"
#include "hw/mtk/smi_larb.h"

namespace modiommu::hw::mtk {

struct Features {
  unsigned banks = 1;            // register banks (1..5); mt8195 infra has 5
  uint64_t inv_sel = MMU_INV_SEL_GEN2;  // where MMU_INV_SEL lives (GEN1 0x38 / GEN2 0x2c)
  unsigned iova_bits = 32;       // 32, or 34 (IOVA_34_EN: 16 GiB, a 64 KiB level-1 table)
  bool pgtable_pa_35 = false;    // level-2 table pointers carry PA[34:32] (PGTABLE_PA_35_EN)
  unsigned tlb_entries = 64;
  // Which bank serves a port (Linux banks_portmsk): bit p of bank_portmsk[b].
  // Ports in no mask use bank 0.
  std::array<uint32_t, kMaxBanks> bank_portmsk{};
  // MMU0_INT_ID larb field per larb ID (the SMI common port the larb hangs
  // off; Linux's larbid_remap inverted). Larbs past the end report their ID.
  std::vector<uint8_t> int_id_of_larb;
};

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, faults = 0, larb_bypassed = 0, invalidations = 0;
};

class MODIOMMU_API M4u : public MmioDevice, public DmaTranslator {
 public:
  // irqs[b]: bank b's interrupt (may be null).
  M4u(std::string name, PhysicalMemory& mem, Features features, std::vector<IrqLine*> irqs);
  ~M4u() override;

  // The larb with Linux larb ID `id` (mediatek,larb-id) sits in front of
  // this M4U. Board wiring, before any DMA.
  void attach_larb(unsigned id, std::shared_ptr<SmiLarb> larb);

  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }
  TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) override;

  uint64_t region_size() const { return feat_.banks * kBankSize; }
  const Features& features() const { return feat_; }
  Stats stats() const;
  size_t tlb_size() const;

 private:
  struct Bank {
    uint32_t pt_base = 0, inv_sel = 0, start = 0, end = 0, cpe_done = 0;
    uint32_t int_control0 = 0, int_main = 0, ivrp = 0;
    uint32_t fault_st1 = 0, fault_va = 0, invld_pa = 0, int_id = 0;
  };
  struct TlbEntry {
    bool valid = false;
    unsigned bank = 0;
    uint64_t va = 0, size = 0, pa = 0;
  };
  static uint64_t tlb_addr(uint32_t v) {
    return (uint64_t{INVLD_VA_34_32::get(v)} << 32) | (uint64_t{INVLD_VA_31_12::get(v)} << 12);
  }
  unsigned bank_of(unsigned port) const;
  void write_bank(unsigned b, uint64_t off, uint32_t v);
  uint32_t read_bank(unsigned b, uint64_t off) const;
  void fault(unsigned b, uint32_t sid, uint64_t iova, Access access, unsigned level, bool* irq);  // lock_ held

  const std::string name_;
  PhysicalMemory& mem_;
  const Features feat_;
  const std::vector<IrqLine*> irqs_;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<std::shared_ptr<SmiLarb>> larbs_;  // by larb ID (may hold nulls)
  std::vector<Bank> banks_;
  uint32_t ctrl_reg_ = 0, misc_ctrl_ = 0, dcm_dis_ = 0, wr_len_ctrl_ = 0, vld_pa_rng_ = 0;
  std::vector<TlbEntry> tlb_;
  size_t next_victim_ = 0;
  Stats stats_;
};

}  // namespace modiommu::hw::mtk
