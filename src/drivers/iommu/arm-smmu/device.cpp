// One SMMU: probe (ID registers, stream-map and bank reset, enable), remove
// (leave it aborting: BEHAVIOUR.md 3), interrupts. Locking: arm-smmu.h.
#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/arm-smmu/arm-smmu.h"
#include "drivers/iommu/arm-smmu/regs.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::arm_smmu {

namespace {

// IDR2.IAS/OAS encodings (10.6.5).
unsigned addr_bits(uint32_t code) {
  static constexpr unsigned kBits[] = {32, 36, 40, 42, 44, 48};
  return code < 6 ? kBits[code] : 48;
}
}  // namespace

SmmuDevice::SmmuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner) : ctx_(ctx), dev_(dev), owner_(owner) {}
SmmuDevice::~SmmuDevice() = default;

const std::string& SmmuDevice::name() const { return dev_.name(); }

Status SmmuDevice::read_features() {
  const uint32_t id0 = regs_.readl(IDR0), id1 = regs_.readl(IDR1), id2 = regs_.readl(IDR2);
  const uint32_t id7 = regs_.readl(IDR7);
  feat_.s1 = idr0::S1TS::is_set(id0);
  feat_.s2 = idr0::S2TS::is_set(id0);
  if (!feat_.s1)
    return make_error(Errc::notsup, fmt::format("{}: IDR0 {:#x}: no stage-1 translation (S1TS); stage-2-only SMMUs "
                                                "are not supported by this driver", name(), id0));
  if (!idr0::SMS::is_set(id0))
    return make_error(Errc::notsup, fmt::format("{}: IDR0 {:#x}: stream indexing (SMS=0) is not supported", name(), id0));
  feat_.exids = idr0::EXIDS::is_set(id0);
  feat_.num_smrg = idr0::NUMSMRG::get(id0);
  feat_.num_context_irqs = idr0::NUMIRPT::get(id0);
  if (feat_.num_smrg == 0) return make_error(Errc::notsup, name() + ": IDR0.NUMSMRG is 0: no stream match registers");
  feat_.pgsize = idr1::PAGESIZE::is_set(id1) ? 0x10000 : 0x1000;
  feat_.numpage = 1u << (idr1::NUMPAGENDXB::get(id1) + 1);
  feat_.num_cb = idr1::NUMCB::get(id1);
  if (feat_.num_cb == 0) return make_error(Errc::notsup, name() + ": IDR1.NUMCB is 0: no context banks");
  if (feat_.num_cb > feat_.numpage)
    return make_error(Errc::inval, fmt::format("{}: IDR1 says {} context banks in {} register pages", name(),
                                               feat_.num_cb, feat_.numpage));
  // IHI 0062 8.1: global half + context-bank half.
  const uint64_t need = 2ull * feat_.numpage * feat_.pgsize;
  if (regs_.size() < need)
    return make_error(Errc::inval, fmt::format("{}: IDR1 describes {:#x} bytes of registers but reg maps {:#x}",
                                               name(), need, regs_.size()));
  feat_.ias = addr_bits(idr2::IAS::get(id2));
  feat_.oas = std::min(addr_bits(idr2::OAS::get(id2)), 48u);
  feat_.v2 = IDR7_MAJOR::get(id7) >= 2;
  if (feat_.v2 && !idr2::PTFS_4K::is_set(id2))
    return make_error(Errc::notsup, fmt::format("{}: IDR2 {:#x}: no AArch64 4K granule", name(), id2));
  // Linux: every SMMUv2 context bank needs its own interrupt line.
  if (feat_.v2 && feat_.num_context_irqs < feat_.num_cb)
    return make_error(Errc::inval, fmt::format("{}: found only {} context interrupt(s) but {} required", name(),
                                               feat_.num_context_irqs, feat_.num_cb));
  return {};
}

