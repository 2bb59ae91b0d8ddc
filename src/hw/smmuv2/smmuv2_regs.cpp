// SMMUv2 register file: GR0, GR1 and context-bank registers (IHI 0062 ch. 10)
// and TLB maintenance operations.
#include <algorithm>

#include "hw/smmuv2/regs.h"
#include "hw/smmuv2/smmuv2.h"

namespace modiommu::hw::smmuv2 {

namespace {

// IDR2.IAS/OAS encoding (IHI 0062 10.6.6).
uint32_t addr_size_code(unsigned bits) {
  switch (bits) {
    case 32: return 0;
    case 36: return 1;
    case 40: return 2;
    case 42: return 3;
    case 44: return 4;
    default: return 5;
  }
}

uint32_t lo32(uint64_t v) { return static_cast<uint32_t>(v); }

// A 4-byte write to one half of a 64-bit register, or an 8-byte write.
void write64_part(uint64_t& reg, uint64_t off, uint64_t base, uint64_t value, unsigned size) {
  if (size == 8 && off == base) {
    reg = value;
  } else if (size == 4 && off == base) {
    reg = (reg & ~uint64_t{0xffffffff}) | lo32(value);
  } else if (size == 4 && off == base + 4) {
    reg = (reg & 0xffffffff) | (uint64_t{lo32(value)} << 32);
  }
}

// Clamp hostile construction parameters to what the ID registers can say.
Features sanitize(Features f) {
  f.num_smrg = std::clamp(f.num_smrg, 1u, 127u);
  f.num_cb = std::clamp(f.num_cb, 1u, 128u);
  f.sid_bits = std::clamp(f.sid_bits, 1u, 16u);
  f.tlb_entries = std::clamp(f.tlb_entries, 1u, 4096u);
  if (f.oas_bits != 32 && f.oas_bits != 36 && f.oas_bits != 40 && f.oas_bits != 42 && f.oas_bits != 44) f.oas_bits = 48;
  return f;
}

}  // namespace

SmmuV2::SmmuV2(std::string name, PhysicalMemory& mem, Features features, Irqs irqs)
    : name_(std::move(name)), mem_(mem), feat_(sanitize(features)), irqs_(std::move(irqs)) {
  const Features& f = feat_;
  page_ = f.page64k ? 0x10000 : 0x1000;
  // IHI 0062 8.1: the global space has NUMPAGE = 2^(NUMPAGENDXB+1) pages and
  // the context banks occupy the same number of pages above it.
  while ((1u << (numpagendxb_ + 1)) < std::max(f.num_cb, 2u)) ++numpagendxb_;
  cb_base_ = (uint64_t{1} << (numpagendxb_ + 1)) * page_;
  smr_.assign(f.num_smrg, 0);
  // Reset: S2CR.TYPE=fault (IHI 0062 10.6.22 leaves it IMPLEMENTATION DEFINED).
  s2cr_.assign(f.num_smrg, s2cr::TYPE::prep(S2CR_FAULT));
  cbs_.resize(f.num_cb);
  for (auto& cb : cbs_) cb.tlb.resize(f.tlb_entries);
  scr0_ = SCR0_CLIENTPD;
}

SmmuV2::~SmmuV2() = default;

Stats SmmuV2::stats() const {
  std::lock_guard g(lock_);
  return Stats{tlb_hits_, tlb_misses_, global_faults_, context_faults_};
}

size_t SmmuV2::tlb_size(unsigned cb) const {
  std::lock_guard g(lock_);
  if (cb >= cbs_.size()) return 0;
  return static_cast<size_t>(std::count_if(cbs_[cb].tlb.begin(), cbs_[cb].tlb.end(),
                                           [](const TlbEntry& e) { return e.valid; }));
}

void SmmuV2::fire(uint64_t irqs) {
  if ((irqs & kIrqGlobal) && irqs_.global) irqs_.global->raise();
  for (unsigned i = 0; i < kMaxContextIrqs && i < irqs_.context.size(); ++i)
    if ((irqs >> i) & 1 && irqs_.context[i]) irqs_.context[i]->raise();
}

uint64_t SmmuV2::read(uint64_t offset, unsigned size) {
  if (size != 4 && size != 8) return 0;
  std::lock_guard g(lock_);
  if (offset >= cb_base_) {
    const uint64_t n = (offset - cb_base_) / page_;
    if (n >= cbs_.size()) return 0;  // unimplemented bank pages: RAZ
    return read_cb(cbs_[n], (offset - cb_base_) % page_, size);
  }
  const uint64_t page = offset / page_, off = offset % page_;
  if (page == 0) {
    if (size == 8 && off == SGFAR) return sgfar_;
    if (size == 8) return 0;
    return read_global(off);
  }
  if (page == 1 && size == 4) {
    // GR1 (IHI 0062 10.7).
    if (off >= CBAR_BASE && off < CBAR_BASE + 4 * cbs_.size()) return cbs_[(off - CBAR_BASE) / 4].cbar;
    if (off >= CBFRSYNRA_BASE && off < CBFRSYNRA_BASE + 4 * cbs_.size())
      return cbs_[(off - CBFRSYNRA_BASE) / 4].cbfrsynra;
    if (off >= CBA2R_BASE && off < CBA2R_BASE + 4 * cbs_.size() && feat_.version == Version::v2)
      return cbs_[(off - CBA2R_BASE) / 4].cba2r;
  }
  return 0;
}

uint32_t SmmuV2::read_global(uint64_t off) {
  switch (off) {
    case SCR0: return scr0_;
    case IDR0: {
      // NUMSMRG, EXIDS, NUMSIDB, NUMIRPT, SMS=1, NTS=0, S2TS, S1TS, SES=0.
      return idr0::NUMSMRG::prep_masked(feat_.num_smrg) | idr0::EXIDS::prep(feat_.sid_bits >= 16) |
             idr0::NUMSIDB::prep(std::min(feat_.sid_bits, 15u)) |
             idr0::NUMIRPT::prep(std::min<size_t>(irqs_.context.size(), 255)) | idr0::SMS::mask |
             idr0::S2TS::prep(feat_.stage2) | idr0::S1TS::prep(feat_.stage1);
    }
    case IDR1: {
      // NUMCB, NUMS2CB=0 (every bank can take any type), NUMPAGENDXB, PAGESIZE.
      return idr1::NUMCB::prep_masked(feat_.num_cb) | idr1::NUMPAGENDXB::prep(numpagendxb_) |
             idr1::PAGESIZE::prep(feat_.page64k);
    }
    case IDR2: {
      // IAS, OAS, UBS=48 bits (5), AArch64 4K and 64K granules (v2 only).
      uint32_t v = idr2::IAS::prep(addr_size_code(feat_.oas_bits)) | idr2::OAS::prep(addr_size_code(feat_.oas_bits)) |
                   idr2::UBS::prep(5);
      if (feat_.version == Version::v2) v |= idr2::PTFS_4K::mask | idr2::PTFS_64K::mask;
      return v;
    }
    case IDR7: return feat_.version == Version::v2 ? 0x21 : 0x10;  // MAJOR.MINOR
    case SGFAR: return lo32(sgfar_);
    case SGFAR + 4: return static_cast<uint32_t>(sgfar_ >> 32);
    case SGFSR: return sgfsr_;
    case SGFSYNR0: return sgfsynr0_;
    case SGFSYNR1: return sgfsynr1_;
    case TLBGSTATUS: return 0;  // maintenance completes synchronously
    default: break;
  }
  if (off >= SMR_BASE && off < SMR_BASE + 4 * smr_.size()) return smr_[(off - SMR_BASE) / 4];
  if (off >= S2CR_BASE && off < S2CR_BASE + 4 * s2cr_.size()) return s2cr_[(off - S2CR_BASE) / 4];
  return 0;
}

void SmmuV2::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4 && size != 8) return;
  uint64_t irqs = 0;
  {
    std::lock_guard g(lock_);
    if (offset >= cb_base_) {
      const uint64_t n = (offset - cb_base_) / page_;
      if (n < cbs_.size()) write_cb(static_cast<unsigned>(n), (offset - cb_base_) % page_, value, size);
    } else {
      write_global(offset, value, size, irqs);
    }
  }
  fire(irqs);
}

