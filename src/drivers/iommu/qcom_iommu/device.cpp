// One qcom_iommu instance: probe (checks, the empty table, its context bank
// children), registration once every bank is bound, remove (every bank left
// blocking). Locking: qcom_iommu.h.
#include <algorithm>

#include <fmt/format.h>

#include "core/device.h"
#include "core/of_platform.h"
#include "drivers/iommu/qcom_iommu/qcom_iommu.h"
#include "drivers/iommu/qcom_iommu/regs.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::qcom_iommu {

const std::vector<std::string>& iommu_compatibles() {
  // Linux qcom_iommu_of_match has only the generic string; the SoC strings
  // of qcom,iommu.yaml come first in every node and carry it as fallback.
  static const std::vector<std::string> v = {"qcom,msm-iommu-v1"};
  return v;
}

const std::vector<std::string>& context_compatibles() {
  static const std::vector<std::string> v = {"qcom,msm-iommu-v1-ns", "qcom,msm-iommu-v1-sec"};  // ctx_of_match
  return v;
}

namespace {
bool is_context(const of::Node& n) {
  for (const auto& c : context_compatibles())
    if (n.is_compatible(c)) return true;
  return false;
}
// Linux get_asid(): the bank's offset in the IOMMU's range, in 4 KiB units.
Result<unsigned> asid_of(const of::Node& n) {
  auto reg = n.reg();
  if (!reg.ok()) return std::move(reg).error();
  if (reg->empty()) return make_error(Errc::nodev, n.path() + ": missing reg property");
  const uint64_t a = (*reg)[0].address / kContextStride;
  if (a < 1 || a > 255)
    return make_error(Errc::inval, fmt::format("{}: context bank {} is out of range (1..255)", n.path(), a));
  return static_cast<unsigned>(a);
}
}  // namespace

QcomIommuDevice::QcomIommuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner)
    : ctx_(ctx), dev_(dev), owner_(owner) {}
QcomIommuDevice::~QcomIommuDevice() = default;

const std::string& QcomIommuDevice::name() const { return dev_.name(); }

Status QcomIommuDevice::probe() {
  const of::Node* node = dev_.fwnode();
  if (!node) return make_error(Errc::nodev, name() + ": no firmware node");
  if (auto cells = node->u32("#iommu-cells"); cells && *cells != 1)
    return make_error(Errc::inval, fmt::format("{}: #iommu-cells is {}: the binding wants 1 (the context bank)",
                                               node->path(), *cells));
  // The largest bank number sizes the bank table (Linux: max_asid).
  bool secure = false;
  for (const auto& child : node->children()) {
    if (!is_context(*child)) continue;
    auto a = asid_of(*child);
    if (!a.ok()) return std::move(a).error();
    num_ctxs_ = std::max(num_ctxs_, *a);
    if (child->available()) ++expected_ctxs_;
    secure = secure || child->is_compatible("qcom,msm-iommu-v1-sec");
  }
  if (auto sid = node->u32("qcom,iommu-secure-id")) sec_id_ = *sid;
  else return make_error(Errc::nodev, name() + ": missing qcom,iommu-secure-id property");
  if (auto reg = node->reg(); reg.ok() && !reg->empty()) local_ = TRY(ctx_.ioremap(dev_, 0));
  if (secure)
    ctx_.log().info(name(), "secure context bank present: no secure monitor to set up its page table pool "
                            "(qcom_scm_iommu_secure_ptbl_init skipped)");
  auto page = ctx_.pages().alloc_pages(0);
  if (!page.ok()) return std::move(page).error();
  TRY(ctx_.ram().fill(*page, 0, 4096));  // every descriptor invalid
  block_table_ = *page;
  {
    std::lock_guard g(lock_);
    ctxs_.assign(num_ctxs_, nullptr);
  }
  live_.store(true, std::memory_order_release);
  // Linux devm_of_platform_populate(): the context banks, bound by
  // qcom-iommu-ctx; they probe once this probe has returned.
  of_platform_populate_children(ctx_.core(), ctx_.platform_bus(), dev_, ctx_.log());
  ctx_.log().info(name(), "qcom_iommu: {} context bank(s) described, up to bank {}, secure id {}", expected_ctxs_,
                  num_ctxs_, sec_id_);
  maybe_register();
  return {};
}

// Linux registers in probe, after populating; here the banks bind later, so
// registration waits for the last of them (a master must find its banks).
void QcomIommuDevice::maybe_register() {
  {
    std::lock_guard g(lock_);
    if (registered_ || !live()) return;
    const auto bound = static_cast<unsigned>(std::count_if(ctxs_.begin(), ctxs_.end(), [](auto& c) { return c != nullptr; }));
    if (bound < expected_ctxs_) return;
    registered_ = true;
  }
  inst_.name = dev_.name();
  inst_.dev = &dev_;
  inst_.fwnode = dev_.fwnode();
  inst_.ops = this;
  inst_.owner = owner_;
  inst_.driver = "qcom-iommu";
  Status s = ctx_.iommu().register_iommu(inst_);
  if (!s.ok()) {
    ctx_.log().err(name(), "registering with the IOMMU core: {}", s.error().str());
    std::lock_guard g(lock_);
    registered_ = false;
    return;
  }
  // Linux: every context interrupt to the non-secure side.
  if (local_.valid() && local_.size() > SMMU_INTR_SEL_NS) local_.writel(SMMU_INTR_SEL_NS, 0xffffffff);
  ctx_.log().info(name(), "registered: {} context bank(s)", expected_ctxs_);
}

