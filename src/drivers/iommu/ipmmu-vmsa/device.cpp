// One IPMMU instance: probe (root or cache, context reset, block context,
// registration), remove (every micro-TLB it gave out left blocked), the
// fault interrupt, context allocation and TLB flushes. Locking: ipmmu-vmsa.h.
#include <thread>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/ipmmu-vmsa/ipmmu-vmsa.h"
#include "drivers/iommu/ipmmu-vmsa/regs.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::ipmmu {

namespace {
constexpr uint64_t kNsAliasOffset = 0x800;  // Linux IM_NS_ALIAS_OFFSET
}

IpmmuDevice::IpmmuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner, const Features& f, bool attach_all)
    : ctx_(ctx), dev_(dev), owner_(owner), feat_(f), attach_all_(attach_all) {}
IpmmuDevice::~IpmmuDevice() = default;

const std::string& IpmmuDevice::name() const { return dev_.name(); }

// Linux ipmmu_ctx_reg(): contexts 8..15 sit 0x800 - 8 * 0x40 further up.
uint32_t IpmmuDevice::ctx_reg(unsigned ctx, uint32_t reg) const {
  uint32_t base = alias_ + feat_.ctx_offset_base;
  if (ctx > 7) base += 0x800 - 8 * 0x40;
  return base + ctx * feat_.ctx_offset_stride + reg;
}

// A cache IPMMU finds its root through renesas,ipmmu-main (Linux looks for
// any bound root; the binding names it) and links to it, so the root is
// never unbound before its caches.
Status IpmmuDevice::find_root() {
  const of::Node* node = dev_.fwnode();
  if (!feat_.has_cache_leaf_nodes || !node->has("renesas,ipmmu-main")) {
    root_ = this;
    return {};
  }
  const of::Node* rn = nullptr;
  if (auto c = node->prop("renesas,ipmmu-main")->cell(0)) rn = node->tree().by_phandle(*c);
  if (!rn) return make_error(Errc::inval, node->path() + ": renesas,ipmmu-main names no node");
  if (!rn->available()) return make_error(Errc::nodev, node->path() + ": its root IPMMU " + rn->path() + " is disabled");
  Device* rdev = ctx_.core().find_device_by_fwnode(rn);
  if (!rdev) return dev_.defer(WaitKey::fwnode(rn), "waiting for root IPMMU " + rn->path() + " to be added");
  auto link = ctx_.core().link_add(dev_, *rdev, LinkKind::managed, "renesas,ipmmu-main");
  if (!link.ok()) return std::move(link).error();
  auto* root = rdev->state() == DeviceState::bound ? rdev->drvdata<IpmmuDevice>() : nullptr;
  if (!root || !root->is_root())
    return dev_.defer(WaitKey::device(rdev), "waiting for root IPMMU " + rdev->name() + " (renesas,ipmmu-main)");
  root_ref_ = root->shared_from_this();
  root_ = root;
  return {};
}

Status IpmmuDevice::probe() {
  const of::Node* node = dev_.fwnode();
  if (!node) return make_error(Errc::nodev, name() + ": no firmware node");
  if (auto cells = node->u32("#iommu-cells"); cells && *cells != 1)
    return make_error(Errc::inval, fmt::format("{}: #iommu-cells is {}: the binding wants 1 (the micro-TLB)",
                                               node->path(), *cells));
  TRY(find_root());
  regs_ = TRY(ctx_.ioremap(dev_, 0));
  // Linux: "the non-secure register bank ... at an offset" (Gen2).
  if (feat_.use_ns_alias_offset) {
    if (regs_.size() < 2 * kNsAliasOffset)
      return make_error(Errc::inval, fmt::format("{}: reg maps {:#x} bytes, the non-secure bank needs {:#x}", name(),
                                                 regs_.size(), 2 * kNsAliasOffset));
    alias_ = kNsAliasOffset;
  }
  utlb_used_.assign(feat_.num_utlbs, false);
  if (is_root()) {
    // Root devices have mandatory interrupts (Linux ipmmu_probe).
    auto irq = ctx_.request_irq(dev_, "0", [this] { fault_irq(); });
    if (!irq.ok()) return make_error(Errc::inval, name() + ": root IPMMU without its interrupt: " + irq.error().message);
    irq_ = std::move(irq).value();
    TRY(root_reset());
  }
  live_.store(true, std::memory_order_release);
  inst_.name = dev_.name();
  inst_.dev = &dev_;
  inst_.fwnode = node;
  inst_.ops = this;
  inst_.owner = owner_;
  inst_.driver = "ipmmu-vmsa";
  Status s = ctx_.iommu().register_iommu(inst_);
  registered_ = s.ok();
  if (!s.ok()) {
    remove();
    return s;
  }
  if (is_root())
    ctx_.log().info(name(), "IPMMU {} root: {} contexts (context {} blocks released masters), {} micro-TLBs",
                    feat_.name, feat_.number_of_contexts, feat_.block_context, feat_.num_utlbs);
  else
    ctx_.log().info(name(), "IPMMU {} cache of root {}: {} micro-TLBs", feat_.name, root_->name(), feat_.num_utlbs);
  return {};
}

