// Renesas IPMMU-VMSA model (R-Car Gen2/Gen3/Gen4, RZ/G2), compatibles
// "renesas,ipmmu-vmsa", "renesas,ipmmu-r8a77xx", "renesas,rcar-gen4-ipmmu-vmsa".
// One register region per instance and a DmaTranslator for the masters
// behind it; a master's stream ID is its micro-TLB number (#iommu-cells 1).
//
// Root and cache ("leaf") IPMMUs (renesas,ipmmu-vmsa.yaml renesas,ipmmu-main;
// Linux ipmmu-vmsa.c ipmmu_ctx_write_root/_all): the translation contexts
// (IMTTBCR, IMTTLBR0/IMTTUBR0, IMMAIR0, IMSTR, IMELAR/IMEUAR) that count are
// the root's; a leaf holds the micro-TLBs (IMUCTR/IMUASID) of its masters,
// each enabled and pointed at a root context (TTSEL), and a TLB of its own,
// flushed by IMCTR.FLUSH of the context in the leaf (Linux writes IMCTR to
// leaf and root). Faults are recorded in the root context's IMSTR and
// IMELAR/IMEUAR and raise the root's interrupt when IMCTR.INTEN is set.
// Gen2 instances are their own root.
//
// Modelled: long-descriptor (LPAE) stage-1 tables with a 32-bit input
// (IMTTBCR.TSZ0) and a 40-bit output, 4K granule, walked from emulated RAM
// by the shared VMSA walker; translation, permission and walk-abort faults.
// Not modelled: short descriptors (IMTTBCR.EAE=0: translation fault), TTBR1,
// the PMB, secure bank (Gen2: registers below the +0x800 non-secure alias
// read as zero), IMBUSCR (stored only), ASIDs (IMUASID stored only),
// multiple-hit detection.
//
// What untranslated means: a micro-TLB with IMUCTR.MMUEN=0 passes its
// master's addresses through (reset state; Linux's identity domain and its
// allowlist policy rely on it), as does a micro-TLB pointed at a context
// whose IMCTR.MMUEN is 0. A driver that wants DMA blocked points the
// micro-TLB at an enabled context whose tables map nothing.
//
// Reset state: every IMCTR and IMUCTR 0 (translation off everywhere).
//
// Locking: lock_ guards the register file and the TLB; MMIO and translate()
// take it. A leaf's translate() takes its root's lock inside its own (leaf
// before root; a root never calls a leaf). Interrupt lines are raised with
// no lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "hw/arm/vmsa_walk.h"
#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/ipmmu/regs.h"

namespace modiommu::hw::ipmmu {

enum class Generation { gen2, gen3, gen4 };

struct Features {
  Generation gen = Generation::gen3;
  unsigned num_ctx = 8;      // Gen2 4 (Linux uses 1), Gen3 8, Gen4 16
  unsigned num_utlbs = 48;   // Gen2 32, Gen3 48, Gen4 64
  unsigned tlb_entries = 32;  // this instance's TLB (round-robin replacement)
};
MODIOMMU_API Features features_for(Generation g);
MODIOMMU_API Layout layout_for(Generation g);

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, faults = 0, bypassed = 0;
};

class MODIOMMU_API Ipmmu : public MmioDevice, public DmaTranslator {
 public:
  // root: null for a root (or Gen2) instance; for a leaf, how to find its
  // root model once the board is built (called on first use).
  using RootResolver = std::function<std::shared_ptr<Ipmmu>()>;
  Ipmmu(std::string name, PhysicalMemory& mem, Features f = {}, IrqLine* irq = nullptr, RootResolver root = nullptr);
  ~Ipmmu() override;

  // 32-bit accesses only; anything else reads as zero / is ignored.
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  TranslateOutcome translate(uint32_t utlb, uint64_t iova, Access access) override;

  const Features& features() const { return feat_; }
  const Layout& layout() const { return layout_; }
  uint64_t region_size() const;
  bool is_leaf() const { return static_cast<bool>(resolver_); }
  Stats stats() const;
  size_t tlb_size() const;

 private:
  struct Context {
    uint32_t imctr = 0, imttbcr = 0, imbuscr = 0, ttlbr0 = 0, ttubr0 = 0, imstr = 0, immair0 = 0, imelar = 0,
             imeuar = 0;
  };
  struct Utlb {
    uint32_t imuctr = 0, imuasid = 0;
  };
  struct TlbEntry {
    bool valid = false;
    unsigned ctx = 0;
    uint64_t va = 0, size = 0, pa = 0;
    bool readable = false, writable = false;
  };
  // The result of a root context for one access (root's lock_ held).
  struct CtxResult {
    enum class Kind { walked, off, fault } kind = Kind::fault;
    arm::WalkResult walk;
  };

  uint32_t read_reg(uint64_t off);
  void write_reg(uint64_t off, uint32_t v);
  // Which context / micro-TLB register an offset names (false: none).
  bool decode_ctx(uint64_t off, unsigned* ctx, uint64_t* reg) const;
  bool decode_utlb(uint64_t off, unsigned* n, uint64_t* reg) const;
  CtxResult context_translate(unsigned ctx, uint64_t iova, Access access, bool* irq);  // lock_ held
  void flush_ctx(unsigned ctx);                                                       // lock_ held
  void tlb_insert(const TlbEntry& e);                                                 // lock_ held
  Ipmmu* root_locked();                                                               // lock_ held

  const std::string name_;
  PhysicalMemory& mem_;
  const Features feat_;
  const Layout layout_;
  IrqLine* const irq_;
  const RootResolver resolver_;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::shared_ptr<Ipmmu> root_;  // a leaf's, once resolved
  std::vector<Context> ctx_;
  std::vector<Utlb> utlb_;
  std::vector<TlbEntry> tlb_;
  size_t next_victim_ = 0;
  Stats stats_;
};

}  // namespace modiommu::hw::ipmmu