void SmmuV2::write_global(uint64_t offset, uint64_t value, unsigned size, uint64_t& /*irqs*/) {
  const uint64_t page = offset / page_, off = offset % page_;
  const uint32_t v = lo32(value);
  if (page == 1) {
    if (size != 4) return;
    if (off >= CBAR_BASE && off < CBAR_BASE + 4 * cbs_.size()) {
      cbs_[(off - CBAR_BASE) / 4].cbar = v;
    } else if (off >= CBA2R_BASE && off < CBA2R_BASE + 4 * cbs_.size() && feat_.version == Version::v2) {
      cbs_[(off - CBA2R_BASE) / 4].cba2r = v & CBA2R_VA64;
    }
    return;
  }
  if (page != 0) return;
  if (size == 8) {
    if (off == SGFAR) sgfar_ = value;
    return;
  }
  switch (off) {
    case SCR0: scr0_ = v; return;
    case SGFAR: case SGFAR + 4: write64_part(sgfar_, off, SGFAR, v, 4); return;
    case SGFSR: sgfsr_ &= ~v; return;  // W1C (10.6.15)
    case SGFSRRESTORE: sgfsr_ = v; return;
    case SGFSYNR0: sgfsynr0_ = v; return;
    case SGFSYNR1: sgfsynr1_ = v; return;
    // Global TLB maintenance (10.6.8-10.6.10). No hypervisor contexts exist,
    // so TLBIALLH invalidates everything too (over-invalidation is allowed).
    case TLBIALLNSNH:
    case TLBIALLH: tlb_invalidate([](unsigned, const TlbEntry&) { return true; }); return;
    case TLBIVMID: {
      const uint16_t vmid = static_cast<uint16_t>(TLBI_VMID::get(v));
      tlb_invalidate([vmid](unsigned, const TlbEntry& e) { return e.vmid == vmid; });
      return;
    }
    case TLBGSYNC: return;
    default: break;
  }
  if (off >= SMR_BASE && off < SMR_BASE + 4 * smr_.size()) {
    smr_[(off - SMR_BASE) / 4] = v;
  } else if (off >= S2CR_BASE && off < S2CR_BASE + 4 * s2cr_.size()) {
    s2cr_[(off - S2CR_BASE) / 4] = v;
  }
}

