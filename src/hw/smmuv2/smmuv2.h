// ARM SMMU architecture v1/v2 model (ARM IHI 0062), e.g. MMU-500,
// compatible "arm,mmu-500" / "arm,smmu-v2". One register region: the global
// half (GR0 page 0, GR1 page 1) and the context-bank half (one page per bank),
// and a DmaTranslator for the masters behind it.
//
// Modelled: stream matching (SMR/S2CR, incl. extended 16-bit IDs), S2CR
// translate/bypass/fault, context banks of type stage 1 (stage 2 bypass) and
// stage 2 with the shared VMSAv8-64 walker, global faults (USF, SMCF, UCBF,
// ICF) and context faults (FSR/FAR/FSYNR0) with their interrupt lines, a
// small TLB per context bank kept coherent by TLBIALL/ASID/VA(L)/IPAS2 and the
// global TLBIVMID/TLBIALLNSNH/TLBIALLH.
//
// Not modelled: nested banks (IDR0.NTS=0; CBAR.TYPE=3 and 2 give an invalid
// context fault), AArch32 short-descriptor tables (TTBCR.EAE=0 gives a
// translation fault; AArch32 LPAE with CBA2R.VA64=0 walks 4K tables with a
// 32-bit input), TTBR1 (upper VA range: translation fault), stalls
// (SCTLR.CFCFG: a fault always terminates), stream-to-context indexing
// (IDR0.SMS=1 always), secure state, ATOS, PMU, hypervisor contexts.
//
// Reset state: sCR0.CLIENTPD=1 (all transactions bypass, IHI 0062 leaves the
// reset value IMPLEMENTATION DEFINED; MMU-500 resets to client-port disable),
// every SMR invalid, every S2CR fault, every SCTLR 0.
//
// Locking: one mutex lock_ guards the whole register file and the TLBs; it is
// taken by MMIO accesses and by translate() (walks only read RAM). TLB
// maintenance thus completes in the writing thread before the write returns,
// so TLBSYNC/TLBGSYNC always read as complete and a walk in flight can never
// re-insert an entry invalidated after it. Interrupt lines are raised with
// no lock held.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "hw/arm/vmsa_walk.h"
#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/smmuv2/regs.h"

namespace modiommu::hw::smmuv2 {

enum class Version { v1, v2 };

// Implementation choices exposed through IDR0-2 and IDR7.
struct Features {
  Version version = Version::v2;
  unsigned num_smrg = 48;         // IDR0.NUMSMRG, 1..127 (SMR/S2CR pairs)
  unsigned num_cb = 8;            // IDR1.NUMCB, 1..128
  bool page64k = false;           // IDR1.PAGESIZE: register page 4 KiB or 64 KiB
  unsigned sid_bits = 15;         // IDR0.NUMSIDB; 16 also sets IDR0.EXIDS
  bool stage1 = true;             // IDR0.S1TS
  bool stage2 = true;             // IDR0.S2TS
  unsigned oas_bits = 48;         // IDR2.OAS/IAS: 32, 36, 40, 42, 44 or 48
  unsigned tlb_entries = 32;      // per context bank (round-robin replacement)
};

struct Irqs {
  IrqLine* global = nullptr;               // "global fault"
  std::vector<IrqLine*> context;           // indexed by CBAR.IRPTNDX (IDR0.NUMIRPT = size)
};

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, global_faults = 0, context_faults = 0;
};

class MODIOMMU_API SmmuV2 : public MmioDevice, public DmaTranslator {
 public:
  SmmuV2(std::string name, PhysicalMemory& mem, Features features = {}, Irqs irqs = {});
  ~SmmuV2() override;

  // MmioDevice: 4-byte accesses everywhere, 8-byte on the 64-bit registers
  // (TTBRn, FAR, sGFAR, TLBIVA*); others read as zero / are ignored.
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) override;

  const Features& features() const { return feat_; }
  uint64_t page_size() const { return page_; }
  // Size of the whole register region (global half + context-bank half).
  uint64_t region_size() const { return 2 * cb_base_; }
  // Offset of context bank n's register page.
  uint64_t cb_offset(unsigned n) const { return cb_base_ + n * page_; }
  Stats stats() const;
  size_t tlb_size(unsigned cb) const;

 private:
  struct TlbEntry {
    bool valid = false;
    uint16_t asid = 0, vmid = 0;
    uint64_t va = 0, size = 0, pa = 0;
    bool readable = false, writable = false;
  };
  struct ContextBank {
    uint32_t cbar = 0, cba2r = 0, sctlr = 0, tcr = 0, tcr2 = 0, contextidr = 0, mair0 = 0, mair1 = 0;
    uint64_t ttbr0 = 0, ttbr1 = 0, far = 0;
    uint32_t fsr = 0, fsynr0 = 0, fsynr1 = 0;
    uint32_t cbfrsynra = 0;  // GR1: stream ID of the recorded fault
    std::vector<TlbEntry> tlb;
    size_t next_victim = 0;
  };
  // Lines to raise after unlocking: bit i = context line i (i < 63), bit 63 = global.
  static constexpr uint64_t kIrqGlobal = uint64_t{1} << 63;

  uint32_t read_global(uint64_t off);
  void write_global(uint64_t off, uint64_t value, unsigned size, uint64_t& irqs);
  uint64_t read_cb(ContextBank& cb, uint64_t off, unsigned size);
  void write_cb(unsigned n, uint64_t off, uint64_t value, unsigned size);
  static constexpr unsigned kMaxContextIrqs = 63;

  // Translation helpers (lock_ held).
  void global_fault(uint32_t bit, uint32_t sid, uint64_t iova, Access access, uint64_t& irqs);
  void context_fault(unsigned n, uint32_t sid, const arm::WalkResult& r, uint64_t iova, Access access, uint64_t& irqs);
  bool context_config(const ContextBank& cb, arm::WalkConfig* cfg, uint16_t* asid) const;
  uint16_t vmid_of(const ContextBank& cb) const { return static_cast<uint16_t>(cbar::VMID::get(cb.cbar)); }
  void tlb_insert(ContextBank& cb, const TlbEntry& e);
  // Drops every entry (of any bank) for which pred(bank, entry) holds.
  template <typename Pred>
  void tlb_invalidate(Pred pred) {
    for (unsigned n = 0; n < cbs_.size(); ++n)
      for (auto& e : cbs_[n].tlb)
        if (e.valid && pred(n, e)) e.valid = false;
  }
  void fire(uint64_t irqs);

  const std::string name_;
  PhysicalMemory& mem_;
  const Features feat_;
  const Irqs irqs_;
  uint64_t page_ = 0x1000, cb_base_ = 0;
  unsigned numpagendxb_ = 0;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  uint32_t scr0_ = 0, sgfsr_ = 0, sgfsynr0_ = 0, sgfsynr1_ = 0;
  uint64_t sgfar_ = 0;
  std::vector<uint32_t> smr_, s2cr_;
  std::vector<ContextBank> cbs_;
  uint64_t tlb_hits_ = 0, tlb_misses_ = 0, global_faults_ = 0, context_faults_ = 0;
};

}  // namespace modiommu::hw::smmuv2
