// Exynos SysMMU model: registers, TLB, FLPD cache, table walk and faults
// (sysmmu.h).
#include "hw/exynos/sysmmu.h"

#include <algorithm>

namespace modiommu::hw::exynos {

namespace {
constexpr uint8_t kRead = 1, kWrite = 2;

// Access permission of an entry. v1 (Linux SYSMMU_LV1/LV2_PROT): no bit
// 10 (lv1) / 4 (lv2) = no access; bit 15 / 9 = read only. v5+ (SYSMMU_V5_*):
// lv1 [5:4], lv2 [3:2] = write, read.
uint8_t lv1_perm(Version v, uint32_t e) {
  if (v != Version::v1) return (e >> 4) & 3;
  if (!(e & (1u << 10))) return 0;
  return (e & (1u << 15)) ? kRead : kRead | kWrite;
}
uint8_t lv2_perm(Version v, uint32_t e) {
  if (v != Version::v1) return (e >> 2) & 3;
  if (!(e & (1u << 4))) return 0;
  return (e & (1u << 9)) ? kRead : kRead | kWrite;
}
}  // namespace

Sysmmu::Sysmmu(std::string name, PhysicalMemory& mem, Version version, IrqLine* irq, unsigned tlb_entries)
    : name_(std::move(name)), mem_(mem), version_(version), lay_(layout(version)), irq_(irq) {
  tlb_.resize(std::clamp(tlb_entries, 1u, 1024u));
  flpd_.resize(8);
}

Sysmmu::~Sysmmu() = default;

Stats Sysmmu::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

size_t Sysmmu::tlb_size() const {
  std::lock_guard g(lock_);
  return static_cast<size_t>(std::count_if(tlb_.begin(), tlb_.end(), [](const TlbEntry& e) { return e.valid; }));
}

bool Sysmmu::enabled() const {
  std::lock_guard g(lock_);
  return translating_locked();
}

bool Sysmmu::translating_locked() const {
  if (!CtrlEnable::is_set(ctrl_)) return false;
  return version_ != Version::v7_vm || (ctrl_vm_ & CTRL_VM_ENABLE);
}

// v1: the register holds the first-level table's PA; v5+: PA >> 12 (Linux
// __sysmmu_set_ptbase). The table is 16 KiB aligned.
uint64_t Sysmmu::pt_base_pa(uint32_t pt_base) const {
  const uint64_t pa = version_ == Version::v1 ? uint64_t{pt_base} : uint64_t{pt_base} << 12;
  return pa & ~uint64_t{0x3fff};
}

uint64_t Sysmmu::read(uint64_t offset, unsigned size) {
  if (size != 4) return 0;
  std::lock_guard g(lock_);
  switch (offset) {
    case REG_MMU_CTRL: return ctrl_;
    case REG_MMU_CFG: return cfg_;
    case REG_MMU_STATUS: return CtrlBlock::is_set(ctrl_) ? STATUS_BLOCKED : 0;
    case REG_MMU_VERSION: return uint64_t{raw_version(version_)} << 21;
    default: break;
  }
  if (offset == lay_.pt_base) return pt_base_;
  if (offset == lay_.int_status) return int_status_;
  if (lay_.flush_start && offset == lay_.flush_start) return flush_start_;
  if (lay_.flush_end && offset == lay_.flush_end) return flush_end_;
  switch (version_) {
    case Version::v1:
      if (offset == REG_PAGE_FAULT_ADDR) return v1_page_addr_;
      if (offset == REG_AR_FAULT_ADDR) return v1_ar_addr_;
      if (offset == REG_AW_FAULT_ADDR) return v1_aw_addr_;
      if (offset == REG_DEFAULT_SLAVE_ADDR) return v1_slave_addr_;
      break;
    case Version::v5:
      if (offset == REG_V5_FAULT_AR_VA) return v5_ar_va_;
      if (offset == REG_V5_FAULT_AW_VA) return v5_aw_va_;
      break;
    case Version::v7:
    case Version::v7_vm:
      if (offset == lay_.fault_va) return fault_addr_;
      if (offset == lay_.fault_info) return fault_info_;
      if (offset == REG_V7_CAPA0) return version_ == Version::v7_vm ? CAPA0_CAPA1_EXIST : 0;
      if (offset == REG_V7_CAPA1) return version_ == Version::v7_vm ? CAPA1_VCR_ENABLED : 0;
      if (version_ == Version::v7_vm && offset == REG_V7_CTRL_VM) return ctrl_vm_;
      break;
  }
  return 0;
}

void Sysmmu::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4) return;
  const uint32_t v = static_cast<uint32_t>(value);
  std::lock_guard g(lock_);
  if (offset == REG_MMU_CTRL) {
    if (CtrlBlock::is_set(v) && !CtrlBlock::is_set(ctrl_)) held_ = live_locked();
    ctrl_ = v & 0x7;
  } else if (offset == REG_MMU_CFG) {
    cfg_ = v;
  } else if (offset == lay_.pt_base) {
    // v1 holds a 32-bit PA, v5+ a 36-bit PA >> 12.
    pt_base_ = version_ == Version::v1 ? v & 0xffffc000u : v & 0x00ffffffu;
  } else if (offset == lay_.flush_all) {
    if (v & 1) flush_range_locked(0, 0xffffffffu);
  } else if (offset == lay_.flush_entry) {
    // Linux writes (iova & SPAGE_MASK) | 1: bit 0 = valid.
    if (v & 1) flush_range_locked(v & ~0xfffu, v & ~0xfffu);
  } else if (lay_.flush_start && offset == lay_.flush_start) {
    flush_start_ = v & ~0xfffu;
  } else if (lay_.flush_end && offset == lay_.flush_end) {
    flush_end_ = v & ~0xfffu;
  } else if (lay_.flush_range && offset == lay_.flush_range) {
    if ((v & 1) && flush_start_ <= flush_end_) flush_range_locked(flush_start_, flush_end_ | 0xfffu);
  } else if (offset == lay_.int_clear) {
    int_status_ &= ~v;
  } else if (version_ == Version::v7_vm && offset == REG_V7_CTRL_VM) {
    ctrl_vm_ = v;
  } else {
    ++stats_.ignored_writes;  // read-only or unimplemented
  }
}

