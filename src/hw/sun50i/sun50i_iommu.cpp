// Allwinner sun50i IOMMU model: register file, TLB, PTW cache, table walk
// and fault recording (sun50i_iommu.h).
#include "hw/sun50i/sun50i_iommu.h"

#include <algorithm>

namespace modiommu::hw::sun50i {

Sun50iIommu::Sun50iIommu(std::string name, PhysicalMemory& mem, IrqLine* irq, unsigned tlb_entries,
                         unsigned ptw_entries)
    : name_(std::move(name)), mem_(mem), irq_(irq) {
  tlb_.resize(std::clamp(tlb_entries, 1u, 1024u));
  ptw_.resize(std::clamp(ptw_entries, 1u, 1024u));
  reset_locked();
}

Sun50iIommu::~Sun50iIommu() = default;

// Power-on state: translation off (everything passes), masters out of
// reset, interrupts off, caches empty.
void Sun50iIommu::reset_locked() {
  reset_ = 0xffffffffu;
  enable_ = bypass_ = auto_gating_ = wbuf_ = ooo_ = bdy_prt_ = ttb_ = 0;
  tlb_enable_ = prefetch_ = ivld_addr_ = ivld_mask_ = pc_ivld_addr_ = ovwt_ = 0;
  dm_aut_.fill(0);
  // Linux sun50i-iommu.c: ACI domain 0 is read-only at reset (write denied
  // to every master).
  for (unsigned m = 0; m < 8; ++m) dm_aut_[0] |= 1u << (dm_aut_rd_bit(0, m) + 1);
  int_enable_ = int_sta_ = err_addr_l1_ = err_addr_l2_ = l1pg_int_ = l2pg_int_ = 0;
  err_addr_.fill(0);
  err_data_.fill(0);
  for (auto& e : tlb_) e.valid = false;
  for (auto& e : ptw_) e.valid = false;
}

Stats Sun50iIommu::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

size_t Sun50iIommu::tlb_size() const {
  std::lock_guard g(lock_);
  return static_cast<size_t>(std::count_if(tlb_.begin(), tlb_.end(), [](const TlbEntry& e) { return e.valid; }));
}

size_t Sun50iIommu::ptw_size() const {
  std::lock_guard g(lock_);
  return static_cast<size_t>(std::count_if(ptw_.begin(), ptw_.end(), [](const TlbEntry& e) { return e.valid; }));
}

bool Sun50iIommu::enabled() const {
  std::lock_guard g(lock_);
  return enable_ & ENABLE_ENABLE;
}

uint32_t Sun50iIommu::bypass() const {
  std::lock_guard g(lock_);
  return bypass_;
}

uint64_t Sun50iIommu::read(uint64_t offset, unsigned size) {
  if (size != 4 || (offset & 3)) return 0;
  std::lock_guard g(lock_);
  if (offset >= IOMMU_DM_AUT_CTRL_BASE && offset < IOMMU_DM_AUT_CTRL_BASE + 4 * dm_aut_.size())
    return dm_aut_[(offset - IOMMU_DM_AUT_CTRL_BASE) / 4];
  if (offset >= IOMMU_INT_ERR_ADDR_BASE && offset < err_addr(kMasters)) return err_addr_[(offset - IOMMU_INT_ERR_ADDR_BASE) / 4];
  if (offset >= IOMMU_INT_ERR_DATA_BASE && offset < err_data(kMasters)) return err_data_[(offset - IOMMU_INT_ERR_DATA_BASE) / 4];
  switch (offset) {
    case IOMMU_RESET_REG: return reset_;
    case IOMMU_ENABLE_REG: return enable_;
    case IOMMU_BYPASS_REG: return bypass_;
    case IOMMU_AUTO_GATING_REG: return auto_gating_;
    case IOMMU_WBUF_CTRL_REG: return wbuf_;
    case IOMMU_OOO_CTRL_REG: return ooo_;
    case IOMMU_4KB_BDY_PRT_CTRL_REG: return bdy_prt_;
    case IOMMU_TTB_REG: return ttb_;
    case IOMMU_TLB_ENABLE_REG: return tlb_enable_;
    case IOMMU_TLB_PREFETCH_REG: return prefetch_;
    case IOMMU_TLB_IVLD_ADDR_REG: return ivld_addr_;
    case IOMMU_TLB_IVLD_ADDR_MASK_REG: return ivld_mask_;
    case IOMMU_PC_IVLD_ADDR_REG: return pc_ivld_addr_;
    case IOMMU_DM_AUT_OVWT_REG: return ovwt_;
    case IOMMU_INT_ENABLE_REG: return int_enable_;
    case IOMMU_INT_STA_REG: return int_sta_;
    case IOMMU_INT_ERR_ADDR_L1_REG: return err_addr_l1_;
    case IOMMU_INT_ERR_ADDR_L2_REG: return err_addr_l2_;
    case IOMMU_L1PG_INT_REG: return l1pg_int_;
    case IOMMU_L2PG_INT_REG: return l2pg_int_;
    // Flush and invalidation complete before the next access: read as 0.
    default: return 0;
  }
}

void Sun50iIommu::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4 || (offset & 3)) return;
  const uint32_t v = static_cast<uint32_t>(value);
  bool raise = false;
  {
    std::lock_guard g(lock_);
    const uint32_t before = int_sta_ & int_enable_;
    if (offset >= IOMMU_DM_AUT_CTRL_BASE && offset < IOMMU_DM_AUT_CTRL_BASE + 4 * dm_aut_.size()) {
      dm_aut_[(offset - IOMMU_DM_AUT_CTRL_BASE) / 4] = v;
    } else {
      switch (offset) {
        case IOMMU_RESET_REG: {
          // A master put in reset loses its pending fault state.
          const uint32_t held = ~v & kMasterMask;
          l1pg_int_ &= ~held;
          l2pg_int_ &= ~held;
          reset_ = v;
          break;
        }
        case IOMMU_ENABLE_REG: enable_ = v & ENABLE_ENABLE; break;
        case IOMMU_BYPASS_REG: bypass_ = v & kMasterMask; break;
        case IOMMU_AUTO_GATING_REG: auto_gating_ = v & AUTO_GATING_ENABLE; break;
        case IOMMU_WBUF_CTRL_REG: wbuf_ = v; break;
        case IOMMU_OOO_CTRL_REG: ooo_ = v; break;
        case IOMMU_4KB_BDY_PRT_CTRL_REG: bdy_prt_ = v; break;
        case IOMMU_TTB_REG: ttb_ = v & kTtbMask; break;
        case IOMMU_TLB_ENABLE_REG: tlb_enable_ = v; break;
        case IOMMU_TLB_PREFETCH_REG: prefetch_ = v & kMasterMask; break;
        case IOMMU_TLB_FLUSH_REG:
          if (v & (TLB_FLUSH_MACRO_TLB | TLB_FLUSH_MICRO_MASK))
            for (auto& e : tlb_) e.valid = false;
          if (v & TLB_FLUSH_PTW_CACHE)
            for (auto& e : ptw_) e.valid = false;
          ++stats_.tlb_flushes;
          break;
        case IOMMU_TLB_IVLD_ADDR_REG: ivld_addr_ = v; break;
        case IOMMU_TLB_IVLD_ADDR_MASK_REG: ivld_mask_ = v; break;
        case IOMMU_TLB_IVLD_ENABLE_REG:
          if (v & IVLD_ENABLE) {
            // Every line whose page address matches under the mask goes.
            for (auto& e : tlb_)
              if (e.valid && ((e.key << 12) & ivld_mask_) == (ivld_addr_ & ivld_mask_)) e.valid = false;
            ++stats_.tlb_invalidations;
          }
          break;
        case IOMMU_PC_IVLD_ADDR_REG: pc_ivld_addr_ = v; break;
        case IOMMU_PC_IVLD_ENABLE_REG:
          if (v & IVLD_ENABLE) {
            for (auto& e : ptw_)
              if (e.valid && e.key == IovaDte::get(pc_ivld_addr_)) e.valid = false;
            ++stats_.ptw_invalidations;
          }
          break;
        case IOMMU_DM_AUT_OVWT_REG: ovwt_ = v; break;
        case IOMMU_INT_ENABLE_REG: int_enable_ = v & INT_MASK; break;
        case IOMMU_INT_CLR_REG:
          int_sta_ &= ~(v & INT_MASK);
          if (v & INT_INVALID_L1PG) l1pg_int_ = 0;
          if (v & INT_INVALID_L2PG) l2pg_int_ = 0;
          break;
        default: break;  // read-only or unimplemented: ignored
      }
    }
    // Enabling a pending cause raises the (level) line.
    raise = (int_sta_ & int_enable_) & ~before;
  }
  if (raise && irq_) irq_->raise();
}

