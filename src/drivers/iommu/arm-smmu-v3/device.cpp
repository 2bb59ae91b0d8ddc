// One SMMU: probe (IDR discovery, tables, queues, reset/enable), remove
// (leave it aborting: BEHAVIOUR.md 3) and the IommuOps the IOMMU core calls
// for its masters. Lock order: see arm-smmu-v3.h.
#include <algorithm>
#include <set>
#include <thread>

#include "base/fault_inject.h"
#include "core/device.h"
#include "core/owner.h"
#include "core/pci.h"
#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "kernel/driver_context.h"

namespace modiommu::arm_smmu_v3 {

SmmuDevice::SmmuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner) : ctx_(ctx), dev_(dev), owner_(owner) {}

SmmuDevice::~SmmuDevice() = default;

Log& SmmuDevice::log() { return ctx_.log(); }
const std::string& SmmuDevice::name() const { return dev_.name(); }

// --- discovery (6.3.1, 6.3.2, 6.3.6) ----------------------------------------------

Status SmmuDevice::read_features() {
  const uint32_t idr0 = regs_.readl(IDR0), idr1 = regs_.readl(IDR1), idr5 = regs_.readl(IDR5);
  feat_.s2 = idr0::S2P::get(idr0);
  feat_.s1 = idr0::S1P::get(idr0);
  feat_.coherent = idr0::COHACC::get(idr0);
  feat_.hyp = idr0::HYP::get(idr0);
  feat_.asid16 = idr0::ASID16::get(idr0);
  feat_.two_level = idr0::ST_LEVEL::get(idr0) == 1;
  if (!feat_.s1)
    return make_error(Errc::notsup, fmt::format("{}: IDR0 {:#x} has no stage 1 (S1P): unsupported by this driver",
                                                name(), idr0));
  if (!(idr0::TTF::get(idr0) & IDR0_TTF_AARCH64))
    return make_error(Errc::notsup, fmt::format("{}: IDR0.TTF {} lacks AArch64 tables", name(), idr0::TTF::get(idr0)));
  if (idr0::TTENDIAN::get(idr0) == IDR0_TTENDIAN_BE)
    return make_error(Errc::notsup, name() + ": IDR0.TTENDIAN says big-endian tables only");
  if (idr1::TABLES_PRESET::get(idr1) || idr1::QUEUES_PRESET::get(idr1))
    return make_error(Errc::notsup, fmt::format("{}: IDR1 {:#x}: fixed (preset) tables or queues unsupported", name(), idr1));
  feat_.sid_bits = idr1::SIDSIZE::get(idr1);
  feat_.evtq_log2 = idr1::EVENTQS::get(idr1);
  feat_.cmdq_log2 = idr1::CMDQS::get(idr1);
  if (feat_.sid_bits > 32) return make_error(Errc::inval, fmt::format("{}: IDR1.SIDSIZE {} > 32", name(), feat_.sid_bits));
  if (feat_.cmdq_log2 > 19 || feat_.evtq_log2 > 19)
    return make_error(Errc::inval, fmt::format("{}: IDR1 queue sizes CMDQS {} EVENTQS {} exceed 19", name(),
                                               feat_.cmdq_log2, feat_.evtq_log2));
  if (feat_.cmdq_log2 < 1) return make_error(Errc::notsup, name() + ": command queue of one entry (IDR1.CMDQS 0)");
  static constexpr unsigned kOas[] = {32, 36, 40, 42, 44, 48, 52, 52};
  // io-pgtable outputs at most 48 bits; a larger OAS is used as 48.
  feat_.oas = std::min(kOas[idr5::OAS::get(idr5)], 48u);
  feat_.gran4k = idr5::GRAN4K::get(idr5);
  feat_.gran16k = idr5::GRAN16K::get(idr5);
  feat_.gran64k = idr5::GRAN64K::get(idr5);
  if (!feat_.gran4k) return make_error(Errc::notsup, fmt::format("{}: IDR5 {:#x} has no 4K granule", name(), idr5));
  ctx_.log().info(name(), "features: stage1{}{}, {} stream ID bits, {} stream table, cmdq 2^{} evtq 2^{}, OAS {}",
                feat_.s2 ? " stage2" : "", feat_.coherent ? " coherent" : "", feat_.sid_bits,
                feat_.two_level ? "2-level" : "linear", feat_.cmdq_log2, feat_.evtq_log2, feat_.oas);
  return {};
}