// Which SMR ID and MASK bits exist: write ones, read back (IHI 0062 10.6.23
// leaves unimplemented bits RAZ/WI). SMR 0 is still invalid and unused here.
void SmmuDevice::probe_smr_masks() {
  const uint32_t width = feat_.exids ? 0xffff : 0x7fff;
  regs_.writel(SMR_BASE, smr::MASK::prep(width) | smr::ID::prep(width));
  const uint32_t back = regs_.readl(SMR_BASE);
  regs_.writel(SMR_BASE, 0);
  feat_.streamid_mask = back & width;
  feat_.smr_mask_mask = smr::MASK::get(back) & width;
}

Status SmmuDevice::tlb_sync_global() {
  regs_.writel(TLBGSYNC, 0);
  for (unsigned i = 0; i < kPollIterations; ++i) {
    if (!(regs_.readl(TLBGSTATUS) & TLBGSTATUS_GSACTIVE)) return {};
    std::this_thread::yield();
  }
  return make_error(Errc::timedout, name() + ": global TLB sync (TLBGSYNC) never completes");
}

Status SmmuDevice::tlb_sync_cb(int n) {
  regs_.writel(cb(n) + CB_TLBSYNC, 0);
  for (unsigned i = 0; i < kPollIterations; ++i) {
    if (!(regs_.readl(cb(n) + CB_TLBSTATUS) & TLBSTATUS_SACTIVE)) return {};
    std::this_thread::yield();
  }
  return make_error(Errc::timedout, fmt::format("{}: context bank {} TLB sync never completes", name(), n));
}

// Linux arm_smmu_device_reset(), except that unmatched streams fault: no
// stream reaches memory untranslated unless a domain says so.
Status SmmuDevice::reset() {
  std::lock_guard g(lock_);
  regs_.writel(sGFSR, regs_.readl(sGFSR));  // W1C whatever is recorded
  for (unsigned i = 0; i < smes_.size(); ++i) write_sme(i);
  for (unsigned n = 0; n < feat_.num_cb; ++n) {
    regs_.writel(cb(int(n)) + CB_SCTLR, 0);
    regs_.writel(cb(int(n)) + CB_FSR, FSR_FAULT);
  }
  regs_.writel(TLBIALLH, 0);
  regs_.writel(TLBIALLNSNH, 0);
  TRY(tlb_sync_global());
  uint32_t scr0 = sCR0_GFRE | sCR0_GFIE | sCR0_GCFGFRE | sCR0_GCFGFIE | sCR0_USFCFG;  // CLIENTPD = 0
  if (feat_.exids) scr0 |= sCR0_EXIDENABLE;
  regs_.writel(sCR0, scr0);
  return {};
}

// BEHAVIOUR.md 3: unmatched streams fault (USFCFG), every entry invalid,
// banks off. Unlike Linux's shutdown (CLIENTPD: bypass), nothing passes.
void SmmuDevice::quiesce() {
  std::lock_guard g(lock_);
  uint32_t scr0 = sCR0_USFCFG;
  regs_.writel(sCR0, scr0);
  for (unsigned i = 0; i < smes_.size(); ++i) {
    regs_.writel(S2CR_BASE + 4 * i, s2cr::TYPE::prep(S2CR_TYPE_FAULT));
    regs_.writel(SMR_BASE + 4 * i, 0);
  }
  for (unsigned n = 0; n < feat_.num_cb; ++n) regs_.writel(cb(int(n)) + CB_SCTLR, 0);
  regs_.writel(TLBIALLNSNH, 0);
  (void)tlb_sync_global();
}

