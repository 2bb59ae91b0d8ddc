// Qualcomm MSM IOMMU model: the local window, the context bank registers
// (ARM IHI 0062 10.8/10.9, offsets shared with hw/smmuv2/regs.h) and their
// TLB maintenance. The transaction path is in qcom_translate.cpp.
#include "hw/qcom/qcom_iommu.h"

#include <algorithm>

#include "hw/smmuv2/regs.h"

namespace modiommu::hw::qcom {

using namespace smmuv2;  // CB_* offsets, SCTLR_*, FSR_*, TTBR/TLBIVA fields

namespace {
constexpr uint64_t kLocalSize = 0x3000;  // msm8916.dtsi apps_iommu reg size

class ContextWindow : public MmioDevice {
 public:
  ContextWindow(std::shared_ptr<QcomIommu> mmu, unsigned ctx) : mmu_(std::move(mmu)), ctx_(ctx) {}
  uint64_t read(uint64_t offset, unsigned size) override { return mmu_->ctx_read(ctx_, offset, size); }
  void write(uint64_t offset, uint64_t value, unsigned size) override { mmu_->ctx_write(ctx_, offset, value, size); }
  std::string name() const override { return mmu_->name() + "/cb" + std::to_string(ctx_); }

 private:
  std::shared_ptr<QcomIommu> mmu_;
  const unsigned ctx_;
};

bool is64(uint64_t off) { return off == CB_TTBR0 || off == CB_TTBR1 || off == CB_FAR; }
}  // namespace

QcomIommu::QcomIommu(std::string name, PhysicalMemory& mem, unsigned tlb_entries)
    : name_(std::move(name)), mem_(mem) {
  banks_.resize(kMaxContexts);
  local_.resize(kLocalSize / 4);
  tlb_.resize(std::clamp(tlb_entries, 1u, 4096u));
}

QcomIommu::~QcomIommu() = default;

bool QcomIommu::add_context(unsigned ctx, IrqLine* irq) {
  std::lock_guard g(lock_);
  if (ctx >= banks_.size() || banks_[ctx].present) return false;
  banks_[ctx] = Bank{};
  banks_[ctx].present = true;
  banks_[ctx].irq = irq;
  return true;
}

bool QcomIommu::has_context(unsigned ctx) const {
  std::lock_guard g(lock_);
  return ctx < banks_.size() && banks_[ctx].present;
}

std::shared_ptr<MmioDevice> QcomIommu::context_window(std::shared_ptr<QcomIommu> mmu, unsigned ctx) {
  if (!mmu || !mmu->has_context(ctx)) return nullptr;
  return std::make_shared<ContextWindow>(std::move(mmu), ctx);
}

Stats QcomIommu::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

size_t QcomIommu::tlb_size() const {
  std::lock_guard g(lock_);
  return static_cast<size_t>(std::count_if(tlb_.begin(), tlb_.end(), [](const TlbEntry& e) { return e.valid; }));
}

uint64_t QcomIommu::read(uint64_t offset, unsigned size) {
  if (size != 4 || (offset & 3) || offset >= kLocalSize) return 0;
  std::lock_guard g(lock_);
  return local_[offset / 4];
}

void QcomIommu::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4 || (offset & 3) || offset >= kLocalSize) return;  // ignored
  std::lock_guard g(lock_);
  local_[offset / 4] = static_cast<uint32_t>(value);
}

uint64_t QcomIommu::ctx_read(unsigned ctx, uint64_t off, unsigned size) {
  std::lock_guard g(lock_);
  if (ctx >= banks_.size() || !banks_[ctx].present || off >= kContextSpan) return 0;
  Bank& b = banks_[ctx];
  if (size == 8 && is64(off)) return off == CB_TTBR0 ? b.ttbr0 : off == CB_TTBR1 ? b.ttbr1 : b.far;
  if (size != 4 || (off & 3)) return 0;
  return bank_read32(b, off);
}

void QcomIommu::ctx_write(unsigned ctx, uint64_t off, uint64_t v, unsigned size) {
  std::lock_guard g(lock_);
  if (ctx >= banks_.size() || !banks_[ctx].present || off >= kContextSpan) return;
  Bank& b = banks_[ctx];
  if (size == 8 && is64(off)) {
    if (off == CB_TTBR0) b.ttbr0 = v;
    else if (off == CB_TTBR1) b.ttbr1 = v;
    else b.far = v;
    return;
  }
  if (size != 4 || (off & 3)) return;  // other widths: ignored
  bank_write32(ctx, b, off, static_cast<uint32_t>(v));
}