// --- reset --------------------------------------------------------------------------

// Write a control register and wait for its ACK register to match (6.3.9).
Status SmmuDevice::write_reg_ack(uint64_t reg, uint64_t ack_reg, uint32_t val, const char* what) {
  regs_.writel(reg, val);
  for (unsigned i = 0; i < kPollIterations; ++i) {
    if (regs_.readl(ack_reg) == val) return {};
    std::this_thread::yield();
  }
  ctx_.log().err(name(), "{} write {:#x} never acknowledged", what, val);
  return make_error(Errc::timedout, fmt::format("{}: {} = {:#x} not acknowledged", name(), what, val));
}

// 6.3.14: wait for UPDATE to clear, write with UPDATE, wait again.
Status SmmuDevice::update_gbpa(uint32_t set, uint32_t clear) {
  auto idle = [&]() -> Status {
    for (unsigned i = 0; i < kPollIterations; ++i) {
      if (!(regs_.readl(GBPA) & GBPA_UPDATE)) return {};
      std::this_thread::yield();
    }
    ctx_.log().err(name(), "GBPA.UPDATE never clears");
    return make_error(Errc::timedout, name() + ": GBPA update not completed");
  };
  TRY(idle());
  const uint32_t v = (regs_.readl(GBPA) & ~clear & ~GBPA_UPDATE) | set;
  regs_.writel(GBPA, v | GBPA_UPDATE);
  return idle();
}

Status SmmuDevice::disable() { return write_reg_ack(CR0, CR0ACK, 0, "CR0"); }

// Linux arm_smmu_device_reset(): abort before anything, tables, CMDQ,
// invalidate everything, EVTQ, IRQs, then SMMUEN.
Status SmmuDevice::reset() {
  TRY(update_gbpa(GBPA_ABORT, 0));  // while SMMUEN is 0, incoming DMA aborts
  TRY(disable());
  regs_.writel(CR1, CR1_VALUE);
  regs_.writel(CR2, CR2_RECINVSID | CR2_PTM);
  regs_.writeq(STRTAB_BASE, strtab_base::RA::mask | (*strtab_pa_ & strtab_base::ADDR::mask));
  regs_.writel(STRTAB_BASE_CFG, strtab_cfg_value(two_level_, strtab_log2_));

  regs_.writeq(CMDQ_BASE, cmdq_.base_reg());
  regs_.writel(CMDQ_PROD, 0);
  regs_.writel(CMDQ_CONS, 0);
  uint32_t en = CR0_CMDQEN;
  TRY(write_reg_ack(CR0, CR0ACK, en, "CR0"));
  live_.store(true, std::memory_order_release);
  // 4.3.2, 4.4: nothing cached from before us may survive.
  TRY(cmdq_.issue_sync(cmd_cfgi_all()));
  std::vector<Cmd> tlbi;
  if (feat_.hyp) tlbi.push_back(cmd_tlbi_el2_all());
  tlbi.push_back(cmd_tlbi_nsnh_all());
  TRY(cmdq_.issue_sync(tlbi));

  regs_.writeq(EVTQ_BASE, q_base::RWA::mask | (*evtq_pa_ & q_base::ADDR::mask) | q_base::LOG2SIZE::prep(evtq_log2_));
  regs_.writel(EVTQ_PROD, 0);
  regs_.writel(EVTQ_CONS, 0);
  en |= CR0_EVTQEN;
  TRY(write_reg_ack(CR0, CR0ACK, en, "CR0"));

  TRY(write_reg_ack(IRQ_CTRL, IRQ_CTRLACK, IRQ_CTRL_GERROR | IRQ_CTRL_EVTQ, "IRQ_CTRL"));
  en |= CR0_SMMUEN;
  return write_reg_ack(CR0, CR0ACK, en, "CR0");
}

// --- probe / remove -------------------------------------------------------------------