void SmmuDevice::check_mixed_bindings() {
  // Linux lets the first SMMU probed pick the binding for the whole system
  // and refuses the other style ("not probing due to mismatched DT
  // properties"): with modules, that depends on load order. Here each SMMU
  // follows its own node, so both styles work; the tree is still flagged.
  const of::Node* self = dev_.fwnode();
  for (const of::Node* n : self->tree().nodes()) {
    if (n == self || !n->available() || !n->has("compatible")) continue;
    const bool smmu = n->is_compatible("arm,mmu-500") || n->is_compatible("arm,smmu-v2") ||
                      n->is_compatible("arm,smmu-v1") || n->is_compatible("arm,mmu-400") ||
                      n->is_compatible("arm,mmu-401") || n->is_compatible("qcom,smmu-v2");
    if (!smmu) continue;
    const bool other_legacy = n->has("mmu-masters");
    if (other_legacy != legacy_ && (legacy_ || n->has("#iommu-cells"))) {
      ctx_.log().warn(name(), "this tree mixes arm-smmu bindings: {} uses {}, {} uses {}. Linux would refuse whichever "
                    "probes second; here each SMMU follows its own node", self->path(),
                    legacy_ ? "legacy mmu-masters" : "generic iommus", n->path(),
                    other_legacy ? "legacy mmu-masters" : "generic iommus");
      return;
    }
  }
}

Status SmmuDevice::probe() {
  const of::Node* node = dev_.fwnode();
  if (!node) return make_error(Errc::nodev, name() + ": no firmware node");
  legacy_ = node->has("mmu-masters");
  if (legacy_) {
    // A bad list is this SMMU's error: its masters cannot be found.
    auto masters = of::mmu_masters(*node);
    if (!masters.ok()) return make_error(Errc::inval, "legacy binding: " + masters.error().message);
  } else if (auto cells = node->u32("#iommu-cells"); cells && (*cells < 1 || *cells > 2)) {
    return make_error(Errc::inval,
                      fmt::format("{}: #iommu-cells is {}: the generic binding wants 1 or 2", node->path(), *cells));
  } else if (!cells) {
    ctx_.log().info(name(), "no #iommu-cells and no mmu-masters: no master can name this SMMU");
  }
  if (!node->has("#global-interrupts"))
    return make_error(Errc::inval, node->path() + ": missing #global-interrupts property");
  regs_ = TRY(ctx_.ioremap(dev_, 0));
  TRY(read_features());
  probe_smr_masks();
  smes_.assign(feat_.num_smrg, Sme{});
  for (auto& s : smes_) s.type = S2CR_TYPE_FAULT;
  cb_used_.assign(feat_.num_cb, false);
  const unsigned global = *node->u32("#global-interrupts");
  Status s;
  if (global > 0) {
    auto irq = ctx_.request_irq(dev_, "0", [this] { global_fault_irq(); });
    if (irq.ok()) global_irq_ = std::move(irq).value();
    else ctx_.log().warn(name(), "no global fault interrupt ({}): global faults only in the registers", irq.error().message);
  }
  // One handler per context line; each scans the banks (v1 lines may be shared).
  for (unsigned i = 0; i < feat_.num_context_irqs; ++i) {
    auto irq = ctx_.request_irq(dev_, std::to_string(global + i), [this] { context_fault_irq(); });
    if (!irq.ok()) {
      ctx_.log().warn(name(), "context interrupt {}: {}", i, irq.error().message);
      break;
    }
    context_irqs_.push_back(std::move(irq).value());
  }
  s = reset();
  if (s.ok()) {
    live_.store(true, std::memory_order_release);
    inst_.name = dev_.name();
    inst_.dev = &dev_;
    inst_.fwnode = node;
    inst_.ops = this;
    inst_.owner = owner_;
    inst_.driver = "arm-smmu";
    s = ctx_.iommu().register_iommu(inst_);
    registered_ = s.ok();
  }
  if (!s.ok()) {
    remove();
    return s;
  }
  check_mixed_bindings();
  ctx_.log().info(name(), "SMMUv{} enabled: {} stream match entries, {} context banks, {} context interrupts, "
                "stream IDs {:#x} mask {:#x}, {} binding", feat_.v2 ? 2 : 1, feat_.num_smrg, feat_.num_cb,
                feat_.num_context_irqs, feat_.streamid_mask, feat_.smr_mask_mask,
                legacy_ ? "legacy mmu-masters" : "generic");
  return {};
}

