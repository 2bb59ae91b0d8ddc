// Domains (arm_smmu_domain): paging domains translate at stage 1 through an
// io-pgtable, with their own ASID and context descriptor (5.4); identity
// and blocked domains are STE bypass / abort and own no memory.
//
// One CD per paging domain, written completely (write_cd) before any STE
// points at it and never changed while in use: switching a master between
// domains is the single STE word-0 store of strtab.cpp's write_ste.
// Map/unmap follow io-pgtable's rule (concurrent on disjoint ranges);
// invalidations go through the command queue's lock.
#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "kernel/driver_context.h"

namespace modiommu::arm_smmu_v3 {
namespace {

// Above this many pages one TLBI by ASID is cheaper than per-page TLBI_NH_VA
// (Linux's CMDQ_MAX_TLBI_OPS idea).
constexpr uint64_t kMaxTlbiOps = 128;

}  // namespace

SmmuDomain::SmmuDomain(iommu::DomainType t, std::shared_ptr<SmmuDevice> smmu)
    : iommu::IommuDomain(t), smmu_(std::move(smmu)) {}

Status SmmuDomain::finalise() {
  SmmuDevice& s = *smmu_;
  asid_ = TRY(s.asid_alloc());
  iommu::IoPgtableCfg cfg;
  cfg.fmt = iommu::PgtableFormat::arm_lpae_s1;
  cfg.granule = iommu::Granule::k4K;
  cfg.ias = 48;  // IDR5.VAX = 0: 48-bit VA (6.3.6)
  cfg.oas = s.features().oas;
  cfg.coherent = s.features().coherent;
  cfg.tlb = this;
  auto& pages = s.ctx().pages();
  pgtbl_ = TRY(iommu::IoPgtable::alloc(cfg, s.ctx().ram(), pages));
  pgsize_bitmap = pgtbl_->pgsize_bitmap();
  aperture_start = 0;
  aperture_end = (uint64_t{1} << cfg.ias) - 1;

  cd_pa_ = TRY(pages.alloc(kCdBytes, kCdBytes));
  const auto& tcr = pgtbl_->cfg().arm_lpae_s1_cfg.tcr;
  CdConfig c;
  c.asid = asid_;
  c.ttb0 = pgtbl_->ttbr();
  c.mair = pgtbl_->mair();
  c.t0sz = tcr.tsz;
  c.tg0 = tcr.tg;
  c.irgn0 = tcr.irgn;
  c.orgn0 = tcr.orgn;
  c.sh0 = tcr.sh;
  c.ips = tcr.ips;
  return write_cd(cd_s1(c));
}

namespace {

// Stores to one CD. Its sync invalidates every cached configuration
// (4.3.2 CFGI_ALL covers CDs too) when an STE may point at the CD.
class CdWriter final : public EntryWriter {
 public:
  CdWriter(hw::PhysicalMemory& mem, uint64_t pa, Cmdq* cmdq) : mem_(mem), pa_(pa), cmdq_(cmdq) {}
  Entry used(const Entry& e) const override { return cd_used(e); }
  Status store(unsigned i, uint64_t value) override { return mem_.write64(pa_ + uint64_t{i} * 8, value); }
  Status sync() override { return cmdq_ ? cmdq_->issue_sync(cmd_cfgi_all()) : Status{}; }

