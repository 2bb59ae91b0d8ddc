// Rockchip IOMMU model: register file, IOTLB and table walk of one bank,
// and the node that routes DMA through its banks (rk_iommu.h).
#include "hw/rockchip/rk_iommu.h"

#include <algorithm>

namespace modiommu::hw::rockchip {

RkMmu::RkMmu(std::string name, PhysicalMemory& mem, Version version, IrqLine* irq, unsigned tlb_entries)
    : name_(std::move(name)), mem_(mem), version_(version), irq_(irq) {
  tlb_.resize(std::clamp(tlb_entries, 1u, 1024u));
  reset_locked();
}

RkMmu::~RkMmu() = default;

// FORCE_RESET and power-on: every register to its reset value, the IOTLB
// empty. Linux checks DTE_ADDR reads 0 to know the reset is done.
void RkMmu::reset_locked() {
  dte_addr_ = int_rawstat_ = int_mask_ = fault_addr_ = auto_gating_ = 0;
  paging_ = stall_ = fault_active_ = fault_write_ = false;
  for (auto& e : tlb_) e.valid = false;
  next_victim_ = 0;
}

Stats RkMmu::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

size_t RkMmu::tlb_size() const {
  std::lock_guard g(lock_);
  return static_cast<size_t>(std::count_if(tlb_.begin(), tlb_.end(), [](const TlbEntry& e) { return e.valid; }));
}

bool RkMmu::paging_enabled() const {
  std::lock_guard g(lock_);
  return paging_;
}

uint64_t RkMmu::read(uint64_t offset, unsigned size) {
  if (size != 4) return 0;
  std::lock_guard g(lock_);
  switch (offset) {
    case MMU_DTE_ADDR: return dte_addr_;
    case MMU_STATUS: {
      // No access is ever in flight between two register accesses: idle.
      uint32_t s = STATUS_IDLE | STATUS_REPLAY_BUFFER_EMPTY;
      if (paging_) s |= STATUS_PAGING_ENABLED;
      if (fault_active_) s |= STATUS_PAGE_FAULT_ACTIVE;
      if (fault_active_ && fault_write_) s |= STATUS_PAGE_FAULT_IS_WRITE;
      s |= stall_ ? STATUS_STALL_ACTIVE : STATUS_STALL_NOT_ACTIVE;
      return s;
    }
    case MMU_PAGE_FAULT_ADDR: return fault_addr_;
    case MMU_INT_RAWSTAT: return int_rawstat_;
    case MMU_INT_MASK: return int_mask_;
    case MMU_INT_STATUS: return int_rawstat_ & int_mask_;
    case MMU_AUTO_GATING: return auto_gating_;
    default: return 0;  // COMMAND, ZAP_ONE_LINE, INT_CLEAR are write-only
  }
}

void RkMmu::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4) return;
  const uint32_t v = static_cast<uint32_t>(value);
  bool raise = false;
  {
    std::lock_guard g(lock_);
    const uint32_t before = int_rawstat_ & int_mask_;
    switch (offset) {
      case MMU_DTE_ADDR: dte_addr_ = v & dte_addr_mask(version_); break;
      case MMU_COMMAND: command_locked(v); break;
      case MMU_ZAP_ONE_LINE: {
        const uint32_t page = v >> 12;
        for (auto& e : tlb_)
          if (e.valid && e.page == page) e.valid = false;
        break;
      }
      case MMU_INT_CLEAR: int_rawstat_ &= ~(v & IRQ_MASK); break;
      case MMU_INT_MASK: int_mask_ = v & IRQ_MASK; break;
      case MMU_AUTO_GATING: auto_gating_ = v; break;
      default: break;  // read-only or unimplemented: ignored
    }
    // Unmasking a pending cause raises the (level) line.
    raise = (int_rawstat_ & int_mask_) & ~before;
  }
  if (raise && irq_) irq_->raise();
}