uint32_t QcomIommu::bank_read32(Bank& b, uint64_t off) const {
  auto lo = [](uint64_t r) { return static_cast<uint32_t>(r); };
  auto hi = [](uint64_t r) { return static_cast<uint32_t>(r >> 32); };
  switch (off) {
    case CB_SCTLR: return b.sctlr;
    case 0x4: return b.actlr;  // CB_ACTLR
    case CB_TCR2: return b.tcr2;
    case CB_TTBR0: return lo(b.ttbr0);
    case CB_TTBR0 + 4: return hi(b.ttbr0);
    case CB_TTBR1: return lo(b.ttbr1);
    case CB_TTBR1 + 4: return hi(b.ttbr1);
    case CB_TCR: return b.tcr;
    case CB_CONTEXTIDR: return b.contextidr;
    case CB_MAIR0: return b.mair0;
    case CB_MAIR1: return b.mair1;
    case CB_FSR: return b.fsr;
    case CB_FAR: return lo(b.far);
    case CB_FAR + 4: return hi(b.far);
    case CB_FSYNR0: return b.fsynr0;
    case CB_TLBSTATUS: return 0;  // every invalidation completes at once: SACTIVE clear
    default: return 0;           // unmodelled / write-only: reads as zero
  }
}

void QcomIommu::bank_write32(unsigned ctx, Bank& b, uint64_t off, uint32_t v) {
  auto set_lo = [](uint64_t& r, uint32_t x) { r = (r & ~uint64_t{0xffffffff}) | x; };
  auto set_hi = [](uint64_t& r, uint32_t x) { r = (r & 0xffffffffull) | (uint64_t{x} << 32); };
  // AArch32 TLBI operands (IHI 0062 10.9, TLBIVA with CBA2R.VA64=0):
  // VA[31:12] in [31:12], ASID in [7:0] (Linux qcom_iommu_tlb_inv_range_nosync).
  const uint16_t asid = static_cast<uint16_t>(v & 0xff);
  const uint64_t va = v & ~uint64_t{0xfff};
  switch (off) {
    case CB_SCTLR: b.sctlr = v; return;
    case 0x4: b.actlr = v; return;
    case 0x8: return;  // CB_RESUME: faults are terminated already
    case CB_TCR2: b.tcr2 = v; return;
    case CB_TTBR0: set_lo(b.ttbr0, v); return;
    case CB_TTBR0 + 4: set_hi(b.ttbr0, v); return;
    case CB_TTBR1: set_lo(b.ttbr1, v); return;
    case CB_TTBR1 + 4: set_hi(b.ttbr1, v); return;
    case CB_TCR: b.tcr = v; return;
    case CB_CONTEXTIDR: b.contextidr = v; return;
    case CB_MAIR0: b.mair0 = v; return;
    case CB_MAIR1: b.mair1 = v; return;
    case CB_FSR: b.fsr &= ~v; return;  // write 1 to clear
    case CB_FAR: set_lo(b.far, v); return;
    case CB_FAR + 4: set_hi(b.far, v); return;
    case CB_FSYNR0: b.fsynr0 = v; return;
    case CB_TLBIASID: tlb_invalidate(ctx, true, asid, false, 0); return;
    case CB_TLBIALL: tlb_invalidate(ctx, false, 0, false, 0); return;
    case CB_TLBIVA:
    case CB_TLBIVAL: tlb_invalidate(ctx, true, asid, true, va); return;
    case CB_TLBIVAA:
    case CB_TLBIVAAL: tlb_invalidate(ctx, false, 0, true, va); return;
    case CB_TLBSYNC: return;  // nothing outstanding
    default: return;          // unknown offsets: ignored
  }
}

void QcomIommu::tlb_invalidate(unsigned ctx, bool by_asid, uint16_t asid, bool by_va, uint64_t va) {
  for (auto& e : tlb_) {
    if (!e.valid || e.ctx != ctx) continue;
    if (by_asid && e.asid != asid) continue;
    if (by_va && !(va >= e.va && va - e.va < e.size)) continue;
    e.valid = false;
  }
}

void QcomIommu::tlb_insert(const TlbEntry& e) {
  for (auto& t : tlb_)
    if (!t.valid) {
      t = e;
      return;
    }
  tlb_[next_victim_] = e;
  next_victim_ = (next_victim_ + 1) % tlb_.size();
}

}  // namespace modiommu::hw::qcom
