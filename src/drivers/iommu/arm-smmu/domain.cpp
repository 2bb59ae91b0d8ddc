// Domains (arm_smmu_domain): a paging domain owns one context bank with a
// stage-1 io-pgtable (AArch64 format on SMMUv2, AArch32 LPAE on SMMUv1);
// identity and blocked domains are S2CR bypass / fault and own nothing.
// The bank is programmed completely before any S2CR points at it.
#include <fmt/format.h>

#include "drivers/iommu/arm-smmu/arm-smmu.h"
#include "drivers/iommu/arm-smmu/regs.h"
#include "kernel/driver_context.h"

namespace modiommu::arm_smmu {
namespace {
// Above this many pages one TLBIASID beats per-page TLBIVA.
constexpr uint64_t kMaxTlbiOps = 128;
}  // namespace

SmmuDomain::SmmuDomain(iommu::DomainType t, std::shared_ptr<SmmuDevice> smmu)
    : iommu::IommuDomain(t), smmu_(std::move(smmu)) {}

Status SmmuDomain::finalise() {
  SmmuDevice& s = *smmu_;
  const Features& f = s.features();
  iommu::IoPgtableCfg cfg;
  cfg.fmt = iommu::PgtableFormat::arm_lpae_s1;
  cfg.granule = iommu::Granule::k4K;
  // SMMUv1 banks walk AArch32 LPAE tables: a 32-bit input, 40-bit output.
  cfg.ias = f.v2 ? std::min(f.ias, 48u) : 32;
  if (f.v2 && cfg.ias < 32) cfg.ias = 32;
  cfg.oas = f.v2 ? f.oas : std::min(f.oas, 40u);
  cfg.coherent = true;
  cfg.tlb = this;
  auto& pages = s.ctx().pages();
  pgtbl_ = TRY(iommu::IoPgtable::alloc(cfg, s.ctx().ram(), pages));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  aperture_start = 0;
  aperture_end = (uint64_t{1} << cfg.ias) - 1;
  // The ASID only has to be unique per SMMU: the bank index (+1, keeping 0
  // for nobody) is, as Linux does.
  auto n = s.cb_alloc(*this, *pgtbl_, 0);
  if (!n.ok()) {
    pgtbl_.reset();
    return std::move(n).error();
  }
  cbndx_ = *n;
  asid_ = static_cast<uint16_t>(cbndx_ + 1);
  return {};
}

SmmuDomain::~SmmuDomain() {
  smmu_->detach_all(*this);  // no S2CR may route to the bank freed below
  if (cbndx_ >= 0) smmu_->cb_free(cbndx_, asid_);
  pgtbl_.reset();
}

uint32_t SmmuDomain::s2cr_type() const {
  switch (type()) {
    case iommu::DomainType::identity: return S2CR_TYPE_BYPASS;
    case iommu::DomainType::blocked: return S2CR_TYPE_FAULT;
    default: return S2CR_TYPE_TRANS;
  }
}

Status SmmuDomain::map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) {
  if (!pgtbl_) return iommu::IommuDomain::map_pages(iova, pa, pgsize, count, prot, mapped);
  return pgtbl_->map_pages(iova, pa, pgsize, count, prot, mapped);
}

size_t SmmuDomain::unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) {
  if (!pgtbl_) return 0;
  return pgtbl_->unmap(iova, pgsize * count, &gather);
}

void SmmuDomain::invalidate_range(uint64_t start, uint64_t end, size_t granule, bool leaf) {
  if (cbndx_ < 0 || start > end) return;
  if (granule == 0) granule = 4096;
  const uint64_t pages = (end - start) / granule + 1;
  if (pages > kMaxTlbiOps) smmu_->tlb_inv_asid(cbndx_, asid_);
  else smmu_->tlb_inv_va(cbndx_, asid_, start, granule, pages, leaf);
}

void SmmuDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  if (!gather.empty()) invalidate_range(gather.start, gather.end, gather.pgsize, gather.freelist.empty());
  else if (!gather.freelist.empty()) tlb_flush_all();
  Status s = pgtbl_->free_gathered(gather);
  if (!s.ok()) smmu_->ctx().log().err(smmu_->name(), "freeing unmapped tables: {}", s.error().str());
}

void SmmuDomain::flush_iotlb_all() { tlb_flush_all(); }

Result<uint64_t> SmmuDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void SmmuDomain::tlb_flush_all() {
  if (cbndx_ >= 0) smmu_->tlb_inv_asid(cbndx_, asid_);
}

void SmmuDomain::tlb_flush_walk(uint64_t iova, size_t size, size_t granule) {
  if (size) invalidate_range(iova, iova + size - 1, granule, false);
}

void SmmuDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  if (gather) gather->add_page(iova, granule);
  else invalidate_range(iova, iova + granule - 1, granule, true);
}

// --- context banks (IHI 0062 10.7, 10.8) -------------------------------------------