// Linux ipmmu_device_reset() plus the block context: every context off but
// the one that blocks, which is (re)programmed first so that micro-TLBs a
// previous load left pointing at it keep faulting.
Status IpmmuDevice::root_reset() {
  std::lock_guard g(ctx_lock_);
  ctx_used_.assign(feat_.number_of_contexts, false);
  ctx_leaf_.assign(feat_.number_of_contexts, {});
  // Linux "IPMMU context 0 is reserved" (Gen3/Gen4): it is the block context.
  if (feat_.reserved_context) ctx_used_[0] = true;
  TRY(setup_block_context());
  for (unsigned i = 0; i < feat_.number_of_contexts; ++i)
    if (i != feat_.block_context) regs_.writel(ctx_reg(i, IMCTR), 0);
  return {};
}

Status IpmmuDevice::setup_block_context() {
  auto page = ctx_.pages().alloc_pages(0);
  if (!page.ok()) return std::move(page).error();
  TRY(ctx_.ram().fill(*page, 0, 4096));  // every descriptor invalid
  block_table_ = *page;
  const unsigned b = feat_.block_context;
  regs_.writel(ctx_reg(b, IMTTLBR0), static_cast<uint32_t>(block_table_));
  regs_.writel(ctx_reg(b, IMTTUBR0), static_cast<uint32_t>(block_table_ >> 32));
  regs_.writel(ctx_reg(b, IMTTBCR),
               IMTTBCR_EAE | (feat_.twobit_imttbcr_sl0 ? IMTTBCR_SL0_TWOBIT_LVL_1 : IMTTBCR_SL0_LVL_1));
  regs_.writel(ctx_reg(b, IMMAIR0), 0);
  regs_.writel(ctx_reg(b, IMSTR), 0);
  // No INTEN: a blocked master's faults are expected and not reported.
  regs_.writel(ctx_reg(b, IMCTR), IMCTR_FLUSH | IMCTR_MMUEN);
  return tlb_sync(b);
}

// Every micro-TLB this driver gave a master points at the block context
// (release_device did so already; this covers any left); the root switches
// every other context off. Nothing passes untranslated afterwards.
void IpmmuDevice::quiesce() {
  {
    std::lock_guard g(lock_);
    for (unsigned u = 0; u < utlb_used_.size(); ++u)
      if (utlb_used_[u]) utlb_point(u, static_cast<int>(feat_.block_context));
    for (unsigned i = 0; i < feat_.number_of_contexts; ++i)
      if (i != feat_.block_context && !is_root()) regs_.writel(ctx_reg(i, IMCTR), IMCTR_FLUSH);
  }
  if (is_root()) {
    std::lock_guard g(ctx_lock_);
    for (unsigned i = 0; i < feat_.number_of_contexts; ++i)
      if (i != feat_.block_context) regs_.writel(ctx_reg(i, IMCTR), IMCTR_FLUSH);
  }
}

