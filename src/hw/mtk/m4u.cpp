// M4U registers, TLB maintenance and the transaction path (Linux
// mtk_iommu.c for the register usage; see m4u.h for what is modelled).
#include "hw/mtk/m4u.h"

#include <algorithm>

#include "hw/arm/v7s_walk.h"

namespace modiommu::hw::mtk {

namespace {

Features sanitize(Features f) {
  f.banks = std::clamp(f.banks, 1u, kMaxBanks);
  if (f.inv_sel != MMU_INV_SEL_GEN1) f.inv_sel = MMU_INV_SEL_GEN2;
  f.iova_bits = std::clamp(f.iova_bits, 32u, 34u);
  f.tlb_entries = std::clamp(f.tlb_entries, 1u, 4096u);
  return f;
}

// Linux MTK_M4U_TO_LARB / MTK_M4U_TO_PORT.
unsigned larb_of(uint32_t sid) { return (sid >> 5) & 0x3f; }
unsigned port_of(uint32_t sid) { return sid & 0x1f; }

}  // namespace

M4u::M4u(std::string name, PhysicalMemory& mem, Features features, std::vector<IrqLine*> irqs)
    : name_(std::move(name)), mem_(mem), feat_(sanitize(std::move(features))), irqs_(std::move(irqs)) {
  banks_.resize(feat_.banks);
  tlb_.resize(feat_.tlb_entries);
}

M4u::~M4u() = default;

void M4u::attach_larb(unsigned id, std::shared_ptr<SmiLarb> larb) {
  std::lock_guard g(lock_);
  if (id >= 64) return;
  if (larbs_.size() <= id) larbs_.resize(id + 1);
  larbs_[id] = std::move(larb);
}

Stats M4u::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

size_t M4u::tlb_size() const {
  std::lock_guard g(lock_);
  return static_cast<size_t>(std::count_if(tlb_.begin(), tlb_.end(), [](const TlbEntry& e) { return e.valid; }));
}

unsigned M4u::bank_of(unsigned port) const {
  for (unsigned b = 1; b < feat_.banks; ++b)
    if ((feat_.bank_portmsk[b] >> port) & 1) return b;
  return 0;
}

uint64_t M4u::read(uint64_t offset, unsigned size) {
  if (size != 4 || offset % 4) return 0;
  std::lock_guard g(lock_);
  const uint64_t b = offset / kBankSize;
  if (b >= banks_.size()) return 0;
  return read_bank(static_cast<unsigned>(b), offset % kBankSize);
}

uint32_t M4u::read_bank(unsigned b, uint64_t off) const {
  const Bank& k = banks_[b];
  if (off == feat_.inv_sel) return k.inv_sel;
  switch (off) {
    case MMU_PT_BASE_ADDR: return k.pt_base;
    case MMU_INVLD_START_A: return k.start;
    case MMU_INVLD_END_A: return k.end;
    case MMU_INT_CONTROL0: return k.int_control0;
    case MMU_INT_MAIN_CONTROL: return k.int_main;
    case MMU_IVRP_PADDR: return k.ivrp;
    case MMU_CPE_DONE: return k.cpe_done;
    case MMU_FAULT_ST1: return k.fault_st1;
    case MMU0_FAULT_VA: return k.fault_va;
    case MMU0_INVLD_PA: return k.invld_pa;
    case MMU0_INT_ID: return k.int_id;
    case MMU1_FAULT_VA: case MMU1_INVLD_PA: case MMU1_INT_ID: return 0;  // the one TLB reports as mmu0
    default: break;
  }
  if (b != 0) return 0;
  switch (off) {
    case MMU_CTRL_REG: return ctrl_reg_;
    case MMU_MISC_CTRL: return misc_ctrl_;
    case MMU_DCM_DIS: return dcm_dis_;
    case MMU_WR_LEN_CTRL: return wr_len_ctrl_;
    case MMU_VLD_PA_RNG: return vld_pa_rng_;
    default: return 0;
  }
}

void M4u::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4 || offset % 4) return;  // 32-bit registers only: others ignored
  std::lock_guard g(lock_);
  const uint64_t b = offset / kBankSize;
  if (b >= banks_.size()) return;
  write_bank(static_cast<unsigned>(b), offset % kBankSize, static_cast<uint32_t>(value));
}

