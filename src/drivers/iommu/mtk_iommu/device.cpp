// One M4U: probe (larbs, banks, hardware init, registration), remove (leave
// it blocking: BEHAVIOUR.md 3), TLB maintenance and the fault interrupt.
// Locking: mtk_iommu.h.
#include <thread>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/mtk_iommu/mtk_iommu.h"
#include "drivers/iommu/mtk_iommu/regs.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::mtk_iommu {

MtkIommu::MtkIommu(DriverContext& ctx, Device& dev, CodeOwner* owner, const PlatData& plat)
    : ctx_(ctx), dev_(dev), owner_(owner), plat_(plat) {}

MtkIommu::~MtkIommu() = default;

const std::string& MtkIommu::name() const { return dev_.name(); }

// Linux mtk_iommu_mm_dts_parse(): the larbs in mediatek,larbs, by
// mediatek,larb-id (or position), each an existing device with an smi.
Status MtkIommu::parse_larbs() {
  const of::Node* node = dev_.fwnode();
  const of::Property* p = node->prop("mediatek,larbs");
  if (!p || p->cell_count() == 0)
    return make_error(Errc::inval, node->path() + ": no mediatek,larbs: an mm M4U needs its SMI larbs");
  if (p->cell_count() > kLarbMax)
    return make_error(Errc::inval, fmt::format("{}: {} larbs, at most {}", node->path(), p->cell_count(), kLarbMax));
  for (size_t i = 0; i < p->cell_count(); ++i) {
    const of::Node* ln = node->tree().by_phandle(*p->cell(i));
    if (!ln) return make_error(Errc::inval, fmt::format("{}: mediatek,larbs entry {} names no node", node->path(), i));
    if (!ln->available()) continue;
    const unsigned id = ln->u32("mediatek,larb-id").value_or(static_cast<uint32_t>(i));
    if (id >= kLarbMax) return make_error(Errc::inval, fmt::format("{}: larb ID {} out of range", ln->path(), id));
    if (larbs_[id].node) return make_error(Errc::exist, fmt::format("{}: larb ID {} given twice", node->path(), id));
    Device* ld = ctx_.core().find_device_by_fwnode(ln);
    if (!ld) return make_error(Errc::nodev, fmt::format("{}: larb {} has no device", name(), ln->path()));
    if (!ln->has("mediatek,smi"))
      ctx_.log().warn(name(), "{}: no mediatek,smi (Linux refuses the larb); continuing", ln->path());
    Larb& l = larbs_[id];
    l.node = ln;
    l.dev = ld;
    // Linux mtk-smi.c: where the per-port M4U enables live.
    if (ln->is_compatible("mediatek,mt8173-smi-larb") || ln->is_compatible("mediatek,mt6795-smi-larb"))
      l.layout = Larb::Layout::mmu_en_f00;
    else if (ln->is_compatible("mediatek,mt8167-smi-larb"))
      l.layout = Larb::Layout::mmu_en_fc0;
    else
      l.layout = Larb::Layout::nonsec_con;
    auto io = ctx_.ioremap(*ld, 0);
    if (!io.ok()) return make_error(io.error().code, fmt::format("{}: larb {}: {}", name(), id, io.error().message));
    l.regs = *io;
  }
  return {};
}

// The ports some node's `iommus` names here: they never bypass the M4U
// once this driver has run (not even after it unloads).
void MtkIommu::scan_described() {
  const of::Node* self = dev_.fwnode();
  for (const of::Node* n : self->tree().nodes()) {
    if (!n->available() || !n->has("iommus")) continue;
    auto refs = of::iommus(*n);
    if (!refs.ok()) continue;
    for (const auto& r : *refs) {
      if (r.target != self || r.args.size() != 1) continue;
      const unsigned larb = m4u_to_larb(r.args[0]);
      if (larb < kLarbMax && larbs_[larb].node) larbs_[larb].described |= 1u << m4u_to_port(r.args[0]);
    }
  }
}

void MtkIommu::larb_write(Larb& l, uint32_t mmu) {
  l.mmu = mmu;
  if (!l.regs.valid()) return;
  switch (l.layout) {
    case Larb::Layout::mmu_en_f00: l.regs.writel(SMI_LARB_MMU_EN_MT8173, mmu); return;
    case Larb::Layout::mmu_en_fc0: l.regs.writel(SMI_LARB_MMU_EN_MT8167, mmu); return;
    case Larb::Layout::nonsec_con:
      for (unsigned p = 0; p < 32; ++p) l.regs.writel(SMI_LARB_NONSEC_CON_BASE + 4 * p, (mmu >> p) & 1 ? F_MMU_EN : 0);
      return;
  }
}

