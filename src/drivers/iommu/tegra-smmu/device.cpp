// One Tegra memory controller's SMMU: probe (SoC data, registers as Linux's
// tegra_smmu_probe sets them, described swgroups blocked), remove (left
// blocking: BEHAVIOUR.md 3), the ASID/swgroup register sequences, TLB and
// PTC flushes, and the MC interrupt for SMMU page faults. Locking:
// tegra-smmu.h.
#include <algorithm>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/tegra-smmu/regs.h"
#include "drivers/iommu/tegra-smmu/tegra-smmu.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::tegra_smmu {

TegraSmmu::TegraSmmu(DriverContext& ctx, Device& dev, CodeOwner* owner) : ctx_(ctx), dev_(dev), owner_(owner) {}
TegraSmmu::~TegraSmmu() = default;

const std::string& TegraSmmu::name() const { return dev_.name(); }

void TegraSmmu::set_ptb(unsigned asid, uint32_t ptb_data) {
  regs_.writel(SMMU_PTB_ASID, PtbAsid::prep(asid));
  regs_.writel(SMMU_PTB_DATA, ptb_data);
  (void)regs_.readl(SMMU_PTB_ASID);  // Linux smmu_flush: a read posts the writes
}

// Linux tegra_smmu_enable: the swgroup's ASID register, then every client
// of the swgroup switched to translation.
void TegraSmmu::enable_swgroup(unsigned swgroup, unsigned asid) {
  const Swgroup* g = find_swgroup(*soc_, swgroup);
  if (!g) return;  // of_xlate refused it
  uint32_t v = regs_.readl(g->asid_reg);
  v = (v & ~SMMU_ASID_MASK) | (asid & SMMU_ASID_MASK) | SMMU_ASID_ENABLE;
  regs_.writel(g->asid_reg, v);
  for (const auto& c : soc_->clients)
    if (c.swgroup == swgroup) regs_.writel(c.smmu_reg, regs_.readl(c.smmu_reg) | 1u << c.smmu_bit);
  (void)regs_.readl(SMMU_PTB_ASID);
}

// Linux tegra_smmu_disable: clients off, then the ASID register disabled.
void TegraSmmu::disable_swgroup(unsigned swgroup) {
  const Swgroup* g = find_swgroup(*soc_, swgroup);
  if (!g) return;
  for (const auto& c : soc_->clients)
    if (c.swgroup == swgroup) regs_.writel(c.smmu_reg, regs_.readl(c.smmu_reg) & ~(1u << c.smmu_bit));
  regs_.writel(g->asid_reg, regs_.readl(g->asid_reg) & ~SMMU_ASID_ENABLE);
  (void)regs_.readl(SMMU_PTB_ASID);
}

void TegraSmmu::tlb_flush_locked(uint32_t value) {
  regs_.writel(SMMU_TLB_FLUSH, value);
  (void)regs_.readl(SMMU_PTB_ASID);
}

std::vector<uint32_t> TegraSmmu::described_swgroups() const {
  std::vector<uint32_t> out;
  const of::Node* self = dev_.fwnode();
  for (const of::Node* n : self->tree().nodes()) {
    if (!n->has("iommus")) continue;
    auto specs = of::iommus(*n);
    if (!specs.ok()) continue;
    for (const auto& s : *specs)
      if (s.target == self && s.args.size() == 1 && find_swgroup(*soc_, s.args[0]) &&
          std::find(out.begin(), out.end(), s.args[0]) == out.end())
        out.push_back(s.args[0]);
  }
  return out;
}