void IpmmuDevice::remove() {
  {
    std::lock_guard g(lock_);
    for (auto& wm : masters_)
      if (auto m = wm.lock(); m && m->dev && m->dev->state() == DeviceState::bound)
        ctx_.log().err(name(), "remove with master {} still attached: its device link should have released it first",
                       m->dev->name());
  }
  if (registered_) ctx_.iommu().unregister_iommu(inst_);
  registered_ = false;
  irq_.free();
  if (regs_.valid()) quiesce();
  live_.store(false, std::memory_order_release);
  root_ref_.reset();
}

// --- contexts (in the root) ----------------------------------------------------------

void IpmmuDevice::imctr_write_all(unsigned ctx, uint32_t v) {
  // Linux ipmmu_ctx_write_all(): the cache first, then the root.
  if (!is_root()) regs_.writel(ctx_reg(ctx, IMCTR), v);
  root_->regs_.writel(root_->ctx_reg(ctx, IMCTR), v);
}

Status IpmmuDevice::tlb_sync(unsigned ctx) {
  for (unsigned i = 0; i < kPollIterations; ++i) {
    if (!(regs_.readl(ctx_reg(ctx, IMCTR)) & IMCTR_FLUSH)) return {};
    std::this_thread::yield();
  }
  return make_error(Errc::timedout, fmt::format("{}: TLB sync timed out on context {}: MMU may be deadlocked", name(), ctx));
}

// Linux ipmmu_domain_allocate_context() + ipmmu_domain_setup_context().
Result<int> IpmmuDevice::context_alloc(IpmmuDomain& /*d*/, const iommu::IoPgtable& pgtbl) {
  IpmmuDevice& r = *root_;
  std::lock_guard lg(lock_);
  std::lock_guard g(r.ctx_lock_);
  if (!live() || !r.live()) return make_error(Errc::nodev, name() + " is going away");
  int n = -1;
  for (unsigned i = 0; i < r.ctx_used_.size(); ++i)
    if (!r.ctx_used_[i] && i != feat_.block_context) {
      n = static_cast<int>(i);
      break;
    }
  if (n < 0)
    return make_error(Errc::busy, fmt::format("{}: all {} contexts of root {} are in use (one per IOMMU group)", name(),
                                              r.ctx_used_.size(), r.name()));
  r.ctx_used_[unsigned(n)] = true;
  r.ctx_leaf_[unsigned(n)] = weak_from_this();
  const unsigned c = unsigned(n);
  const uint64_t ttbr = pgtbl.ttbr();
  r.regs_.writel(r.ctx_reg(c, IMTTLBR0), static_cast<uint32_t>(ttbr));
  r.regs_.writel(r.ctx_reg(c, IMTTUBR0), static_cast<uint32_t>(ttbr >> 32));
  // Long descriptors, the whole 32-bit space to TTBR0, start level 1.
  uint32_t ttbcr = IMTTBCR_EAE | (feat_.twobit_imttbcr_sl0 ? IMTTBCR_SL0_TWOBIT_LVL_1 : IMTTBCR_SL0_LVL_1);
  if (feat_.cache_snoop) ttbcr |= IMTTBCR_SH0_INNER_SHAREABLE | IMTTBCR_ORGN0_WB_WA | IMTTBCR_IRGN0_WB_WA;
  r.regs_.writel(r.ctx_reg(c, IMTTBCR), ttbcr);
  r.regs_.writel(r.ctx_reg(c, IMMAIR0), static_cast<uint32_t>(pgtbl.mair()));
  if (feat_.setup_imbuscr)
    r.regs_.writel(r.ctx_reg(c, IMBUSCR),
                   r.regs_.readl(r.ctx_reg(c, IMBUSCR)) & ~(IMBUSCR_DVM | IMBUSCR_BUSSEL_MASK));
  r.regs_.writel(r.ctx_reg(c, IMSTR), 0);
  imctr_write_all(c, IMCTR_INTEN | IMCTR_FLUSH | IMCTR_MMUEN);
  if (Status s = r.tlb_sync(c); !s.ok()) {
    r.ctx_used_[c] = false;
    return std::move(s).error();
  }
  return n;
}