// Drops every TLB mapping and FLPD link overlapping [start, end].
void Sysmmu::flush_range_locked(uint32_t start, uint32_t end) {
  ++stats_.flushes;
  for (auto& e : tlb_)
    if (e.valid && e.base <= end && start <= e.base + (e.size - 1)) e.valid = false;
  for (auto& f : flpd_)
    if (f.valid && f.index >= (start >> 20) && f.index <= (end >> 20)) f.valid = false;
}

// The mapping for `iova`: TLB first, then the two levels from RAM; lock_ held.
Sysmmu::Walk Sysmmu::walk_locked(uint32_t iova, const Config& c, bool cached, TlbEntry* out) {
  if (cached)
    for (const auto& e : tlb_)
      if (e.valid && iova - e.base < e.size) {
        ++stats_.tlb_hits;
        *out = e;
        return Walk::ok;
      }
  ++stats_.tlb_misses;
  const unsigned shift = entry_shift(version_);
  const uint64_t pa_mask = (uint64_t{1} << pa_bits(version_)) - 1;
  const bool eap = c.cfg & CFG_EAP;
  const bool flpd_on = cached && (version_ != Version::v1 || (c.cfg & CFG_FLPDCACHE));
  const uint32_t idx = static_cast<uint32_t>(IovaLv1::get(iova));
  uint32_t lv1 = 0;
  bool from_flpd = false;
  if (flpd_on)
    for (const auto& f : flpd_)
      if (f.valid && f.index == idx) {
        ++stats_.flpd_hits;
        lv1 = f.entry;
        from_flpd = true;
        break;
      }
  if (!from_flpd) {
    auto e = mem_.read32(pt_base_pa(c.pt_base) + 4 * idx);
    if (!e.ok()) return Walk::bus_error;
    lv1 = *e;
  }
  TlbEntry t;
  t.valid = true;
  switch (lv1 & 3) {
    case 2:  // section
      t.base = iova & ~static_cast<uint32_t>(kSectSize - 1);
      t.size = kSectSize;
      t.pa = (uint64_t{lv1} << shift) & pa_mask & ~(kSectSize - 1);
      t.perm = eap ? lv1_perm(version_, lv1) : kRead | kWrite;
      break;
    case 1: {  // link to a second-level table
      if (flpd_on && !from_flpd) {
        // The real part caches first-level links; a driver that replaces
        // one without FLUSH_ENTRY keeps walking the old table.
        flpd_[next_flpd_] = FlpdEntry{true, idx, lv1};
        next_flpd_ = (next_flpd_ + 1) % flpd_.size();
      }
      const uint64_t lv2_base = (uint64_t{lv1 & kLv2LinkMask} << shift) & pa_mask;
      auto e = mem_.read32(lv2_base + 4 * IovaLv2::get(iova));
      if (!e.ok()) return Walk::bus_error;
      const uint32_t lv2 = *e;
      if ((lv2 & 3) == 0) return Walk::fault;
      const uint64_t sz = (lv2 & 2) ? kSpageSize : kLpageSize;
      t.base = iova & ~static_cast<uint32_t>(sz - 1);
      t.size = static_cast<uint32_t>(sz);
      t.pa = (uint64_t{lv2} << shift) & pa_mask & ~(sz - 1);
      t.perm = eap ? lv2_perm(version_, lv2) : kRead | kWrite;
      break;
    }
    default: return Walk::fault;  // 0 fault, 3 (supersection) not supported
  }
  if (cached) {
    tlb_[next_victim_] = t;
    next_victim_ = (next_victim_ + 1) % tlb_.size();
  }
  *out = t;
  return Walk::ok;
}

