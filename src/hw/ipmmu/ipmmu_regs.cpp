// IPMMU-VMSA register file: context and micro-TLB registers, TLB flushes.
#include <algorithm>

#include "hw/ipmmu/ipmmu.h"

namespace modiommu::hw::ipmmu {

Features features_for(Generation g) {
  Features f;
  f.gen = g;
  switch (g) {
    // Gen2: Linux ipmmu_features_default drives one context ("software only
    // tested with one context"); the model gives the hardware four.
    case Generation::gen2: f.num_ctx = 4; f.num_utlbs = 32; break;
    case Generation::gen3: f.num_ctx = 8; f.num_utlbs = 48; break;  // ipmmu_features_rcar_gen3
    case Generation::gen4: f.num_ctx = 16; f.num_utlbs = 64; break;  // ipmmu_features_rcar_gen4
  }
  return f;
}

Layout layout_for(Generation g) {
  Layout l;
  switch (g) {
    case Generation::gen2: l.alias = 0x800; break;  // use_ns_alias_offset
    case Generation::gen3: break;
    case Generation::gen4: l.ctx_base = 0x10000; l.ctx_stride = 0x1040; l.utlb_base = 0x3000; break;
  }
  return l;
}

namespace {
Features sanitize(Features f) {
  f.num_ctx = std::clamp(f.num_ctx, 1u, 16u);     // IMUCTR.TTSEL is 4 bits
  f.num_utlbs = std::clamp(f.num_utlbs, 1u, 64u);  // IMUCTR0/IMUCTR32 ranges
  f.tlb_entries = std::clamp(f.tlb_entries, 1u, 4096u);
  return f;
}
}  // namespace

Ipmmu::Ipmmu(std::string name, PhysicalMemory& mem, Features f, IrqLine* irq, RootResolver root)
    : name_(std::move(name)),
      mem_(mem),
      feat_(sanitize(f)),
      layout_(layout_for(feat_.gen)),
      irq_(irq),
      resolver_(std::move(root)) {
  ctx_.resize(feat_.num_ctx);
  utlb_.resize(feat_.num_utlbs);
  tlb_.resize(feat_.tlb_entries);
}

Ipmmu::~Ipmmu() = default;

uint64_t Ipmmu::region_size() const {
  const uint64_t end = std::max(layout_.ctx_offset(feat_.num_ctx - 1) + kContextSpan,
                                layout_.utlb_offset(feat_.num_utlbs - 1) + 16);
  return std::max<uint64_t>(0x1000, (end + 0xfff) & ~uint64_t{0xfff});
}

Stats Ipmmu::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

size_t Ipmmu::tlb_size() const {
  std::lock_guard g(lock_);
  return static_cast<size_t>(std::count_if(tlb_.begin(), tlb_.end(), [](const TlbEntry& e) { return e.valid; }));
}

bool Ipmmu::decode_ctx(uint64_t off, unsigned* ctx, uint64_t* reg) const {
  for (unsigned i = 0; i < feat_.num_ctx; ++i) {
    const uint64_t base = layout_.ctx_offset(i);
    if (off >= base && off < base + kContextSpan) {
      *ctx = i;
      *reg = off - base;
      return true;
    }
  }
  return false;
}

bool Ipmmu::decode_utlb(uint64_t off, unsigned* n, uint64_t* reg) const {
  for (unsigned i = 0; i < feat_.num_utlbs; ++i) {
    const uint64_t base = layout_.utlb_offset(i);
    if (off >= base && off < base + 16) {
      *n = i;
      *reg = off - base;
      return true;
    }
  }
  return false;
}

uint64_t Ipmmu::read(uint64_t offset, unsigned size) {
  if (size != 4 || (offset & 3)) return 0;
  std::lock_guard g(lock_);
  return read_reg(offset);
}

void Ipmmu::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4 || (offset & 3)) return;  // 32-bit registers only: ignored
  std::lock_guard g(lock_);
  write_reg(offset, static_cast<uint32_t>(value));
}

uint32_t Ipmmu::read_reg(uint64_t off) {
  unsigned i = 0;
  uint64_t reg = 0;
  if (decode_utlb(off, &i, &reg)) {
    if (reg == IMUCTR) return utlb_[i].imuctr;
    if (reg == IMUASID) return utlb_[i].imuasid;
    return 0;
  }
  if (!decode_ctx(off, &i, &reg)) return 0;
  const Context& c = ctx_[i];
  switch (reg) {
    case IMCTR: return c.imctr;  // FLUSH completes at once: reads 0
    case IMTTBCR: return c.imttbcr;
    case IMBUSCR: return c.imbuscr;
    case IMTTLBR0: return c.ttlbr0;
    case IMTTUBR0: return c.ttubr0;
    case IMSTR: return c.imstr;
    case IMMAIR0: return c.immair0;
    case IMELAR: return c.imelar;
    case IMEUAR: return c.imeuar;
    default: return 0;
  }
}

void Ipmmu::write_reg(uint64_t off, uint32_t v) {
  unsigned i = 0;
  uint64_t reg = 0;
  if (decode_utlb(off, &i, &reg)) {
    if (reg == IMUCTR) {
      // FLUSH drops what this instance cached for the context selected.
      utlb_[i].imuctr = v & (IMUCTR_MMUEN | IMUCTR_TTSEL::mask);
      if (v & IMUCTR_FLUSH) flush_ctx(IMUCTR_TTSEL::get(v));
    } else if (reg == IMUASID) {
      utlb_[i].imuasid = v & 0xffff;
    }
    return;
  }
  if (!decode_ctx(off, &i, &reg)) return;  // unknown offsets: write ignored
  Context& c = ctx_[i];
  switch (reg) {
    case IMCTR:
      c.imctr = v & (IMCTR_MMUEN | IMCTR_INTEN);
      if (v & IMCTR_FLUSH) flush_ctx(i);
      return;
    case IMTTBCR: c.imttbcr = v; return;
    case IMBUSCR: c.imbuscr = v; return;
    case IMTTLBR0: c.ttlbr0 = v; return;
    case IMTTUBR0: c.ttubr0 = v & 0xff; return;  // 40-bit table addresses
    case IMSTR: c.imstr &= v; return;            // bits written as 0 clear
    case IMMAIR0: c.immair0 = v; return;
    case IMELAR: c.imelar = v; return;
    case IMEUAR: c.imeuar = v; return;
    default: return;
  }
}

void Ipmmu::flush_ctx(unsigned ctx) {
  for (auto& e : tlb_)
    if (e.valid && e.ctx == ctx) e.valid = false;
}

void Ipmmu::tlb_insert(const TlbEntry& e) {
  for (auto& t : tlb_)
    if (!t.valid) {
      t = e;
      return;
    }
  tlb_[next_victim_] = e;
  next_victim_ = (next_victim_ + 1) % tlb_.size();
}

}  // namespace modiommu::hw::ipmmu