// Linux mtk_iommu_hw_init(), for every enabled bank at probe (Linux waits
// for the first attach; nothing can translate before that either way).
Status MtkIommu::hw_init() {
  std::lock_guard g(lock_);
  uint32_t v;
  if (plat_.tf_port_mt8173) {
    v = F_MMU_PREFETCH_RT_REPLACE_MOD | F_MMU_TF_PROT_TO_PROGRAM_ADDR_MT8173;
  } else {
    v = regs_.readl(REG_MMU_CTRL_REG) | F_MMU_TF_PROT_TO_PROGRAM_ADDR;
  }
  regs_.writel(REG_MMU_CTRL_REG, v);
  regs_.writel(REG_MMU_DCM_DIS, plat_.dcm_disable ? (1u << 8) : 0);
  if (plat_.wr_throt) regs_.writel(REG_MMU_WR_LEN_CTRL, regs_.readl(REG_MMU_WR_LEN_CTRL) & ~F_MMU_WR_THROT_DIS_MASK);
  if (plat_.reset_axi) {
    v = 0;  // the register is STANDARD_AXI_MODE on these SoCs
  } else {
    v = regs_.readl(REG_MMU_MISC_CTRL);
    if (!plat_.std_axi_mode) v &= ~F_MMU_STANDARD_AXI_MODE_MASK;
    if (plat_.out_order_wr) v &= ~F_MMU_IN_ORDER_WR_EN_MASK;
  }
  regs_.writel(REG_MMU_MISC_CTRL, v);
  for (unsigned b = 0; b < plat_.banks; ++b) {
    if (!plat_.bank_enable[b]) continue;
    const uint64_t base = bank_base(b);
    regs_.writel(base + REG_MMU_PT_BASE_ADDR, 0);  // no domain yet: block
    regs_.writel(base + REG_MMU_INT_CONTROL0, F_INT_CONTROL0_ENABLES | F_INT_CLR_BIT);
    regs_.writel(base + REG_MMU_INT_MAIN_CONTROL, F_INT_MAIN_ENABLES);
    const uint32_t ivrp = plat_.legacy_ivrp ? static_cast<uint32_t>(protect_ >> 1)
                                            : static_cast<uint32_t>(protect_) | static_cast<uint32_t>(protect_ >> 32);
    regs_.writel(base + REG_MMU_IVRP_PADDR, ivrp);
  }
  flush_all_locked();
  // Described ports go through the M4U from now on: blocked until attached.
  for (auto& l : larbs_)
    if (l.node) larb_write(l, l.mmu | l.described);
  return {};
}

Status MtkIommu::probe() {
  const of::Node* node = dev_.fwnode();
  if (!node) return make_error(Errc::nodev, name() + ": no firmware node");
  if (auto cells = node->u32("#iommu-cells"); !cells || *cells != 1)
    return make_error(Errc::inval, fmt::format("{}: #iommu-cells must be 1 (MTK_M4U_ID), got {}", node->path(),
                                               cells ? std::to_string(*cells) : "none"));
  regs_ = TRY(ctx_.ioremap(dev_, 0));
  if (regs_.size() < plat_.banks * kBankSize)
    return make_error(Errc::inval, fmt::format("{}: {} banks need {:#x} bytes of registers, reg maps {:#x}", name(),
                                               plat_.banks, plat_.banks * kBankSize, regs_.size()));
  if (plat_.mm) {
    TRY(parse_larbs());
    scan_described();
  }
  // Linux: a protect buffer the hardware redirects faulting accesses to.
  protect_ = TRY(ctx_.pages().alloc(512, 256));
  for (unsigned b = 0; b < plat_.banks; ++b) {
    if (!plat_.bank_enable[b]) continue;
    auto irq = ctx_.request_irq(dev_, std::to_string(b), [this, b] { fault_irq(b); });
    if (!irq.ok()) {
      remove();
      return make_error(irq.error().code, fmt::format("{}: bank {} interrupt: {}", name(), b, irq.error().message));
    }
    irqs_.push_back(std::move(irq).value());
  }
  Status s = hw_init();
  if (s.ok()) {
    live_.store(true, std::memory_order_release);
    inst_.name = dev_.name();
    inst_.dev = &dev_;
    inst_.fwnode = node;
    inst_.ops = this;
    inst_.owner = owner_;
    inst_.driver = "mtk-iommu";
    s = ctx_.iommu().register_iommu(inst_);
    registered_ = s.ok();
  }
  if (!s.ok()) {
    remove();
    return s;
  }
  unsigned nlarbs = 0;
  for (const auto& l : larbs_) nlarbs += l.node != nullptr;
  ctx_.log().info(name(), "{}: {} bank(s), {} larb(s), {}-bit IOVA", plat_.compatible, plat_.banks, nlarbs,
                  plat_.iova_34 ? 34 : 32);
  return {};
}

