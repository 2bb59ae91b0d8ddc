// ARM SMMUv3 model (ARM IHI 0070), compatible "arm,smmu-v3": a 128 KiB
// register region (pages 0 and 1) and a DmaTranslator for the masters behind
// it. Stage 1, stage 2 and nested translation with AArch64 tables, linear and
// 2-level stream tables, one CD per stream (SSID 0 / no substream), command
// and event queues, GERROR, global bypass (GBPA).
//
// Not modelled: MSIs (IDR0.MSI=0: completion and interrupts are the wired
// lines "eventq", "gerror", "cmdq-sync" of the Linux binding), PRI, ATS,
// stalls (IDR0.STALL_MODEL=0b01), HTTU, range invalidation (IDR3.RIL=0),
// 2-level CD tables (IDR0.CD2L=0), secure state. Terminated transactions
// always abort (IDR0.TERM_MODEL=1, so CD.A is not consulted).
//
// Command consumption is synchronous: a write to CMDQ_PROD (or an enable /
// GERRORN ack that unblocks the queue) consumes commands in the writing
// thread before the write returns, so CMD_SYNC completion is deterministic.
//
// Locking (lock order top to bottom; never the reverse):
//   regs_lock_   mutex: register file, command queue state, command
//                execution. Taken by MMIO accesses and by the translation
//                miss path (to snapshot STRTAB_BASE/_CFG).
//   cfg_lock_    shared_mutex: config cache (decoded STE+CD per stream ID)
//                and the writer side of the config fast slots.
//   tlb_lock_    mutex: writer side of the IOTLB.
//   evtq_lock_   mutex: event queue registers and writes.
// The hit path of translate() takes no lock at all: SMMUEN/GBPA are atomics,
// the stream's config summary and the IOTLB are seqlocked direct-mapped
// slot arrays (seq_slots.h). No allocation on that path.
// Invalidation racing a walk in flight: walks note cfg_gen_/tlb_gen_ before
// they start and insert their result only if no invalidation happened since,
// so a CMD_SYNC'd invalidation is never undone by a stale insert. A
// translation returned before the invalidation may still be used for the one
// access it was issued for (as a transaction in flight in hardware).
// Interrupt lines are raised with no lock held.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/api.h"
#include "hw/arm/vmsa_walk.h"
#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/smmuv3/regs.h"
#include "hw/smmuv3/seq_slots.h"

namespace modiommu::hw::smmuv3 {

// Implementation choices exposed through the ID registers.
struct Features {
  bool stage1 = true;            // IDR0.S1P
  bool stage2 = true;            // IDR0.S2P
  bool two_level_strtab = true;  // IDR0.ST_LEVEL = 0b01
  bool hyp = true;               // IDR0.HYP (CMD_TLBI_EL2_*)
  bool sev = true;               // IDR0.SEV (CMD_SYNC CS=SIG_SEV)
  unsigned sid_bits = 16;        // IDR1.SIDSIZE, <= 32
  unsigned ssid_bits = 0;        // IDR1.SSIDSIZE, <= 20
  unsigned cmdq_log2 = 8;        // IDR1.CMDQS, <= 19
  unsigned eventq_log2 = 7;      // IDR1.EVENTQS, <= 19
  bool gran4k = true, gran16k = true, gran64k = true;  // IDR5.GRANxx
  unsigned oas_bits = 48;        // IDR5.OAS: 32, 36, 40, 42, 44 or 48
  size_t iotlb_capacity = 8192;  // entries (rounded up to a power of two), direct-mapped
};

struct Irqs {
  IrqLine* eventq = nullptr;
  IrqLine* gerror = nullptr;
  IrqLine* cmdq_sync = nullptr;
};

struct Stats {
  uint64_t tlb_hits = 0, tlb_misses = 0, cfg_misses = 0;
  uint64_t events = 0, events_lost = 0, commands = 0, syncs = 0, sevs = 0;
};

class MODIOMMU_API SmmuV3 : public MmioDevice, public DmaTranslator {
 public:
  SmmuV3(std::string name, PhysicalMemory& mem, Features features = {}, Irqs irqs = {});
  ~SmmuV3() override;