Result<int> SmmuDevice::cb_alloc(SmmuDomain& /*d*/, const iommu::IoPgtable& pgtbl, uint16_t /*asid*/) {
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  int n = -1;
  for (unsigned i = 0; i < cb_used_.size(); ++i)
    if (!cb_used_[i]) {
      n = int(i);
      break;
    }
  if (n < 0)
    return make_error(Errc::busy, fmt::format("{}: all {} context banks are in use (one per paging domain)", name(),
                                               cb_used_.size()));
  cb_used_[unsigned(n)] = true;
  const uint16_t asid = static_cast<uint16_t>(n + 1), vmid = static_cast<uint16_t>(n + 1);
  const uint64_t b = cb(n);
  const auto& tcr = pgtbl.cfg().arm_lpae_s1_cfg.tcr;
  const unsigned irpt = feat_.num_context_irqs ? unsigned(n) % feat_.num_context_irqs : 0;
  regs_.writel(b + CB_SCTLR, 0);  // off while it is (re)programmed
  if (feat_.v2) regs_.writel(gr1() + CBA2R_BASE + 4 * unsigned(n), CBA2R_VA64);
  regs_.writel(gr1() + CBAR_BASE + 4 * unsigned(n),
               cbar::TYPE::prep(CBAR_TYPE_S1_S2BYPASS) | cbar::IRPTNDX::prep(irpt) | cbar::VMID::prep(vmid));
  const uint32_t walk =
      cb_tcr::IRGN0::prep(tcr.irgn) | cb_tcr::ORGN0::prep(tcr.orgn) | cb_tcr::SH0::prep(tcr.sh) | TCR_EPD1;
  if (feat_.v2) {
    regs_.writel(b + CB_TCR2, TCR2_PASIZE::prep(tcr.ips));  // 8-bit ASIDs (AS = 0)
    regs_.writel(b + CB_TCR, cb_tcr::T0SZ::prep(tcr.tsz) | walk | cb_tcr::TG0::prep(tcr.tg));
  } else {
    // AArch32 TTBCR, long descriptors: T0SZ is 3 bits (a 32-bit input).
    regs_.writel(b + CB_TCR, TCR_EAE | cb_tcr::T0SZ_32::prep_masked(tcr.tsz) | walk);
  }
  regs_.writeq(b + CB_TTBR0, pgtbl.ttbr() | TTBR_ASID::prep(asid));
  regs_.writeq(b + CB_TTBR1, TTBR_ASID::prep(asid));
  const uint64_t mair = pgtbl.mair();
  regs_.writel(b + CB_MAIR0, static_cast<uint32_t>(mair));
  regs_.writel(b + CB_MAIR1, static_cast<uint32_t>(mair >> 32));
  regs_.writel(b + CB_FSR, FSR_FAULT);
  // Nothing cached from a previous owner of the bank may survive.
  regs_.writel(b + CB_TLBIASID, asid);
  Status s = tlb_sync_cb(n);
  if (!s.ok()) {
    cb_used_[unsigned(n)] = false;
    return std::move(s).error();
  }
  regs_.writel(b + CB_SCTLR, SCTLR_M | SCTLR_TRE | SCTLR_AFE | SCTLR_CFRE | SCTLR_CFIE);
  return n;
}

void SmmuDevice::cb_free(int n, uint16_t asid) {
  std::lock_guard g(lock_);
  if (n < 0 || unsigned(n) >= cb_used_.size()) return;
  cb_used_[unsigned(n)] = false;
  if (!live()) return;  // the SMMU is quiesced: banks are off already
  regs_.writel(cb(n) + CB_SCTLR, 0);
  regs_.writel(cb(n) + CB_TLBIASID, asid);
  Status s = tlb_sync_cb(n);
  if (!s.ok()) ctx_.log().err(name(), "freeing context bank {}: {}", n, s.error().str());
}

void SmmuDevice::tlb_inv_asid(int n, uint16_t asid) {
  std::lock_guard g(lock_);
  if (!live()) return;
  regs_.writel(cb(n) + CB_TLBIASID, asid);
  Status s = tlb_sync_cb(n);
  if (!s.ok()) ctx_.log().err(name(), "TLBIASID {}: {}", asid, s.error().str());
}

void SmmuDevice::tlb_inv_va(int n, uint16_t asid, uint64_t iova, size_t granule, uint64_t pages, bool leaf) {
  if (!feat_.v2) {
    // AArch32 TLBIVA takes a different operand layout; over-invalidating
    // by ASID is always correct.
    tlb_inv_asid(n, asid);
    return;
  }
  std::lock_guard g(lock_);
  if (!live()) return;
  const uint32_t reg = leaf ? CB_TLBIVAL : CB_TLBIVA;
  for (uint64_t i = 0; i < pages; ++i)
    regs_.writeq(cb(n) + reg, TLBIVA_VA::prep_masked((iova + i * granule) >> 12) | TLBIVA_ASID::prep(asid));
  Status s = tlb_sync_cb(n);
  if (!s.ok()) ctx_.log().err(name(), "TLBIVA for ASID {}: {}", asid, s.error().str());
}

}  // namespace modiommu::arm_smmu