void QcomIommuDevice::remove() {
  bool reg = false;
  {
    std::lock_guard g(lock_);
    for (auto& wm : masters_)
      if (auto m = wm.lock(); m && m->dev && m->dev->state() == DeviceState::bound)
        ctx_.log().err(name(), "remove with master {} still attached: its device link should have released it first",
                       m->dev->name());
    reg = registered_;
    registered_ = false;
  }
  if (reg) ctx_.iommu().unregister_iommu(inst_);
  std::vector<std::shared_ptr<QcomCtx>> left;
  {
    std::lock_guard g(lock_);
    // Banks still bound (their children normally went first) block.
    for (auto& c : ctxs_)
      if (c) {
        bank_block(*c);
        left.push_back(std::move(c));
      }
    live_.store(false, std::memory_order_release);
  }
  for (auto& c : left) c->irq.free();  // a running handler may wait for lock_
}

// --- context banks ---------------------------------------------------------------

QcomCtx* QcomIommuDevice::bank(unsigned asid) {
  if (asid < 1 || asid > ctxs_.size()) return nullptr;
  return ctxs_[asid - 1].get();
}

// Linux qcom_iommu_ctx_probe(): its window, its interrupt, its number.
Status QcomIommuDevice::ctx_probe(Device& cdev) {
  const of::Node* node = cdev.fwnode();
  if (!node) return make_error(Errc::nodev, cdev.name() + ": no firmware node");
  const unsigned asid = TRY(asid_of(*node));
  auto c = std::make_shared<QcomCtx>();
  c->dev = &cdev;
  c->asid = asid;
  c->secure = node->is_compatible("qcom,msm-iommu-v1-sec");
  c->regs = TRY(ctx_.ioremap(cdev, 0));
  if (c->regs.size() < kContextStride)
    return make_error(Errc::inval, fmt::format("{}: reg maps {:#x} bytes, a context bank needs {:#x}", cdev.name(),
                                               c->regs.size(), kContextStride));
  {
    std::lock_guard g(lock_);
    if (!live()) return make_error(Errc::nodev, name() + " is going away");
    if (asid > ctxs_.size() || ctxs_[asid - 1])
      return make_error(Errc::busy, fmt::format("{}: context bank {} is taken", cdev.name(), asid));
    // Whatever the boot loader left: cleared, then blocking before the
    // interrupt is requested (Linux clears FSR first too).
    c->regs.writel(CB_FSR, c->regs.readl(CB_FSR));
    bank_block(*c);
  }
  QcomIommuDevice* self = this;
  auto irq = ctx_.request_irq(cdev, "0", [self, asid] { self->context_fault(asid); });
  if (!irq.ok()) return std::move(irq).error();
  c->irq = std::move(irq).value();
  if (c->secure)
    ctx_.log().info(cdev.name(), "secure bank {}: programmed from the non-secure side (no secure monitor; "
                                 "qcom_scm_restore_sec_cfg skipped)", asid);
  {
    std::lock_guard g(lock_);
    ctxs_[asid - 1] = c;
  }
  maybe_register();
  return {};
}

// Linux qcom_iommu_ctx_remove(), plus the bank left blocking.
void QcomIommuDevice::ctx_remove(Device& cdev) {
  std::shared_ptr<QcomCtx> c;
  {
    std::lock_guard g(lock_);
    for (auto& p : ctxs_)
      if (p && p->dev == &cdev) {
        c = p;
        p.reset();
      }
    if (!c) return;
    bank_block(*c);
    c->domain = nullptr;
  }
  c->irq.free();
}

// SCTLR.M stays 1; the bank walks the empty table (faults not reported:
// CFIE clear). TTBR0 is written first, as one 64-bit store.
void QcomIommuDevice::bank_block(QcomCtx& c) {
  c.regs.writeq(CB_TTBR0, block_table_ | TTBR_ASID::prep(c.asid));
  c.regs.writeq(CB_TTBR1, 0);
  c.regs.writel(CB_TCR2, TCR2_PASIZE::prep(PASIZE_40));
  c.regs.writel(CB_TCR, TCR_T0SZ::prep(32) | TCR_EAE);
  c.regs.writel(CB_CONTEXTIDR, c.asid);
  c.regs.writel(CB_SCTLR, SCTLR_M | SCTLR_ASIDPNE);
  c.regs.writel(CB_TLBIASID, c.asid);
  bank_sync(c);
}

