// Tegra SMMU model: registers, TLB, page-table cache and the two-level walk
// (tegra_smmu.h).
#include "hw/tegra/tegra_smmu.h"

#include <algorithm>

namespace modiommu::hw::tegra {

TegraSmmu::TegraSmmu(std::string name, PhysicalMemory& mem, const SmmuSoc& soc, IrqLine* irq, unsigned ptc_entries)
    : name_(std::move(name)), mem_(mem), soc_(soc), irq_(irq) {
  ptb_data_.assign(std::clamp(soc.num_asids, 1u, 128u), 0);
  tlb_.resize(std::clamp(soc.num_tlb_lines, 1u, 256u));
  ptc_.resize(std::clamp(ptc_entries, 1u, 1024u));
  // Reset: translation off, every ASID register and client enable clear.
  for (const auto& g : soc.swgroups) asid_regs_[g.asid_reg] = 0;
  for (uint64_t r : kClientEnableRegs) enable_regs_[r] = 0;
}

TegraSmmu::~TegraSmmu() = default;

Stats TegraSmmu::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

size_t TegraSmmu::tlb_size() const {
  std::lock_guard g(lock_);
  return static_cast<size_t>(std::count_if(tlb_.begin(), tlb_.end(), [](const TlbEntry& e) { return e.valid; }));
}

bool TegraSmmu::enabled() const {
  std::lock_guard g(lock_);
  return config_ & SMMU_CONFIG_ENABLE;
}

uint64_t TegraSmmu::read(uint64_t offset, unsigned size) {
  if (size != 4) return 0;
  std::lock_guard g(lock_);
  switch (offset) {
    case MC_INTSTATUS: return intstatus_;
    case MC_INTMASK: return intmask_;
    case MC_ERR_STATUS: return err_status_;
    case MC_ERR_ADR: return err_adr_;
    case SMMU_CONFIG: return config_;
    case SMMU_TLB_CONFIG: return tlb_config_;
    case SMMU_PTC_CONFIG: return ptc_config_;
    case SMMU_PTB_ASID: return ptb_asid_;
    case SMMU_PTB_DATA: return ptb_asid_ < ptb_data_.size() ? ptb_data_[ptb_asid_] : 0;
    case SMMU_PTC_FLUSH_HI: return ptc_flush_hi_;
    default: break;
  }
  if (auto it = asid_regs_.find(offset); it != asid_regs_.end()) return it->second;
  if (auto it = enable_regs_.find(offset); it != enable_regs_.end()) return it->second;
  return 0;  // TLB_FLUSH and PTC_FLUSH are write-only; the rest of the MC is not modelled
}

void TegraSmmu::write(uint64_t offset, uint64_t value, unsigned size) {
  bool raise = false;
  {
    std::lock_guard g(lock_);
    if (size != 4) {
      ++stats_.ignored_writes;
      return;
    }
    const uint32_t v = static_cast<uint32_t>(value);
    const uint32_t before = intstatus_ & intmask_;
    switch (offset) {
      case MC_INTSTATUS:
        intstatus_ &= ~v;  // write 1 to clear
        break;
      case MC_INTMASK: intmask_ = v & MC_INT_MASK_BITS; break;
      case SMMU_CONFIG: config_ = v & SMMU_CONFIG_ENABLE; break;
      case SMMU_TLB_CONFIG: tlb_config_ = v; break;
      case SMMU_PTC_CONFIG: ptc_config_ = v; break;
      case SMMU_PTB_ASID: ptb_asid_ = PtbAsid::get(v) % ptb_data_.size(); break;
      case SMMU_PTB_DATA: ptb_data_[ptb_asid_] = v; break;
      case SMMU_TLB_FLUSH: tlb_flush_locked(v); break;
      case SMMU_PTC_FLUSH: ptc_flush_locked(v); break;
      case SMMU_PTC_FLUSH_HI: ptc_flush_hi_ = v & PTC_FLUSH_HI_MASK; break;
      default:
        if (auto it = asid_regs_.find(offset); it != asid_regs_.end()) {
          it->second = v & (SMMU_ASID_ENABLE | SMMU_ASID_MASK);
        } else if (auto e = enable_regs_.find(offset); e != enable_regs_.end()) {
          e->second = v;
        } else {
          ++stats_.ignored_writes;  // read-only, unknown or another MC function
        }
        break;
    }
    // Unmasking a pending cause raises the (level) line.
    raise = (intstatus_ & intmask_) & ~before;
  }
  if (raise && irq_) irq_->raise();
}

// Linux smmu_flush_tlb*: match all, by ASID, by section or by group.
void TegraSmmu::tlb_flush_locked(uint32_t v) {
  const bool by_asid = v & TLB_FLUSH_ASID_MATCH;
  const uint8_t asid = static_cast<uint8_t>(TlbFlushAsid::get(v));
  const uint32_t match = TlbFlushMatch::get(v);
  const uint32_t va = TlbFlushVa::get(v) << 14;  // the field holds VA [31:14]
  for (auto& e : tlb_) {
    if (!e.valid || (by_asid && e.asid != asid)) continue;
    const uint32_t iova = e.page << 12;
    if (match == TLB_FLUSH_MATCH_SECTION && (iova & 0xffc00000u) != (va & 0xffc00000u)) continue;
    if (match == TLB_FLUSH_MATCH_GROUP && (iova & 0xffffc000u) != va) continue;
    e.valid = false;  // match 1 is reserved: treated as all
  }
}

// Linux smmu_flush_ptc: one atom (address bits [33:32] from PTC_FLUSH_HI) or all.
void TegraSmmu::ptc_flush_locked(uint32_t v) {
  const uint64_t atom = (uint64_t{ptc_flush_hi_} << 32 | (v & ~3u)) & ~(kAtomSize - 1);
  for (auto& e : ptc_)
    if (e.valid && (!(v & PTC_FLUSH_TYPE_ADR) || (e.pa & ~(kAtomSize - 1)) == atom)) e.valid = false;
}

Result<uint32_t> TegraSmmu::table_word_locked(uint64_t pa) {
  for (const auto& e : ptc_)
    if (e.valid && e.pa == pa) {
      ++stats_.ptc_hits;
      return e.value;
    }
  ++stats_.ptc_misses;
  const uint32_t v = TRY(mem_.read32(pa));
  ptc_[ptc_victim_] = PtcEntry{true, pa, v};
  ptc_victim_ = (ptc_victim_ + 1) % ptc_.size();
  return v;
}

bool TegraSmmu::walk_locked(uint8_t asid, uint32_t iova, uint32_t* pte) {
  const uint32_t page = iova >> 12;
  for (const auto& e : tlb_)
    if (e.valid && e.asid == asid && e.page == page) {
      ++stats_.tlb_hits;
      *pte = e.pte;
      return true;
    }
  ++stats_.tlb_misses;
  *pte = 0;
  const uint64_t pd = (ptb_data_[asid] & pfn_mask()) << 12;
  auto pde = table_word_locked(pd + 4 * IovaPde::get(iova));
  if (!pde.ok()) return false;
  if (!(*pde & PDE_NEXT)) return true;  // no page table (sections are not modelled)
  auto p = table_word_locked(((*pde & pfn_mask()) << 12) + 4 * IovaPte::get(iova));
  if (!p.ok()) return false;
  *pte = *p;
  if (*p & (ATTR_READABLE | ATTR_WRITABLE)) {  // empty PTEs are not cached
    tlb_[tlb_victim_] = TlbEntry{true, asid, page, *p};
    tlb_victim_ = (tlb_victim_ + 1) % tlb_.size();
  }
  return true;
}

const McClient* TegraSmmu::client_for(unsigned swgroup, Access access) const {
  const McClient* any = nullptr;
  for (const auto& c : soc_.clients) {
    if (c.swgroup != swgroup) continue;
    if (c.write == (access == Access::write)) return &c;
    if (!any) any = &c;
  }
  return any;
}

bool TegraSmmu::client_enabled_locked(const McClient& c) const {
  auto it = enable_regs_.find(c.smmu_reg);
  return it != enable_regs_.end() && (it->second >> c.smmu_bit & 1);
}

bool TegraSmmu::fault_locked(const McClient& c, uint64_t iova, Access access, uint32_t pte) {
  ++stats_.faults;
  const bool was = intstatus_ & MC_INT_INVALID_SMMU_PAGE;
  if (!was) {
    uint32_t st = ErrType::prep(ERR_TYPE_INVALID_SMMU_PAGE) | ErrClient::prep(c.id) |
                  ErrAdrHi::prep_masked(iova >> 32);
    if (access == Access::write) st |= ERR_RW;
    if (pte & ATTR_READABLE) st |= ERR_READABLE;
    if (pte & ATTR_WRITABLE) st |= ERR_WRITABLE;
    if (pte & ATTR_NONSECURE) st |= ERR_NONSECURE;
    err_status_ = st;
    err_adr_ = static_cast<uint32_t>(iova);
    intstatus_ |= MC_INT_INVALID_SMMU_PAGE;
  }
  return !was && (intmask_ & MC_INT_INVALID_SMMU_PAGE);
}

TranslateOutcome TegraSmmu::translate(uint32_t swgroup, uint64_t iova, Access access) {
  TranslateOutcome out;
  out.span = kPageSize - (iova & (kPageSize - 1));
  bool raise = false;
  {
    std::lock_guard g(lock_);
    const McClient* c = client_for(swgroup, access);
    const Swgroup* grp = find_swgroup(soc_, swgroup);
    uint32_t asid_reg = 0;
    if (grp) asid_reg = asid_regs_[grp->asid_reg];
    if (!(config_ & SMMU_CONFIG_ENABLE) || !c || !grp || !client_enabled_locked(*c) ||
        !(asid_reg & SMMU_ASID_ENABLE)) {
      // Not routed through the SMMU: the address goes to memory as is.
      ++stats_.bypassed;
      out.kind = TranslateOutcome::Kind::bypassed;
      out.pa = iova;
      return out;
    }
    const uint8_t asid = static_cast<uint8_t>((asid_reg & SMMU_ASID_MASK) % ptb_data_.size());
    const uint32_t need = access == Access::write ? ATTR_WRITABLE : ATTR_READABLE;
    uint32_t pte = 0;
    // A 32-bit input; the directory's own attributes gate every access.
    const bool walked = !(iova >> 32) && (ptb_data_[asid] & need) && walk_locked(asid, static_cast<uint32_t>(iova), &pte);
    if (walked && (pte & need)) {
      ++stats_.translated;
      out.kind = TranslateOutcome::Kind::translated;
      out.pa = ((pte & pfn_mask()) << 12) | (iova & (kPageSize - 1));
      return out;
    }
    out.kind = TranslateOutcome::Kind::faulted;
    out.span = 0;
    raise = fault_locked(*c, iova, access, pte);
  }
  if (raise && irq_) irq_->raise();
  return out;
}

}  // namespace modiommu::hw::tegra