uint64_t SmmuV2::read_cb(ContextBank& cb, uint64_t off, unsigned size) {
  if (size == 8) {
    switch (off) {
      case CB_TTBR0: return cb.ttbr0;
      case CB_TTBR1: return cb.ttbr1;
      case CB_FAR: return cb.far;
      default: return 0;
    }
  }
  switch (off) {
    case CB_SCTLR: return cb.sctlr;
    case CB_TCR2: return cb.tcr2;
    case CB_TTBR0: return lo32(cb.ttbr0);
    case CB_TTBR0 + 4: return cb.ttbr0 >> 32;
    case CB_TTBR1: return lo32(cb.ttbr1);
    case CB_TTBR1 + 4: return cb.ttbr1 >> 32;
    case CB_TCR: return cb.tcr;
    case CB_CONTEXTIDR: return cb.contextidr;
    case CB_MAIR0: return cb.mair0;
    case CB_MAIR1: return cb.mair1;
    case CB_FSR: return cb.fsr;
    case CB_FAR: return lo32(cb.far);
    case CB_FAR + 4: return cb.far >> 32;
    case CB_FSYNR0: return cb.fsynr0;
    case CB_FSYNR1: return cb.fsynr1;
    case CB_TLBSTATUS: return 0;  // maintenance completes synchronously
    default: return 0;
  }
}

void SmmuV2::write_cb(unsigned n, uint64_t off, uint64_t value, unsigned size) {
  ContextBank& cb = cbs_[n];
  const uint32_t v = lo32(value);
  const uint16_t vmid = vmid_of(cb);
  // TLBIVA* value (IHI 0062 context-bank TLB maintenance, AArch64 format): VA[55:12] in bits [43:0],
  // ASID in [63:48]. A 32-bit write gives VA[43:12] and ASID 0.
  auto va_of = [&] { return TLBIVA_VA::get(value) << 12; };
  auto asid_of = [&] { return static_cast<uint16_t>(size == 8 ? TLBIVA_ASID::get(value) : 0); };
  switch (off) {
    case CB_TTBR0: case CB_TTBR0 + 4: write64_part(cb.ttbr0, off, CB_TTBR0, value, size); return;
    case CB_TTBR1: case CB_TTBR1 + 4: write64_part(cb.ttbr1, off, CB_TTBR1, value, size); return;
    case CB_FAR: case CB_FAR + 4: write64_part(cb.far, off, CB_FAR, value, size); return;
    case CB_TLBIVA: case CB_TLBIVAL: {
      const uint64_t va = va_of();
      const uint16_t asid = asid_of();
      tlb_invalidate([=](unsigned, const TlbEntry& e) {
        return e.vmid == vmid && e.asid == asid && va >= e.va && va - e.va < e.size;
      });
      return;
    }
    case CB_TLBIVAA: case CB_TLBIVAAL: case CB_TLBIIPAS2: case CB_TLBIIPAS2L: {
      // All ASIDs (TLBIVAA) or a stage-2 bank's IPA: same page, any ASID.
      const uint64_t va = va_of();
      tlb_invalidate([=](unsigned, const TlbEntry& e) { return e.vmid == vmid && va >= e.va && va - e.va < e.size; });
      return;
    }
    default: break;
  }
  if (size != 4) return;
  switch (off) {
    case CB_SCTLR: cb.sctlr = v; return;
    case CB_TCR2: cb.tcr2 = v; return;
    case CB_TCR: cb.tcr = v; return;
    case CB_CONTEXTIDR: cb.contextidr = v; return;
    case CB_MAIR0: cb.mair0 = v; return;
    case CB_MAIR1: cb.mair1 = v; return;
    case CB_FSR: cb.fsr &= ~v; return;  // W1C (10.9.12)
    case CB_FSRRESTORE: cb.fsr = v; return;
    case CB_FSYNR0: cb.fsynr0 = v; return;
    case CB_FSYNR1: cb.fsynr1 = v; return;
    case CB_TLBIASID: {
      const uint16_t asid = static_cast<uint16_t>(TLBI_ASID::get(v));
      tlb_invalidate([=](unsigned, const TlbEntry& e) { return e.vmid == vmid && e.asid == asid; });
      return;
    }
    case CB_TLBIALL:
      // TLBIALL scope is the bank's VMID: drop those entries in every bank.
      tlb_invalidate([=](unsigned, const TlbEntry& e) { return e.vmid == vmid; });
      return;
    case CB_TLBSYNC: return;
    default: return;
  }
}

}  // namespace modiommu::hw::smmuv2