// Latches the first fault until its cause is cleared; true: raise the line.
bool Sysmmu::fault_locked(uint32_t iova, Access access, Walk w, bool access_fault) {
  const bool write = access == Access::write;
  if (w == Walk::bus_error) ++stats_.bus_errors;
  else if (access_fault) ++stats_.access_faults;
  else ++stats_.page_faults;
  uint32_t bit = 0;
  switch (version_) {
    case Version::v1:
      bit = w == Walk::bus_error ? V1_INT_BUS_ERROR
            : access_fault       ? (write ? V1_INT_AW_ACCESS : V1_INT_AR_ACCESS)
                                 : V1_INT_PAGE_FAULT;
      break;
    case Version::v5:
      bit = w == Walk::bus_error ? V5_INT_PTW : access_fault ? V5_INT_ACCESS : V5_INT_PAGE;
      if (write) bit <<= kV5WriteShift;
      break;
    default:
      bit = w == Walk::bus_error ? V5_INT_PTW : access_fault ? V7_INT_ACCESS : V5_INT_PAGE;
      if (write) bit <<= kV5WriteShift;
      break;
  }
  const bool first = int_status_ == 0;
  if (first) {
    fault_addr_ = iova;
    fault_info_ = write ? V7_INFO_WRITE : 0;
    if (bit == V1_INT_PAGE_FAULT && version_ == Version::v1) v1_page_addr_ = iova;
    if (bit == V1_INT_BUS_ERROR && version_ == Version::v1) v1_slave_addr_ = iova;
    if (version_ == Version::v1 && access_fault) (write ? v1_aw_addr_ : v1_ar_addr_) = iova;
    (write ? v5_aw_va_ : v5_ar_va_) = iova;
  }
  int_status_ |= bit;
  return first;
}

TranslateOutcome Sysmmu::translate(uint32_t /*stream_id*/, uint64_t iova, Access access) {
  TranslateOutcome out;
  bool raise = false;
  {
    std::lock_guard g(lock_);
    const bool held = CtrlBlock::is_set(ctrl_);
    const Config c = held ? held_ : live_locked();
    if (!c.translating) {
      // Reset state: the SysMMU passes addresses through.
      ++stats_.bypassed;
      out.kind = TranslateOutcome::Kind::bypassed;
      out.pa = iova;
      out.span = kSpageSize - (iova & (kSpageSize - 1));
      return out;
    }
    TlbEntry t;
    const uint32_t va = static_cast<uint32_t>(iova);
    // A 32-bit input: nothing above 4 GiB can be mapped.
    const Walk w = iova >> 32 ? Walk::fault : walk_locked(va, c, !held, &t);
    const uint8_t need = access == Access::write ? kWrite : kRead;
    if (w == Walk::ok && (t.perm & need)) {
      out.kind = TranslateOutcome::Kind::translated;
      out.pa = t.pa + (va - t.base);
      out.span = t.size - (va - t.base);
      return out;
    }
    out.kind = TranslateOutcome::Kind::faulted;
    raise = fault_locked(va, access, w, w == Walk::ok);
  }
  if (raise && irq_) irq_->raise();
  return out;
}

}  // namespace modiommu::hw::exynos