Status TegraSmmu::probe() {
  const of::Node* node = dev_.fwnode();
  if (!node) return make_error(Errc::nodev, name() + ": no firmware node");
  for (const auto& c : node->compatible())
    if ((soc_ = soc_for_compatible(c))) break;
  if (!soc_) return make_error(Errc::nodev, name() + ": no SMMU SoC data for this memory controller");
  if (auto cells = node->u32("#iommu-cells"); !cells || *cells != 1)
    return make_error(Errc::inval, fmt::format("{}: #iommu-cells must be 1 (a swgroup)", node->path()));
  regs_ = TRY(ctx_.ioremap(dev_, 0));
  group_keys_.assign(soc_->groups.size() + 256, 0);
  asids_.assign(soc_->num_asids, false);
  asids_[block_asid()] = true;

  auto pd = ctx_.pages().alloc_pages(0);
  if (!pd.ok()) return std::move(pd).error();
  if (*pd >> soc_->address_bits) {
    (void)ctx_.pages().free_pages(*pd, 0);
    return make_error(Errc::nomem, fmt::format("{}: no page below {} bits for an empty directory", name(),
                                               soc_->address_bits));
  }
  block_pd_ = *pd;

  // Linux mc.c requests the MC interrupt; its handler reports SMMU page
  // faults (here this driver's, as the MC driver is not modelled).
  if (auto irq = ctx_.request_irq(dev_, "0", [this] { fault_irq(); }); irq.ok())
    irqs_.push_back(std::move(irq).value());
  else
    ctx_.log().warn(name(), "no interrupt: SMMU faults are not reported");

  const std::vector<uint32_t> described = described_swgroups();
  {
    std::lock_guard g(lock_);
    // Linux tegra_smmu_probe: PTC and TLB configuration, both flushed,
    // then translation on.
    uint32_t ptc = PTC_CONFIG_ENABLE | PtcIndexMap::prep(0x3f) | PtcReqLimit::prep(8);
    regs_.writel(SMMU_PTC_CONFIG, ptc);
    regs_.writel(SMMU_TLB_CONFIG, TLB_CONFIG_HIT_UNDER_MISS | TLB_CONFIG_ROUND_ROBIN |
                                      TlbActiveLines::prep_masked(soc_->num_tlb_lines));
    regs_.writel(SMMU_PTC_FLUSH, 0);
    tlb_flush_locked(TLB_FLUSH_MATCH_ALL);
    set_ptb(block_asid(), static_cast<uint32_t>(block_pd_ >> 12) | ATTR_READABLE | ATTR_WRITABLE | ATTR_NONSECURE);
    // Unlike Linux (whose swgroups bypass until a domain is attached),
    // every described swgroup starts blocked: nothing passes before its
    // master is attached.
    for (uint32_t s : described) block_swgroup(s);
    regs_.writel(SMMU_CONFIG, SMMU_CONFIG_ENABLE);
    regs_.writel(MC_INTSTATUS, MC_INT_INVALID_SMMU_PAGE);
    regs_.writel(MC_INTMASK, regs_.readl(MC_INTMASK) | MC_INT_INVALID_SMMU_PAGE);
    (void)regs_.readl(SMMU_PTB_ASID);
  }
  live_.store(true, std::memory_order_release);
  inst_.name = dev_.name();
  inst_.dev = &dev_;
  inst_.fwnode = node;
  inst_.ops = this;
  inst_.owner = owner_;
  inst_.driver = "tegra-smmu";
  Status s = ctx_.iommu().register_iommu(inst_);
  registered_ = s.ok();
  if (!s.ok()) {
    remove();
    return s;
  }
  ctx_.log().info(name(), "Tegra SMMU ({}): {} ASIDs, {} TLB lines, {} swgroup(s) described, {} interrupt(s)",
                  soc_->name, soc_->num_asids, soc_->num_tlb_lines, described.size(), irqs_.size());
  return {};
}

void TegraSmmu::remove() {
  {
    std::lock_guard g(lock_);
    for (auto& wm : masters_)
      if (auto m = wm.lock(); m && m->dev && m->dev->state() == DeviceState::bound)
        ctx_.log().err(name(), "remove with master {} still attached: its device link should have released it first",
                       m->dev->name());
  }
  if (registered_) ctx_.iommu().unregister_iommu(inst_);
  registered_ = false;
  irqs_.clear();  // each waits for a running handler
  const std::vector<uint32_t> described = soc_ ? described_swgroups() : std::vector<uint32_t>{};
  std::lock_guard g(lock_);
  if (regs_.valid() && block_pd_) {
    // BEHAVIOUR.md 3: nothing passes once the driver is gone. Translation
    // stays on and every described swgroup on the blocking ASID.
    set_ptb(block_asid(), static_cast<uint32_t>(block_pd_ >> 12) | ATTR_READABLE | ATTR_WRITABLE | ATTR_NONSECURE);
    for (uint32_t s : described) block_swgroup(s);
    regs_.writel(SMMU_CONFIG, SMMU_CONFIG_ENABLE);
    tlb_flush_locked(TLB_FLUSH_MATCH_ALL);
    regs_.writel(MC_INTMASK, regs_.readl(MC_INTMASK) & ~MC_INT_INVALID_SMMU_PAGE);
  }
  live_.store(false, std::memory_order_release);
}