void SmmuDevice::remove() {
  {
    std::lock_guard g(lock_);
    for (auto& wm : masters_)
      // Unbound PCI devices stay in their groups: unregister releases them.
      if (auto m = wm.lock(); m && (!m->dev || m->dev->state() == DeviceState::bound))
        ctx_.log().err(name(), "remove with master {} still attached: its device link should have released it first",
                     m->dev ? m->dev->name() : "?");
  }
  if (registered_) ctx_.iommu().unregister_iommu(inst_);  // releases any left (loudly)
  registered_ = false;
  global_irq_.free();
  context_irqs_.clear();  // each waits for a running handler
  if (regs_.valid()) quiesce();
  live_.store(false, std::memory_order_release);
}

// --- interrupts ---------------------------------------------------------------------

void SmmuDevice::global_fault_irq() {
  uint32_t gfsr = 0, syn1 = 0;
  uint64_t far = 0;
  {
    std::lock_guard g(lock_);
    if (!live()) return;
    gfsr = regs_.readl(sGFSR);
    if (!gfsr) return;
    far = regs_.readl(sGFAR) | uint64_t{regs_.readl(sGFAR + 4)} << 32;
    syn1 = regs_.readl(sGFSYNR1);
    regs_.writel(sGFSR, gfsr);
  }
  std::string what = gfsr & sGFSR_USF    ? "unidentified stream (USF)"
                     : gfsr & sGFSR_SMCF ? "stream match conflict (SMCF)"
                     : gfsr & sGFSR_UCBF ? "unimplemented context bank (UCBF)"
                     : gfsr & sGFSR_ICF  ? "invalid context (ICF)"
                                         : "global fault";
  ctx_.log().warn(name(), "{}: sGFSR {:#x}, stream ID {:#x}, address {:#x}", what, gfsr, STREAMID::get(syn1), far);
}

void SmmuDevice::context_fault_irq() {
  std::vector<iommu::FaultInfo> faults;
  {
    std::lock_guard g(lock_);
    if (!live()) return;
    for (unsigned n = 0; n < cb_used_.size(); ++n) {
      if (!cb_used_[n]) continue;
      const uint32_t fsr = regs_.readl(cb(int(n)) + CB_FSR);
      if (!(fsr & FSR_FAULT)) continue;
      iommu::FaultInfo f;
      f.iova = regs_.readq(cb(int(n)) + CB_FAR);
      f.write = regs_.readl(cb(int(n)) + CB_FSYNR0) & FSYNR0_WNR;
      const uint32_t sid = STREAMID::get(regs_.readl(gr1() + CBFRSYNRA_BASE + 4 * n));
      f.reason = fsr & FSR_PF    ? "FSR.PF (permission)"
                 : fsr & FSR_AFF ? "FSR.AFF (access flag)"
                 : fsr & FSR_ASF ? "FSR.ASF (address size)"
                 : fsr & FSR_EF  ? "FSR.EF (external)"
                                 : "FSR.TF (translation)";
      // Report under the ID the master was given (a masked SMR matches more).
      f.stream_id = sid;
      for (auto& wm : masters_) {
        auto m = wm.lock();
        if (!m) continue;
        for (const auto& id : m->ids)
          if (((sid ^ id.sid) & ~uint32_t{id.mask} & 0xffff) == 0) f.stream_id = id.sid;
      }
      regs_.writel(cb(int(n)) + CB_FSR, fsr);  // W1C (10.9.12)
      faults.push_back(std::move(f));
    }
  }
  for (const auto& f : faults) ctx_.iommu().report_fault(inst_, f);
}

}  // namespace modiommu::arm_smmu
