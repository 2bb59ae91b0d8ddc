// Qualcomm MSM IOMMU model ("qcom,msm-iommu-v1": MSM8916, MSM8953, MSM8976;
// Linux drivers/iommu/arm/arm-smmu/qcom_iommu.c, binding qcom,iommu.yaml).
// An ARM SMMU-500 whose global registers belong to the secure firmware (TZ):
// the stream-to-context mapping (SMR/S2CR) is fixed before Linux runs, and
// Linux programs only the context banks, each a child node
// ("qcom,msm-iommu-v1-ns" / "-sec") with its own 4 KiB window and interrupt.
//
// Modelled:
// - QcomIommu: the IOMMU node. Its `reg` window (the "local" registers, e.g.
//   SMMU_INTR_SEL_NS at 0x2000) is stored only. Its DmaTranslator takes as
//   stream ID the context bank number a master's `iommus` cell names: that
//   is the route TZ's SMR/S2CR give the master, so the board, not the
//   driver, decides it (as on the SoC).
// - ContextBank: the ARM IHI 0062 context bank registers (SCTLR, TCR/TTBCR,
//   TCR2, TTBR0/1, MAIR0/1, CONTEXTIDR, FSR, FAR, FSYNR0, RESUME, TLBIASID,
//   TLBIVA(L), TLBIALL, TLBSYNC/TLBSTATUS), AArch32 long-descriptor (LPAE)
//   stage-1 tables with a 32-bit input (TTBCR.T0SZ [2:0]) and 40-bit output
//   walked by the shared VMSA walker, a TLB tagged with the ASID of TTBR0,
//   and fault recording (FSR/FAR/FSYNR0) with the bank's interrupt when
//   SCTLR.CFIE is set. Faulting transactions are terminated (a stall,
//   SCTLR.CFCFG, is answered as terminate; RESUME is accepted and ignored).
// Not modelled: short descriptors (TTBCR.EAE=0 faults every access), TTBR1,
// the secure side (a "-sec" bank behaves as a "-ns" one: the scm calls that
// hand it to the non-secure side, qcom_scm_restore_sec_cfg, have no
// monitor to go to here), clocks and power.
//
// Reset state: SCTLR.M=0. A context bank with M=0 passes its masters'
// transactions through untranslated, as the SMMU does for a context whose
// MMU is off; a driver that wants DMA stopped keeps M=1 on a table that
// maps nothing.
//
// Locking: lock_ guards every bank and the TLB; MMIO and translate() take
// it. Interrupt lines are raised with no lock held.
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

namespace modiommu::hw::qcom {

inline constexpr unsigned kMaxContexts = 128;       // a context bank number is a child's reg / 0x1000 (< 0x80000)
inline constexpr uint64_t kContextSpan = 0x1000;    // one bank's window (Linux qcom_iommu.c get_asid)
inline constexpr uint64_t SMMU_INTR_SEL_NS = 0x2000;  // Linux qcom_iommu.c: local register

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, faults = 0, bypassed = 0;
};

class MODIOMMU_API QcomIommu : public MmioDevice, public DmaTranslator {
 public:
  QcomIommu(std::string name, PhysicalMemory& mem, unsigned tlb_entries = 64);
  ~QcomIommu() override;

  // The local window: 32-bit registers stored, anything else ignored.
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  // A context bank child: `ctx` its number, `irq` its interrupt (may be null).
  // False when the number is out of range or taken.
  bool add_context(unsigned ctx, IrqLine* irq);
  // The register window of context bank `ctx` of `mmu`: a child node's
  // 4 KiB window, forwarding to the bank (keeps `mmu` alive).
  static std::shared_ptr<MmioDevice> context_window(std::shared_ptr<QcomIommu> mmu, unsigned ctx);
  // MMIO of one bank (its window forwards here).
  uint64_t ctx_read(unsigned ctx, uint64_t offset, unsigned size);
  void ctx_write(unsigned ctx, uint64_t offset, uint64_t value, unsigned size);

  TranslateOutcome translate(uint32_t sid, uint64_t iova, Access access) override;

  Stats stats() const;
  size_t tlb_size() const;
  bool has_context(unsigned ctx) const;

 private:
  struct Bank {
    bool present = false;
    IrqLine* irq = nullptr;
    uint32_t sctlr = 0, actlr = 0, tcr = 0, tcr2 = 0, contextidr = 0, mair0 = 0, mair1 = 0, fsr = 0, fsynr0 = 0;
    uint64_t ttbr0 = 0, ttbr1 = 0, far = 0;
  };
  struct TlbEntry {
    bool valid = false;
    unsigned ctx = 0;
    uint16_t asid = 0;
    uint64_t va = 0, size = 0, pa = 0;
    bool readable = false, writable = false;
  };

  uint32_t bank_read32(Bank& b, uint64_t off) const;                 // lock_ held
  void bank_write32(unsigned ctx, Bank& b, uint64_t off, uint32_t v);  // lock_ held
  void tlb_invalidate(unsigned ctx, bool by_asid, uint16_t asid, bool by_va, uint64_t va);  // lock_ held
  void tlb_insert(const TlbEntry& e);                                                       // lock_ held

  const std::string name_;
  PhysicalMemory& mem_;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<Bank> banks_;
  std::vector<uint32_t> local_;  // the local window's 32-bit registers
  std::vector<TlbEntry> tlb_;
  size_t next_victim_ = 0;
  Stats stats_;
};

}  // namespace modiommu::hw::qcom