Status SmmuDevice::probe() {
  if (fault_point("smmuv3.probe")) return make_error(Errc::nomem, name() + ": injected fault smmuv3.probe");
  regs_ = TRY(ctx_.ioremap(dev_, 0));
  if (regs_.size() < kRegionSize)
    return make_error(Errc::inval, fmt::format("{}: reg size {:#x} is below the 128 KiB SMMUv3 register space (6.2)",
                                               name(), regs_.size()));
  Status s = read_features();
  if (s.ok()) s = cmdq_.init(std::min(feat_.cmdq_log2, 8u));
  if (s.ok()) s = evtq_init();
  if (s.ok()) s = strtab_init();
  if (s.ok()) {
    auto irq = ctx_.request_irq(dev_, "eventq", [this] { handle_events(); });
    if (irq.ok()) evtq_irq_ = std::move(irq).value();
    else ctx_.log().warn(name(), "no eventq interrupt ({}): faults will not be reported", irq.error().message);
    auto girq = ctx_.request_irq(dev_, "gerror", [this] { handle_gerror(); });
    if (girq.ok()) gerror_irq_ = std::move(girq).value();
    else ctx_.log().warn(name(), "no gerror interrupt ({}): errors handled only while waiting on the queue",
                       girq.error().message);
  }
  if (s.ok()) s = reset();
  if (s.ok()) {
    inst_.name = dev_.name();
    inst_.dev = &dev_;
    inst_.fwnode = dev_.fwnode();
    inst_.ops = this;
    inst_.owner = owner_;
    inst_.driver = "arm-smmu-v3";
    s = ctx_.iommu().register_iommu(inst_);
    registered_ = s.ok();
  }
  if (!s.ok()) {
    remove();
    return s;
  }
  ctx_.log().info(name(), "SMMUv3 enabled: {} stream table of 2^{} STEs", two_level_ ? "2-level" : "linear", strtab_log2_);
  return {};
}

void SmmuDevice::remove() {
  {
    std::lock_guard g(ste_lock_);
    for (auto& m : live_masters())
      // Unbound PCI devices stay in their groups: unregister releases them.
      if (!m->dev || m->dev->state() == DeviceState::bound)
        ctx_.log().err(name(), "remove with master {} still attached: its device link should have released it first",
                     m->dev ? m->dev->name() : "?");
  }
  if (registered_) ctx_.iommu().unregister_iommu(inst_);  // releases any left (loudly)
  registered_ = false;
  evtq_irq_.free();
  gerror_irq_.free();
  if (regs_.valid()) {
    // BEHAVIOUR.md 3: from now on DMA aborts, it never bypasses.
    Status s = update_gbpa(GBPA_ABORT, 0);
    if (s.ok()) s = disable();
    if (!s.ok()) ctx_.log().err(name(), "could not quiesce the SMMU: {}", s.error().str());
  }
  live_.store(false, std::memory_order_release);
  cmdq_.stop();
  {
    std::lock_guard g(evtq_lock_);  // a late event handler sees !live and leaves
    std::lock_guard s(ste_lock_);
    free_tables();  // after SMMUEN = 0: the SMMU no longer reads them
  }
}

// --- IommuOps ------------------------------------------------------------------------

Status SmmuDevice::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (args.size() != 1)
    return make_error(Errc::inval, fmt::format("{}: iommus specifier for {} has {} cells, #iommu-cells must be 1",
                                               name(), dev.name(), args.size()));
  const uint32_t sid = args[0];
  if (strtab_log2_ < 32 && (uint64_t{sid} >> strtab_log2_))
    return make_error(Errc::inval, fmt::format("{}: stream ID {:#x} of {} is beyond the SMMU's {} stream ID bits",
                                               name(), sid, dev.name(), strtab_log2_));
  if (std::find(fwspec.ids.begin(), fwspec.ids.end(), sid) == fwspec.ids.end()) fwspec.ids.push_back(sid);
  return {};
}

std::vector<std::shared_ptr<SmmuMaster>> SmmuDevice::live_masters() const {
  std::vector<std::shared_ptr<SmmuMaster>> out;
  std::set<const SmmuMaster*> seen;
  for (const auto& [sid, users] : streams_)
    for (const auto& w : users)
      if (auto m = w.lock(); m && seen.insert(m.get()).second) out.push_back(std::move(m));
  return out;
}