// Linux qcom_iommu_init_domain(), per bank.
void QcomIommuDevice::bank_program(QcomCtx& c, const QcomDomain& d) {
  const iommu::IoPgtable& p = *d.pgtable();
  c.regs.writeq(CB_TTBR0, p.ttbr() | TTBR_ASID::prep(c.asid));
  c.regs.writeq(CB_TTBR1, 0);
  c.regs.writel(CB_TCR2, TCR2_PASIZE::prep(PASIZE_40));
  c.regs.writel(CB_TCR, TCR_T0SZ::prep(32) | TCR_EAE);
  c.regs.writel(CB_MAIR0, static_cast<uint32_t>(p.mair()));
  c.regs.writel(CB_MAIR1, static_cast<uint32_t>(p.mair() >> 32));
  c.regs.writel(CB_SCTLR, SCTLR_CFIE | SCTLR_CFRE | SCTLR_AFE | SCTLR_TRE | SCTLR_M | SCTLR_ASIDPNE | SCTLR_CFCFG);
  // The bank may have cached the previous table's entries under this ASID.
  c.regs.writel(CB_TLBIASID, c.asid);
  bank_sync(c);
}

// Linux qcom_iommu_tlb_sync(): TLBSYNC, then poll TLBSTATUS.SACTIVE.
void QcomIommuDevice::bank_sync(QcomCtx& c) {
  c.regs.writel(CB_TLBSYNC, 0);
  for (unsigned i = 0; i < kPollIterations; ++i)
    if (!(c.regs.readl(CB_TLBSTATUS) & TLBSTATUS_SACTIVE)) return;
  ctx_.log().err(c.dev->name(), "timeout waiting for TLB SYNC");
}

// Linux qcom_iommu_fault(): one bank's FSR/FAR/FSYNR0, reported for the
// bank's stream, then cleared and the transaction terminated.
void QcomIommuDevice::context_fault(unsigned asid) {
  iommu::FaultInfo f;
  uint32_t fsr = 0;
  bool reg = false;
  {
    std::lock_guard g(lock_);
    QcomCtx* c = bank(asid);
    if (!c || !live()) return;
    fsr = c->regs.readl(CB_FSR);
    if (!(fsr & FSR_FAULT)) return;
    const uint32_t fsynr = c->regs.readl(CB_FSYNR0);
    f.iova = c->regs.readq(CB_FAR);
    f.write = (fsynr & FSYNR0_WNR) != 0;
    f.stream_id = asid;
    f.reason = fsr & FSR_PF ? "FSR.PF (permission)" : fsr & FSR_EF ? "FSR.EF (external)"
               : fsr & FSR_AFF ? "FSR.AFF (access flag)" : "FSR.TF (translation)";
    c->regs.writel(CB_FSR, fsr);
    c->regs.writel(CB_RESUME, RESUME_TERMINATE);
    reg = registered_;
  }
  if (reg) ctx_.iommu().report_fault(inst_, f);
  else ctx_.log().warn(name(), "{} at iova {:#x} on context bank {}", f.reason, f.iova, asid);
}

// --- TLB maintenance (Linux qcom_flush_ops) --------------------------------------

void QcomIommuDevice::tlb_inv_context(const QcomDomain& d) {
  std::lock_guard g(lock_);
  for (auto& c : ctxs_)
    if (c && c->domain == &d) {
      c->regs.writel(CB_TLBIASID, c->asid);
      bank_sync(*c);
    }
}

void QcomIommuDevice::tlb_inv_range(const QcomDomain& d, uint64_t iova, size_t size, size_t granule, bool leaf,
                                    bool sync) {
  if (!granule) return;
  std::lock_guard g(lock_);
  for (auto& c : ctxs_) {
    if (!c || c->domain != &d) continue;
    // AArch32 operand: VA[31:12] with the ASID in [7:0].
    for (uint64_t a = iova & ~uint64_t{0xfff}, end = iova + size; a < end; a += granule)
      c->regs.writel(leaf ? CB_TLBIVAL : CB_TLBIVA, static_cast<uint32_t>(a | c->asid));
    if (sync) bank_sync(*c);
  }
}

void QcomIommuDevice::tlb_sync_domain(const QcomDomain& d) {
  std::lock_guard g(lock_);
  for (auto& c : ctxs_)
    if (c && c->domain == &d) bank_sync(*c);
}

void QcomIommuDevice::detach_all(QcomDomain& d) {
  std::lock_guard g(lock_);
  for (auto& c : ctxs_)
    if (c && c->domain == &d) {
      ctx_.log().err(name(), "domain freed while context bank {} still uses it: the bank blocks from now on", c->asid);
      c->domain = nullptr;
      bank_block(*c);
    }
  for (auto& wm : masters_)
    if (auto m = wm.lock(); m && m->domain == &d) m->domain = nullptr;
}

}  // namespace modiommu::qcom_iommu