// Linux ipmmu_domain_destroy_context(): MMUEN off, flushed.
void IpmmuDevice::context_free(int n) {
  IpmmuDevice& r = *root_;
  std::lock_guard lg(lock_);
  std::lock_guard g(r.ctx_lock_);
  if (n < 0 || unsigned(n) >= r.ctx_used_.size()) return;
  r.ctx_used_[unsigned(n)] = false;
  r.ctx_leaf_[unsigned(n)].reset();
  if (!r.live()) return;  // quiesced already
  if (live()) regs_.writel(ctx_reg(unsigned(n), IMCTR), IMCTR_FLUSH);
  r.regs_.writel(r.ctx_reg(unsigned(n), IMCTR), IMCTR_FLUSH);
  Status s = r.tlb_sync(unsigned(n));
  if (!s.ok()) ctx_.log().err(name(), "freeing context {}: {}", n, s.error().str());
}

// Linux ipmmu_tlb_invalidate(): IMCTR.FLUSH in the cache and the root,
// then wait for the root's to clear.
void IpmmuDevice::tlb_flush(int n) {
  if (n < 0) return;
  IpmmuDevice& r = *root_;
  std::lock_guard lg(lock_);
  std::lock_guard g(r.ctx_lock_);
  if (!live() || !r.live()) return;
  const unsigned c = unsigned(n);
  imctr_write_all(c, r.regs_.readl(r.ctx_reg(c, IMCTR)) | IMCTR_FLUSH);
  Status s = r.tlb_sync(c);
  if (!s.ok()) ctx_.log().err(name(), "{}", s.error().str());
}

// --- faults ------------------------------------------------------------------------

// Linux ipmmu_irq(): every active context's IMSTR. The status names the
// context, not the micro-TLB; a context belongs to one leaf's group.
void IpmmuDevice::fault_irq() {
  struct Pending {
    std::weak_ptr<IpmmuDevice> leaf;
    int ctx;
    iommu::FaultInfo f;
  };
  std::vector<Pending> pending;
  {
    std::lock_guard g(ctx_lock_);
    if (!live()) return;
    for (unsigned i = 0; i < ctx_used_.size(); ++i) {
      if (!ctx_used_[i] || i == feat_.block_context) continue;
      const uint32_t st = regs_.readl(ctx_reg(i, IMSTR));
      if (!(st & IMSTR_ERR)) continue;
      iommu::FaultInfo f;
      f.iova = regs_.readl(ctx_reg(i, IMELAR)) | uint64_t{regs_.readl(ctx_reg(i, IMEUAR))} << 32;
      regs_.writel(ctx_reg(i, IMSTR), 0);  // cleared by writing 0, after IMELAR was read
      f.reason = st & IMSTR_MHIT    ? "IMSTR.MHIT (multiple TLB hits)"
                 : st & IMSTR_ABORT ? "IMSTR.ABORT (page table walk abort)"
                 : st & IMSTR_PF    ? "IMSTR.PF (permission)"
                                    : "IMSTR.TF (translation)";
      pending.push_back({ctx_leaf_[i], static_cast<int>(i), std::move(f)});
    }
  }
  for (auto& p : pending) {
    if (auto leaf = p.leaf.lock()) leaf->report_context_fault(p.ctx, std::move(p.f));
    else ctx_.log().warn(name(), "{} at iova {:#x} on context {} with no owner", p.f.reason, p.f.iova, p.ctx);
  }
}

// IMSTR names the context, not the micro-TLB: every master attached to the
// context (they share the group) is told, each under its own micro-TLB.
void IpmmuDevice::report_context_fault(int ctx, iommu::FaultInfo f) {
  std::vector<uint32_t> utlbs;
  {
    std::lock_guard g(lock_);
    for (auto& wm : masters_) {
      auto m = wm.lock();
      if (m && m->domain && m->domain->context() == ctx && !m->utlbs.empty()) utlbs.push_back(m->utlbs.front());
    }
  }
  if (utlbs.empty()) {
    ctx_.log().warn(name(), "{} at iova {:#x} on context {}: no master attached", f.reason, f.iova, ctx);
    return;
  }
  for (uint32_t u : utlbs) {
    f.stream_id = u;
    ctx_.iommu().report_fault(inst_, f);
  }
}

}  // namespace modiommu::ipmmu