// BEHAVIOUR.md 3: every bank without a table (PT_BASE 0: all faults), every
// described port still routed to the M4U. Linux's remove leaves the last
// domain's table programmed; it has no unload-under-DMA story.
void MtkIommu::quiesce() {
  std::lock_guard g(lock_);
  for (auto& l : larbs_)
    if (l.node) larb_write(l, l.mmu | l.described);
  for (unsigned b = 0; b < plat_.banks; ++b) {
    if (!plat_.bank_enable[b]) continue;
    regs_.writel(bank_base(b) + REG_MMU_PT_BASE_ADDR, 0);
    bank_dom_[b] = nullptr;
  }
  flush_all_locked();
}

void MtkIommu::remove() {
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
  if (regs_.valid()) quiesce();
  if (protect_) (void)ctx_.pages().free(protect_);
  protect_ = 0;
  live_.store(false, std::memory_order_release);
}

// --- TLB -----------------------------------------------------------------------

void MtkIommu::flush_all_locked() {
  // Linux mtk_iommu_tlb_flush_all: always through bank 0.
  regs_.writel(plat_.inv_sel_reg, F_INVLD_EN1 | F_INVLD_EN0);
  regs_.writel(REG_MMU_INVALIDATE, F_ALL_INVLD);
}

void MtkIommu::flush_range_locked(unsigned bank, uint64_t iova, uint64_t size) {
  const uint64_t base = bank_base(bank);
  // Linux MTK_IOMMU_TLB_ADDR: IOVA[31:12] | IOVA[34:32].
  auto addr = [](uint64_t a) { return static_cast<uint32_t>((a & 0xfffff000u) | ((a >> 32) & 7)); };
  regs_.writel(base + plat_.inv_sel_reg, F_INVLD_EN1 | F_INVLD_EN0);
  regs_.writel(base + REG_MMU_INVLD_START_A, addr(iova));
  regs_.writel(base + REG_MMU_INVLD_END_A, addr(iova + size - 1));
  regs_.writel(base + REG_MMU_INVALIDATE, F_MMU_INV_RANGE);
  bool done = false;
  for (unsigned i = 0; i < kPollIterations && !done; ++i) {
    done = regs_.readl(base + REG_MMU_CPE_DONE) != 0;
    if (!done) std::this_thread::yield();
  }
  regs_.writel(base + REG_MMU_CPE_DONE, 0);
  if (!done) {
    ctx_.log().warn(name(), "partial TLB flush timed out, falling back to full flush");
    flush_all_locked();
  }
}

void MtkIommu::tlb_flush_all() {
  std::lock_guard g(lock_);
  if (live()) flush_all_locked();
}

void MtkIommu::tlb_flush_range(uint64_t iova, uint64_t size) {
  if (size == 0) return;
  std::lock_guard g(lock_);
  if (!live()) return;
  for (unsigned b = 0; b < plat_.banks; ++b)
    if (plat_.bank_enable[b] && bank_dom_[b]) flush_range_locked(b, iova, size);
}

// --- faults ------------------------------------------------------------------

// Linux mtk_iommu_isr(): read the latched fault, report it, clear, flush.
void MtkIommu::fault_irq(unsigned bank) {
  iommu::FaultInfo f;
  uint32_t st = 0, va = 0, id = 0, pa = 0;
  {
    std::lock_guard g(lock_);
    if (!live()) return;
    const uint64_t base = bank_base(bank);
    st = regs_.readl(base + REG_MMU_FAULT_ST1);
    if (!st) return;
    if (st & F_REG_MMU0_FAULT_MASK) {
      id = regs_.readl(base + REG_MMU0_INT_ID);
      va = regs_.readl(base + REG_MMU0_FAULT_VA);
      pa = regs_.readl(base + REG_MMU0_INVLD_PA);
    } else {
      id = regs_.readl(base + REG_MMU1_INT_ID);
      va = regs_.readl(base + REG_MMU1_FAULT_VA);
      pa = regs_.readl(base + REG_MMU1_INVLD_PA);
    }
    regs_.writel(base + REG_MMU_INT_CONTROL0, regs_.readl(base + REG_MMU_INT_CONTROL0) | F_INT_CLR_BIT);
    flush_all_locked();
  }
  uint64_t iova = va & 0xfffff000u;
  if (plat_.iova_34) iova |= uint64_t{(va >> 9) & 7} << 32;
  const unsigned port = (id >> 2) & 0x1f;
  unsigned larb = (id >> 7) & 0x7;
  if (larb < plat_.larbid_remap.size()) larb = plat_.larbid_remap[larb];
  f.iova = iova;
  f.write = va & F_MMU_FAULT_VA_WRITE_BIT;
  f.stream_id = m4u_id(larb, port);
  f.reason = fmt::format("translation fault (FAULT_ST1 {:#x}) larb {} port {} layer {} pa {:#x}", st, larb, port,
                         va & F_MMU_FAULT_VA_LAYER_BIT, pa);
  ctx_.iommu().report_fault(inst_, f);
}

}  // namespace modiommu::mtk_iommu