void RkMmu::command_locked(uint32_t cmd) {
  switch (cmd) {
    case CMD_ENABLE_PAGING: paging_ = true; break;
    case CMD_DISABLE_PAGING: paging_ = false; stall_ = false; break;
    case CMD_ENABLE_STALL:
      // Linux rockchip-iommu.c: stall can only be enabled with paging on.
      if (paging_) stall_ = true;
      break;
    case CMD_DISABLE_STALL: stall_ = false; break;
    case CMD_ZAP_CACHE:
      for (auto& e : tlb_) e.valid = false;
      break;
    case CMD_PAGE_FAULT_DONE: fault_active_ = fault_write_ = false; break;
    case CMD_FORCE_RESET:
      reset_locked();
      ++stats_.force_resets;
      break;
    default: ++stats_.bad_commands; break;
  }
}

bool RkMmu::page_fault_locked(uint64_t iova, Access access) {
  ++stats_.page_faults;
  if (fault_active_) return false;  // the first fault stays until PAGE_FAULT_DONE
  fault_active_ = true;
  fault_write_ = access == Access::write;
  fault_addr_ = static_cast<uint32_t>(iova);
  const bool was = int_rawstat_ & int_mask_ & IRQ_PAGE_FAULT;
  int_rawstat_ |= IRQ_PAGE_FAULT;
  return !was && (int_mask_ & IRQ_PAGE_FAULT);
}

bool RkMmu::bus_error_locked(uint64_t iova) {
  ++stats_.bus_errors;
  fault_addr_ = static_cast<uint32_t>(iova);
  const bool was = int_rawstat_ & int_mask_ & IRQ_BUS_ERROR;
  int_rawstat_ |= IRQ_BUS_ERROR;
  return !was && (int_mask_ & IRQ_BUS_ERROR);
}

// The PTE for `iova` (IOTLB first, then DTE and PTE from RAM); lock_ held.
RkMmu::Walk RkMmu::walk_locked(uint64_t iova, uint32_t* pte) {
  const uint32_t page = static_cast<uint32_t>(iova >> 12);
  for (const auto& e : tlb_)
    if (e.valid && e.page == page) {
      ++stats_.tlb_hits;
      *pte = e.pte;
      return Walk::ok;
    }
  ++stats_.tlb_misses;
  auto dte = mem_.read32(entry_address(version_, dte_addr_) + 4 * IovaDte::get(iova));
  if (!dte.ok()) return Walk::bus_error;
  if (!(*dte & ENTRY_VALID)) return Walk::fault;
  auto p = mem_.read32(entry_address(version_, *dte) + 4 * IovaPte::get(iova));
  if (!p.ok()) return Walk::bus_error;
  if (!(*p & ENTRY_VALID)) return Walk::fault;  // invalid PTEs are not cached
  tlb_[next_victim_] = TlbEntry{true, page, *p};
  next_victim_ = (next_victim_ + 1) % tlb_.size();
  *pte = *p;
  return Walk::ok;
}

TranslateOutcome RkMmu::translate(uint64_t iova, Access access) {
  TranslateOutcome out;
  out.span = kPageSize - (iova & (kPageSize - 1));
  bool raise = false;
  {
    std::lock_guard g(lock_);
    if (!paging_) {
      // Reset state: the MMU passes addresses through.
      ++stats_.bypassed;
      out.kind = TranslateOutcome::Kind::bypassed;
      out.pa = iova;
      return out;
    }
    // A 32-bit input: nothing above 4 GiB can be mapped.
    uint32_t pte = 0;
    const Walk w = iova >> 32 ? Walk::fault : walk_locked(iova, &pte);
    const uint32_t need = access == Access::write ? PTE_WRITABLE : PTE_READABLE;
    if (w == Walk::ok && (pte & need)) {
      out.kind = TranslateOutcome::Kind::translated;
      out.pa = entry_address(version_, pte) | (iova & (kPageSize - 1));
      return out;
    }
    out.kind = TranslateOutcome::Kind::faulted;
    out.span = 0;
    raise = w == Walk::bus_error ? bus_error_locked(iova) : page_fault_locked(iova, access);
  }
  if (raise && irq_) irq_->raise();
  return out;
}

RkIommu::RkIommu(std::vector<std::shared_ptr<RkMmu>> banks) : banks_(std::move(banks)) {}

TranslateOutcome RkIommu::translate(uint32_t /*stream_id*/, uint64_t iova, Access access) {
  if (banks_.empty()) return TranslateOutcome{};  // faulted
  return (access == Access::write ? banks_.back() : banks_.front())->translate(iova, access);
}

}  // namespace modiommu::hw::rockchip