// The PTE for `iova`: TLB, then the DTE (PTW cache or RAM), then the PTE
// from RAM. lock_ held.
Sun50iIommu::Walk Sun50iIommu::walk_locked(uint64_t iova, uint32_t* pte) {
  const uint32_t page = static_cast<uint32_t>(iova >> 12);
  for (const auto& e : tlb_)
    if (e.valid && e.key == page) {
      ++stats_.tlb_hits;
      *pte = e.entry;
      return Walk::ok;
    }
  ++stats_.tlb_misses;
  const uint32_t di = IovaDte::get(iova);
  uint32_t dte = 0;
  bool cached = false;
  for (const auto& e : ptw_)
    if (e.valid && e.key == di) {
      ++stats_.ptw_hits;
      dte = e.entry;
      cached = true;
      break;
    }
  if (!cached) {
    auto d = mem_.read32(ttb_ + 4ull * di);
    if (!d.ok()) {
      ++stats_.bus_errors;
      return Walk::l1;
    }
    dte = *d;
    if (!dte_valid(dte)) return Walk::l1;  // invalid DTEs are not cached
    ptw_[ptw_victim_] = TlbEntry{true, di, dte};
    ptw_victim_ = (ptw_victim_ + 1) % ptw_.size();
  }
  auto p = mem_.read32(dte_pt(dte) + 4ull * IovaPte::get(iova));
  if (!p.ok()) {
    ++stats_.bus_errors;
    return Walk::l2;
  }
  if (!(*p & PTE_VALID)) return Walk::l2;
  tlb_[tlb_victim_] = TlbEntry{true, page, *p};
  tlb_victim_ = (tlb_victim_ + 1) % tlb_.size();
  *pte = *p;
  return Walk::ok;
}