void M4u::write_bank(unsigned b, uint64_t off, uint32_t v) {
  Bank& k = banks_[b];
  if (off == feat_.inv_sel) {
    k.inv_sel = v & (F_INVLD_EN0 | F_INVLD_EN1);
    return;
  }
  switch (off) {
    case MMU_PT_BASE_ADDR: k.pt_base = v; return;
    case MMU_INVLD_START_A: k.start = v; return;
    case MMU_INVLD_END_A: k.end = v; return;
    case MMU_INVALIDATE: {
      // Maintenance reaches the TLB only when MMU_INV_SEL selects it.
      if (!(k.inv_sel & (F_INVLD_EN0 | F_INVLD_EN1))) return;
      if (v & F_ALL_INVLD) {
        for (auto& e : tlb_) e.valid = false;
        ++stats_.invalidations;
      } else if (v & F_MMU_INV_RANGE) {
        const uint64_t lo = tlb_addr(k.start), hi = tlb_addr(k.end) | 0xfff;
        if (lo <= hi)
          for (auto& e : tlb_)
            if (e.valid && e.bank == b && e.va <= hi && e.va + e.size - 1 >= lo) e.valid = false;
        ++stats_.invalidations;
        k.cpe_done = 1;  // completes before the write returns
      }
      return;
    }
    case MMU_CPE_DONE: k.cpe_done = v; return;
    case MMU_INT_CONTROL0:
      // F_INT_CLR_BIT clears the latched fault; it does not stick.
      if (v & F_INT_CLR_BIT) {
        k.fault_st1 = 0;
        k.fault_va = k.invld_pa = k.int_id = 0;
      }
      k.int_control0 = v & ~F_INT_CLR_BIT;
      return;
    case MMU_INT_MAIN_CONTROL: k.int_main = v & 0x3fff; return;
    case MMU_IVRP_PADDR: k.ivrp = v; return;
    default: break;
  }
  if (b != 0) return;
  switch (off) {
    case MMU_CTRL_REG: ctrl_reg_ = v; return;
    case MMU_MISC_CTRL: misc_ctrl_ = v; return;
    case MMU_DCM_DIS: dcm_dis_ = v; return;
    case MMU_WR_LEN_CTRL: wr_len_ctrl_ = v; return;
    case MMU_VLD_PA_RNG: vld_pa_rng_ = v; return;
    default: return;  // unknown offsets: ignored
  }
}

void M4u::fault(unsigned b, uint32_t sid, uint64_t iova, Access access, unsigned level, bool* irq) {
  Bank& k = banks_[b];
  ++stats_.faults;
  // The first fault stays latched until F_INT_CLR_BIT (Linux reads it in
  // its handler, then clears).
  if (!(k.fault_st1 & F_REG_MMU0_FAULT_MASK)) {
    k.fault_st1 |= F_INT_TRANSLATION_FAULT_MMU0;
    k.fault_va = static_cast<uint32_t>(iova & 0xfffff000u) | FAULT_VA_34_32::prep_masked(iova >> 32) |
                 (access == Access::write ? F_MMU_FAULT_VA_WRITE_BIT : 0) |
                 (level == 2 ? F_MMU_FAULT_VA_LAYER_BIT : 0);
    k.invld_pa = 0;
    const unsigned larb = larb_of(sid);
    const uint32_t comm = larb < feat_.int_id_of_larb.size() ? feat_.int_id_of_larb[larb] : larb;
    k.int_id = INT_ID_LARB::prep_masked(comm) | INT_ID_PORT::prep_masked(port_of(sid));
  }
  if (k.int_main & F_INT_TRANSLATION_FAULT_MMU0) *irq = true;
}

TranslateOutcome M4u::translate(uint32_t sid, uint64_t iova, Access access) {
  using Kind = TranslateOutcome::Kind;
  TranslateOutcome out;
  bool irq = false;
  unsigned bank = 0;
  {
    std::lock_guard g(lock_);
    const unsigned larb = larb_of(sid), port = port_of(sid);
    if (larb < larbs_.size() && larbs_[larb] && !larbs_[larb]->mmu_enabled(port)) {
      // The larb sends this port straight to memory (SMI MMU_EN clear).
      ++stats_.larb_bypassed;
      out.kind = Kind::bypassed;
      out.pa = iova;
      out.span = 0x1000 - (iova & 0xfff);
      return out;
    }
    bank = bank_of(port);
    for (const auto& e : tlb_) {
      if (e.valid && e.bank == bank && iova >= e.va && iova - e.va < e.size) {
        ++stats_.tlb_hits;
        out.kind = Kind::translated;
        out.pa = e.pa + (iova - e.va);
        out.span = e.size - (iova - e.va);
        return out;
      }
    }
    ++stats_.tlb_misses;
    const uint32_t ptb = banks_[bank].pt_base;
    const uint64_t ttb = (uint64_t{PT_ADDR_34_32::get(ptb)} << 32) | (PT_ADDR_31_7::get(ptb) << 7);
    if (ttb == 0 || (iova >> feat_.iova_bits)) {
      fault(bank, sid, iova, access, 1, &irq);
    } else {
      arm::V7sWalkConfig cfg;
      cfg.ttb = ttb;
      cfg.input_bits = feat_.iova_bits;
      cfg.mtk_ext = true;
      cfg.mtk_table_ext = feat_.pgtable_pa_35;
      // The level-1 table is aligned to its size: low TTB bits are ignored.
      cfg.ttb &= ~((uint64_t{4} << (feat_.iova_bits - 20)) - 1);
      const arm::WalkResult r = arm::v7s_walk(mem_, cfg, iova, access);
      if (!r.ok()) {
        fault(bank, sid, iova, access, r.level, &irq);
      } else {
        TlbEntry e;
        e.valid = true;
        e.bank = bank;
        e.size = r.block_size;
        e.va = iova & ~(r.block_size - 1);
        e.pa = r.pa - (iova - e.va);
        auto slot = std::find_if(tlb_.begin(), tlb_.end(), [](const TlbEntry& t) { return !t.valid; });
        if (slot != tlb_.end()) {
          *slot = e;
        } else {
          tlb_[next_victim_] = e;
          next_victim_ = (next_victim_ + 1) % tlb_.size();
        }
        out.kind = Kind::translated;
        out.pa = r.pa;
        out.span = r.block_size - (iova - e.va);
        return out;
      }
    }
  }
  if (irq && bank < irqs_.size() && irqs_[bank]) irqs_[bank]->raise();
  return out;  // faulted: terminated
}

}  // namespace modiommu::hw::mtk