  // MmioDevice: 4- and 8-byte accesses; others read as zero / are ignored.
  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  // DmaTranslator: a transaction without substream ID.
  TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) override;
  // SMMUEN and the stream's config summary are read once per burst, IOTLB
  // hits are counted once; every page still probes the IOTLB, so an
  // invalidation completed before the burst began is honoured for all of it.
  // Misses take translate()'s full path.
  size_t translate_burst(uint32_t stream_id, uint64_t iova, uint64_t len, Access access, TranslateOutcome* out,
                         size_t max) override;

  const Features& features() const { return feat_; }
  Stats stats() const;
  size_t iotlb_size() const;
  size_t config_cache_size() const;

  // Decoded translation setup of one stream (from STE + CD).
  struct StreamConfig {
    unsigned config = STE_CFG_ABORT;
    bool s1 = false, s2 = false;
    bool s1_record = true, s2_record = true;  // CD.R, STE.S2R
    bool epd0 = false;
    uint16_t asid = 0, vmid = 0;
    bool s1_bypass_no_ssid = false;  // S1CDMax != 0 with S1DSS=bypass
    arm::WalkConfig s1cfg, s2cfg;
    uint64_t mair = 0;
  };
  // 5.2: what the first 256 bits of an STE say, without fetching anything
  // (the CD address goes to *cd_addr when stage 1 applies). 0 for a legal
  // STE, else the event it raises (C_BAD_STE, F_STREAM_DISABLED).
  static uint8_t decode_ste(const uint64_t w[4], const Features& f, StreamConfig* sc, uint64_t* cd_addr);

 private:
  enum TlbKind : uint64_t { kS1 = 1, kS2 = 2, kNested = 3 };
  static uint64_t tlb_tag(uint64_t kind, uint16_t vmid, uint16_t asid, unsigned size_log2) {
    return kind | (uint64_t{vmid} << 2) | (uint64_t{asid} << 18) | (uint64_t{size_log2} << 34);
  }
  static uint64_t tag_kind(uint64_t tag) { return tag & 3; }
  static uint16_t tag_vmid(uint64_t tag) { return static_cast<uint16_t>(tag >> 2); }
  static uint16_t tag_asid(uint64_t tag) { return static_cast<uint16_t>(tag >> 18); }
  static unsigned tag_size(uint64_t tag) { return static_cast<unsigned>((tag >> 34) & 63); }

  struct EventRecord {
    uint8_t type = 0;
    uint32_t sid = 0;
    bool rnw = false, s2 = false;
    unsigned cls = 0;
    uint64_t input = 0, ipa = 0, fetch = 0;
  };

  // Register helpers (regs_lock_ held).
  uint32_t read32_locked(uint64_t offset);
  void write32_locked(uint64_t offset, uint32_t value, unsigned& irqs);
  void process_cmdq_locked(unsigned& irqs);
  CmdError exec_cmd_locked(const uint64_t cmd[2], unsigned& irqs);
  void gerror_raise(uint32_t bit, unsigned& irqs);
  bool gerror_active(uint32_t bit) const;
  void fire(unsigned irqs);