bool Sun50iIommu::set_sta_locked(uint32_t bit) {
  const bool was = int_sta_ & bit;
  int_sta_ |= bit;
  return !was && (int_enable_ & bit);
}

bool Sun50iIommu::fault_locked(Walk w, unsigned master, uint64_t iova, uint32_t pte) {
  const uint32_t a = static_cast<uint32_t>(iova);
  switch (w) {
    case Walk::l1:
      ++stats_.l1_faults;
      if (!(int_sta_ & INT_INVALID_L1PG)) err_addr_l1_ = a;
      l1pg_int_ |= 1u << master;
      return set_sta_locked(INT_INVALID_L1PG);
    case Walk::l2:
      ++stats_.l2_faults;
      if (!(int_sta_ & INT_INVALID_L2PG)) err_addr_l2_ = a;
      l2pg_int_ |= 1u << master;
      return set_sta_locked(INT_INVALID_L2PG);
    case Walk::ok: break;
  }
  ++stats_.permission_faults;
  if (!(int_sta_ & (1u << master))) {
    err_addr_[master] = a;
    err_data_[master] = pte;
  }
  return set_sta_locked(1u << master);
}

TranslateOutcome Sun50iIommu::translate(uint32_t stream_id, uint64_t iova, Access access) {
  TranslateOutcome out;
  bool raise = false;
  {
    std::lock_guard g(lock_);
    if (!(enable_ & ENABLE_ENABLE) || (stream_id < kMasters && (bypass_ & (1u << stream_id)))) {
      // Reset state, or a master set to bypass: untranslated.
      ++stats_.bypassed;
      out.kind = TranslateOutcome::Kind::bypassed;
      out.pa = iova;
      out.span = kPageSize - (iova & (kPageSize - 1));
      return out;
    }
    if (stream_id >= kMasters) {
      ++stats_.bad_master;  // no such master port: nothing reaches memory
      return out;
    }
    if (!(reset_ & (1u << stream_id))) {
      ++stats_.in_reset;
      return out;
    }
    uint32_t pte = 0;
    // A 32-bit input address: nothing above 4 GiB has a DTE.
    const Walk w = iova >> 32 ? Walk::l1 : walk_locked(iova, &pte);
    if (w == Walk::ok) {
      const unsigned aci = PteAci::get(pte);
      const unsigned bit = dm_aut_rd_bit(aci, stream_id) + (access == Access::write ? 1 : 0);
      if (!(dm_aut_[aci / 2] & (1u << bit))) {
        out.kind = TranslateOutcome::Kind::translated;
        out.pa = pte_page(pte) | (iova & (kPageSize - 1));
        out.span = kPageSize - (iova & (kPageSize - 1));
        return out;
      }
    }
    raise = fault_locked(w, stream_id, iova, pte);
  }
  if (raise && irq_) irq_->raise();
  return out;
}

}  // namespace modiommu::hw::sun50i