 private:
  hw::PhysicalMemory& mem_;
  uint64_t pa_;
  Cmdq* cmdq_;
};

}  // namespace

Status SmmuDomain::write_cd(const Entry& target) {
  auto& mem = smmu_->ctx().ram();
  Entry cur;
  TRY(mem.read(*cd_pa_, cur.data(), sizeof cur));
  // No STE points at a CD before the domain is attached: nothing to sync.
  CdWriter w(mem, *cd_pa_, attached && smmu_->live() ? &smmu_->cmdq() : nullptr);
  return write_entry(w, cur, target);
}

SmmuDomain::~SmmuDomain() {
  // No STE may reference what is freed below.
  smmu_->detach_all(*this);
  if (pgtbl_) {
    if (smmu_->live()) (void)smmu_->cmdq().issue_sync(cmd_tlbi_nh_asid(asid_));
    pgtbl_.reset();  // its final tlb_flush_all is harmless
  }
  if (cd_pa_) (void)smmu_->ctx().pages().free(*cd_pa_);
  if (asid_) smmu_->asid_free(asid_);
}

Entry SmmuDomain::ste() const {
  switch (type()) {
    case iommu::DomainType::identity: return ste_bypass();
    case iommu::DomainType::blocked: return ste_abort();
    default:
      // Not finalised: no CD to point at, so the stream aborts.
      if (!cd_pa_) return ste_abort();
      // 5.2: stage 1 only, S1Fmt linear with S1CDMax 0: one CD.
      return ste_s1(*cd_pa_);
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
  if (!smmu_->live() || start > end) return;
  if (granule == 0) granule = 4096;
  const uint64_t pages = (end - start) / granule + 1;
  Status s;
  if (pages > kMaxTlbiOps) {
    s = smmu_->cmdq().issue_sync(cmd_tlbi_nh_asid(asid_));
  } else {
    std::vector<Cmd> cmds;
    cmds.reserve(pages);
    for (uint64_t i = 0; i < pages; ++i) cmds.push_back(cmd_tlbi_nh_va(asid_, start + i * granule, leaf));
    s = smmu_->cmdq().issue_sync(cmds);
  }
  if (!s.ok()) smmu_->log().err(smmu_->name(), "TLB invalidation for ASID {} failed: {}", asid_, s.error().str());
}

void SmmuDomain::iotlb_sync(iommu::IotlbGather& gather) {
  if (!pgtbl_) return;
  // Unhooked tables may sit in walk caches: then non-leaf invalidation.
  if (!gather.empty()) invalidate_range(gather.start, gather.end, gather.pgsize, gather.freelist.empty());
  else if (!gather.freelist.empty()) tlb_flush_all();
  Status s = pgtbl_->free_gathered(gather);
  if (!s.ok()) smmu_->log().err(smmu_->name(), "freeing unmapped tables: {}", s.error().str());
}

void SmmuDomain::flush_iotlb_all() { tlb_flush_all(); }

Result<uint64_t> SmmuDomain::iova_to_phys(uint64_t iova) const {
  if (!pgtbl_) return iommu::IommuDomain::iova_to_phys(iova);
  return pgtbl_->iova_to_phys(iova);
}

void SmmuDomain::tlb_flush_all() {
  if (!smmu_->live() || !asid_) return;
  Status s = smmu_->cmdq().issue_sync(cmd_tlbi_nh_asid(asid_));
  if (!s.ok()) smmu_->log().err(smmu_->name(), "TLBI_NH_ASID {} failed: {}", asid_, s.error().str());
}

void SmmuDomain::tlb_flush_walk(uint64_t iova, size_t size, size_t granule) {
  if (size) invalidate_range(iova, iova + size - 1, granule, false);
}

void SmmuDomain::tlb_add_page(iommu::IotlbGather* gather, uint64_t iova, size_t granule) {
  if (gather) gather->add_page(iova, granule);
  else invalidate_range(iova, iova + granule - 1, granule, true);
}

// --- ASIDs ---------------------------------------------------------------------------

// ASID 0 stays reserved (as Linux): a zeroed CD never aliases a live domain.
Result<uint16_t> SmmuDevice::asid_alloc() {
  std::lock_guard g(asid_lock_);
  const uint32_t n = feat_.asid16 ? 1u << 16 : 1u << 8;
  if (asid_used_.size() != n) asid_used_.assign(n, false);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t a = (asid_next_ + i) % n;
    if (a == 0 || asid_used_[a]) continue;  // ASID 0 is never handed out: asid_ 0 means none
    asid_used_[a] = true;
    asid_next_ = a + 1;
    return static_cast<uint16_t>(a);
  }
  return make_error(Errc::nomem, name() + ": no free ASID");
}

void SmmuDevice::asid_free(uint16_t asid) {
  std::lock_guard g(asid_lock_);
  if (asid < asid_used_.size()) asid_used_[asid] = false;
}

}  // namespace modiommu::arm_smmu_v3