Status SmmuDevice::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  if (fwspec.ids.empty()) return make_error(Errc::inval, dev.name() + ": no stream IDs");
  std::lock_guard g(ste_lock_);
  const PciDevice* pci = to_pci(&dev);
  for (uint32_t sid : fwspec.ids) {
    auto it = streams_.find(sid);
    if (it == streams_.end()) continue;
    std::erase_if(it->second, [](auto& w) { return w.expired(); });
    for (auto& wm : it->second) {
      auto m = wm.lock();
      // PCI functions behind one PCIe-to-PCI bridge share its alias stream ID;
      // they share an IOMMU group (hence a domain), so one STE serves them.
      const PciDevice* other = to_pci(m->dev);
      if (pci && other && pci_group_anchor(*pci) == pci_group_anchor(*other)) continue;
      return make_error(Errc::busy, fmt::format("{}: stream ID {:#x} of {} is already used by {}", name(), sid,
                                                dev.name(), m->dev->name()));
    }
  }
  // Level-2 tables on demand (3.4.3); their STEs start out aborting.
  std::vector<Cmd> cfgi;
  for (uint32_t sid : fwspec.ids) {
    TRY(ste_pa(sid, true));
    cfgi.push_back(cmd_cfgi_ste(sid));
  }
  TRY(cmdq_.issue_sync(cfgi));  // a new level-1 descriptor: drop cached config
  auto m = std::make_shared<SmmuMaster>();
  m->dev = &dev;
  m->sids = fwspec.ids;
  for (uint32_t sid : m->sids) streams_[sid].push_back(m);
  fwspec.priv = m;
  return {};
}

void SmmuDevice::release_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = std::static_pointer_cast<SmmuMaster>(fwspec.priv);
  if (!m) return;
  std::lock_guard g(ste_lock_);
  std::vector<uint32_t> gone;
  for (uint32_t sid : m->sids) {
    auto it = streams_.find(sid);
    if (it != streams_.end()) {
      std::erase_if(it->second, [&](auto& w) { auto p = w.lock(); return !p || p == m; });
      // A stream ID another master still uses (a shared PCI alias) stays.
      if (!it->second.empty()) continue;
      streams_.erase(it);
    }
    gone.push_back(sid);
  }
  if (live()) {
    Status s = write_ste(gone, ste_abort(), false);
    if (!s.ok()) ctx_.log().err(name(), "{}: release could not invalidate its STEs: {}", dev.name(), s.error().str());
  }
  if (m->domain) m->domain->attached--;
  m->domain = nullptr;
  fwspec.priv.reset();
}

Result<std::unique_ptr<iommu::IommuDomain>> SmmuDevice::domain_alloc(iommu::DomainType type) {
  auto d = std::make_unique<SmmuDomain>(type, shared_from_this());
  if (iommu::is_paging(type)) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

Status SmmuDevice::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<SmmuDomain*>(&domain);
  if (!d || d->smmu() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this SMMU", name(), dev.name()));
  auto m = std::static_pointer_cast<SmmuMaster>(fwspec.priv);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(ste_lock_);
  TRY(write_ste(m->sids, d->ste(), true));
  if (m->domain) m->domain->attached--;
  d->attached++;
  m->domain = d;
  return {};
}

void SmmuDevice::detach_all(SmmuDomain& d) {
  std::lock_guard g(ste_lock_);
  if (!d.attached) return;
  ctx_.log().err(name(), "domain (ASID {}) freed while {} master(s) still use it: aborting their traffic", d.asid(),
               d.attached);
  std::vector<uint32_t> sids;
  for (auto& m : live_masters()) {
    if (m->domain != &d) continue;
    m->domain = nullptr;
    if (!live()) continue;  // tables already freed with the SMMU disabled
    sids.insert(sids.end(), m->sids.begin(), m->sids.end());
  }
  d.attached = 0;
  if (live()) (void)write_ste(sids, ste_abort(), false);
}

}  // namespace modiommu::arm_smmu_v3