  // Translation.
  bool get_config(uint32_t sid, StreamConfig* out);
  bool decode_stream(uint32_t sid, StreamConfig* out);
  bool decode_cd(uint32_t sid, uint64_t cd_addr, StreamConfig* sc);
  void record(const EventRecord& e);
  void record_walk_fault(uint32_t sid, const arm::WalkResult& r, Access access, bool stage2, bool after_s1,
                         uint64_t ipa);
  void tlb_insert(uint64_t tag, uint64_t page, uint64_t val, unsigned size_log2, uint64_t gen);
  static size_t tlb_hash(uint64_t tag, uint64_t page) {
    uint64_t h = tag * 0x9e3779b97f4a7c15ull ^ (page * 0xbf58476d1ce4e5b9ull);
    return static_cast<size_t>(h ^ (h >> 31));
  }
  // Config summary for the hot path: kind | vmid << 16 | asid << 32.
  enum FastKind : uint64_t { kFastAbort = 0, kFastBypass = 1, kFastS1 = 2, kFastS2 = 3, kFastNested = 4 };
  static uint64_t fast_summary(const StreamConfig& sc);
  bool fast_config(uint32_t sid, uint64_t* summary) const;
  // IOTLB hit for iova under a translating summary (S1/S2/nested), probing
  // the leaf sizes in `sizes`; no counters touched. False on a miss or when
  // the entry lacks the permission (the walk then reports the fault).
  bool iotlb_probe(uint64_t summary, uint64_t sizes, uint64_t iova, Access access, TranslateOutcome* out) const;
  // The per-size part of a probe (tag and slot hash), worked out once for a
  // burst of probes under one summary: a page's probe is then one slot read.
  struct ProbePlan {
    unsigned n = 0;  // one entry per bit of the 64-bit leaf-size mask at most
    unsigned size[64];
    uint64_t key[64];  // tag | kValid
    size_t hash[64];
  };
  static void plan_probe(uint64_t summary, uint64_t sizes, ProbePlan* plan);
  bool probe_planned(const ProbePlan& plan, uint64_t iova, Access access, TranslateOutcome* out) const;

  // Invalidation (regs_lock_ held by the command path).
  void cfg_invalidate(uint32_t first_sid, uint64_t count);
  void tlb_invalidate_if(const std::function<bool(uint64_t tag, uint64_t page)>& pred);
  void tlb_invalidate_va(uint64_t kind, uint16_t vmid, uint16_t asid, uint64_t va);

  const std::string name_;
  PhysicalMemory& mem_;
  const Features feat_;
  const Irqs irqs_;

  std::mutex regs_lock_;  // docs/architecture.md "Locks"
  uint32_t cr0_ = 0, cr1_ = 0, cr2_ = 0, gbpa_ = 0, irq_ctrl_ = 0;
  uint64_t strtab_base_ = 0, gerror_irq_cfg0_ = 0, eventq_irq_cfg0_ = 0;
  uint32_t strtab_cfg_ = 0, gerror_irq_cfg1_ = 0, gerror_irq_cfg2_ = 0, eventq_irq_cfg1_ = 0, eventq_irq_cfg2_ = 0;
  uint64_t cmdq_base_ = 0;
  uint32_t cmdq_prod_ = 0, cmdq_cons_ = 0;

  // Mirrors read locklessly by translate().
  std::atomic<bool> smmuen_{false}, gbpa_abort_{false}, eventq_en_{false};
  std::atomic<uint32_t> irq_ctrl_mirror_{0};
  std::atomic<uint32_t> gerror_{0}, gerrorn_{0};

  mutable std::shared_mutex cfg_lock_;  // docs/architecture.md "Locks"
  std::unordered_map<uint32_t, StreamConfig> cfg_cache_;
  std::atomic<uint64_t> cfg_gen_{0};

  SeqSlots cfg_fast_{1024};  // by stream ID; written under cfg_lock_

  std::mutex tlb_lock_;  // docs/architecture.md "Locks"
  SeqSlots tlb_;  // IOTLB: k0 = tag | kValid, k1 = page, v = pa | R | W << 1
  std::atomic<uint64_t> tlb_sizes_{0};  // bit n set: entries of 2^n bytes may exist
  size_t tlb_valid_ = 0;  // valid IOTLB slots (tlb_lock_): an empty IOTLB is not scanned
  std::atomic<uint64_t> tlb_gen_{0};

  std::mutex evtq_lock_;  // docs/architecture.md "Locks"
  uint64_t eventq_base_ = 0;
  uint32_t eventq_prod_ = 0, eventq_cons_ = 0;

  mutable std::atomic<uint64_t> tlb_hits_{0}, tlb_misses_{0}, cfg_misses_{0}, events_{0},
      events_lost_{0}, commands_{0}, syncs_{0}, sevs_{0};
};

}  // namespace modiommu::hw::smmuv3