// --- flushes ------------------------------------------------------------------------

// Linux smmu_flush_tlb_group per 16 KiB group, or one flush by ASID.
void TegraSmmu::flush_tlb_range(const TegraDomain& d, uint64_t iova, uint64_t size) {
  std::lock_guard g(lock_);
  if (!live() || d.asid < 0 || !size) return;
  const uint32_t asid = TLB_FLUSH_ASID_MATCH | TlbFlushAsid::prep(static_cast<uint32_t>(d.asid));
  const uint64_t first = iova & ~uint64_t{0x3fff}, groups = (iova + size - 1 - first) / 0x4000 + 1;
  if (groups > kMaxGroupFlushes) {
    tlb_flush_locked(asid | TLB_FLUSH_MATCH_ALL);
    return;
  }
  for (uint64_t i = 0; i < groups; ++i)
    regs_.writel(SMMU_TLB_FLUSH, asid | TLB_FLUSH_MATCH_GROUP |
                                     TlbFlushVa::prep_masked((first + i * 0x4000) >> 14));
  (void)regs_.readl(SMMU_PTB_ASID);
}

void TegraSmmu::flush_tlb_asid(const TegraDomain& d) {
  std::lock_guard g(lock_);
  if (!live() || d.asid < 0) return;
  tlb_flush_locked(TLB_FLUSH_ASID_MATCH | TlbFlushAsid::prep(static_cast<uint32_t>(d.asid)) | TLB_FLUSH_MATCH_ALL);
}

// Linux smmu_flush_ptc: the address's high bits, then the atom.
void TegraSmmu::flush_ptc(iommu::PhysAddr pa) {
  std::lock_guard g(lock_);
  if (!live()) return;
  if (soc_->address_bits > 32) regs_.writel(SMMU_PTC_FLUSH_HI, static_cast<uint32_t>(pa >> 32) & PTC_FLUSH_HI_MASK);
  regs_.writel(SMMU_PTC_FLUSH, (static_cast<uint32_t>(pa) & ~static_cast<uint32_t>(kAtom - 1)) | PTC_FLUSH_TYPE_ADR);
}

// --- interrupt ----------------------------------------------------------------------

// Linux mc.c tegra30_mc_handle_irq for MC_INT_INVALID_SMMU_PAGE: the client
// from MC_ERR_STATUS, the address from MC_ERR_ADR (+ ADR_HI), then the
// status cleared. The client's swgroup names the faulting master.
void TegraSmmu::fault_irq() {
  std::vector<iommu::FaultInfo> faults;
  {
    std::lock_guard g(lock_);
    if (!live()) return;
    const uint32_t st = regs_.readl(MC_INTSTATUS) & regs_.readl(MC_INTMASK);
    if (!st) return;
    if (st & MC_INT_INVALID_SMMU_PAGE) {
      const uint32_t err = regs_.readl(MC_ERR_STATUS);
      const uint64_t adr = uint64_t{ErrAdrHi::get(err)} << 32 | regs_.readl(MC_ERR_ADR);
      const McClient* c = find_client(*soc_, ErrClient::get(err));
      iommu::FaultInfo f;
      f.iova = adr;
      f.write = err & ERR_RW;
      f.stream_id = c ? c->swgroup : 0xffffffffu;
      f.reason = fmt::format("invalid SMMU page: client {} ({:#x}), page {}{}{}", c ? c->name : "unknown",
                             ErrClient::get(err), err & ERR_READABLE ? "R" : "-", err & ERR_WRITABLE ? "W" : "-",
                             err & ERR_NONSECURE ? "N" : "-");
      if (c) faults.push_back(std::move(f));
      else ctx_.log().err(name(), "{} at {:#x}", f.reason, adr);
    }
    if (st & ~MC_INT_INVALID_SMMU_PAGE) ctx_.log().err(name(), "unexpected MC_INTSTATUS {:#x}", st);
    regs_.writel(MC_INTSTATUS, st);
  }
  for (const auto& f : faults) ctx_.iommu().report_fault(inst_, f);
}

}  // namespace modiommu::tegra_smmu
