// One sun50i IOMMU: probe (registers, interrupt, blocked), remove (left
// blocked: BEHAVIOUR.md 3), the register sequences of Linux's
// sun50i_iommu_enable, zap_range and flush_all_tlb, and the fault
// interrupt. Locking: sun50i-iommu.h.
#include <bit>
#include <thread>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/sun50i-iommu/regs.h"
#include "drivers/iommu/sun50i-iommu/sun50i-iommu.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::sun50i_iommu {

Sun50iIommuDevice::Sun50iIommuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner)
    : ctx_(ctx), dev_(dev), owner_(owner) {}
Sun50iIommuDevice::~Sun50iIommuDevice() = default;

const std::string& Sun50iIommuDevice::name() const { return dev_.name(); }

// Linux readl_poll_timeout_atomic(reg, !reg): the self-clearing enables.
Status Sun50iIommuDevice::poll_zero(uint32_t reg, const char* what) {
  for (unsigned i = 0; i < kPollIterations; ++i) {
    if (regs_.readl(reg) == 0) return {};
    std::this_thread::yield();
  }
  return make_error(Errc::timedout, fmt::format("{}: {} timed out", name(), what));
}

Status Sun50iIommuDevice::flush_all_locked() {
  regs_.writel(IOMMU_TLB_FLUSH_REG, IOMMU_TLB_FLUSH_PTW_CACHE | IOMMU_TLB_FLUSH_MACRO_TLB | kMasterMask);
  return poll_zero(IOMMU_TLB_FLUSH_REG, "TLB flush");
}

// Linux sun50i_iommu_zap_range: TLB lines of the first and last pages (and
// their neighbours), PTW cache lines of the first and last MiB (and theirs),
// with auto gating off meanwhile.
void Sun50iIommuDevice::zap_locked(uint64_t iova, uint64_t size) {
  auto tlb = [&](uint64_t a) {
    regs_.writel(IOMMU_TLB_IVLD_ADDR_REG, static_cast<uint32_t>(a));
    regs_.writel(IOMMU_TLB_IVLD_ADDR_MASK_REG, 0xfffff000u);
    regs_.writel(IOMMU_TLB_IVLD_ENABLE_REG, IOMMU_IVLD_ENABLE);
    if (Status s = poll_zero(IOMMU_TLB_IVLD_ENABLE_REG, "TLB invalidation"); !s.ok())
      ctx_.log().warn(name(), "{}", s.error().message);
  };
  auto ptw = [&](uint64_t a) {
    regs_.writel(IOMMU_PC_IVLD_ADDR_REG, static_cast<uint32_t>(a));
    regs_.writel(IOMMU_PC_IVLD_ENABLE_REG, IOMMU_IVLD_ENABLE);
    if (Status s = poll_zero(IOMMU_PC_IVLD_ENABLE_REG, "PTW cache invalidation"); !s.ok())
      ctx_.log().warn(name(), "{}", s.error().message);
  };
  constexpr uint64_t kMiB = 1ull << 20;
  regs_.writel(IOMMU_AUTO_GATING_REG, 0);
  tlb(iova);
  tlb(iova + kPage);
  if (size > kPage) {
    tlb(iova + size);
    tlb(iova + size + kPage);
  }
  ptw(iova);
  ptw(iova + kMiB);
  if (size > kMiB) {
    ptw(iova + size);
    ptw(iova + size + kMiB);
  }
  regs_.writel(IOMMU_AUTO_GATING_REG, IOMMU_AUTO_GATING_ENABLE);
}

// Linux sun50i_iommu_enable: directory, prefetch, interrupts, the ACI
// permission domains, flush, gating, enable. Also the bypass bits (identity).
Status Sun50iIommuDevice::program(uint32_t ttb, uint32_t bypass) {
  // Leave every master out of bypass while the directory changes.
  regs_.writel(IOMMU_BYPASS_REG, 0);
  regs_.writel(IOMMU_TTB_REG, ttb);
  regs_.writel(IOMMU_TLB_PREFETCH_REG, kMasterMask);
  // Causes recorded before this point are stale.
  regs_.writel(IOMMU_INT_CLR_REG, IOMMU_INT_MASK);
  regs_.writel(IOMMU_INT_ENABLE_REG, IOMMU_INT_MASK);
  uint32_t none = 0, rd = 0, wr = 0, unused = 0;
  for (unsigned m = 0; m < kMasters; ++m) {
    unused |= dm_aut_wr_unavail(kAciDoNotUse, m);  // ACI 0 stays read-only, its reset value
    none |= dm_aut_rd_unavail(kAciNone, m) | dm_aut_wr_unavail(kAciNone, m);
    rd |= dm_aut_wr_unavail(kAciRd, m);
    wr |= dm_aut_rd_unavail(kAciWr, m);
  }
  // Two ACIs per register: 0 and 1 share one, 2 and 3 the next, 4 (read-
  // write: nothing denied) the third. Linux 6.1/6.12 write ACI 2's and then
  // ACI 3's value to the same register, so the second write drops the
  // read-only domain's write denial; here each register is written once
  // with both halves.
  static_assert(dm_aut_ctrl(kAciRd) == dm_aut_ctrl(kAciWr));
  regs_.writel(dm_aut_ctrl(kAciNone), unused | none);
  regs_.writel(dm_aut_ctrl(kAciRd), rd | wr);
  regs_.writel(dm_aut_ctrl(kAciRdWr), 0);
  TRY(flush_all_locked());
  regs_.writel(IOMMU_AUTO_GATING_REG, IOMMU_AUTO_GATING_ENABLE);
  regs_.writel(IOMMU_ENABLE_REG, IOMMU_ENABLE_ENABLE);
  regs_.writel(IOMMU_BYPASS_REG, bypass);
  return {};
}

Status Sun50iIommuDevice::block() {
  TRY(program(static_cast<uint32_t>(block_dt_), 0));
  state_ = HwState::blocked;
  walking_ = nullptr;
  return {};
}

Status Sun50iIommuDevice::probe() {
  const of::Node* node = dev_.fwnode();
  if (!node) return make_error(Errc::nodev, name() + ": no firmware node");
  if (auto cells = node->u32("#iommu-cells"); cells && *cells != 1)
    return make_error(Errc::inval, fmt::format("{}: #iommu-cells is {}: the binding wants 1", node->path(), *cells));
  regs_ = TRY(ctx_.ioremap(dev_, 0));
  // Linux devm_clk_get / devm_reset_control_get: both required there. The
  // clock and reset line are not modelled here (always on, released), so
  // a tree without them still probes.
  if (!node->has("clocks")) ctx_.log().info(name(), "no clock in the tree (Linux would fail the probe)");
  if (!node->has("resets")) ctx_.log().info(name(), "no reset line in the tree (Linux would fail the probe)");
  auto irq = ctx_.request_irq(dev_, "0", [this] { fault_irq(); });
  if (irq.ok()) irq_ = std::move(irq).value();
  else ctx_.log().warn(name(), "no interrupt: faults are not reported");

  // Below 4 GiB: TTB holds 32 bits.
  auto dt = ctx_.pages().alloc_pages(kDtOrder);
  if (!dt.ok()) return std::move(dt).error();
  if (*dt >> 32) {
    (void)ctx_.pages().free_pages(*dt, kDtOrder);
    return make_error(Errc::nomem, name() + ": no directory below 4 GiB for the blocked state");
  }
  block_dt_ = *dt;
  Status s;
  {
    std::lock_guard g(lock_);
    // The state the boot loader left is unknown: masters through a reset
    // pulse, then block.
    regs_.writel(IOMMU_RESET_REG, ~kMasterMask);
    regs_.writel(IOMMU_RESET_REG, IOMMU_RESET_RELEASE_ALL);
    s = block();
  }
  if (s.ok()) {
    live_.store(true, std::memory_order_release);
    inst_.name = dev_.name();
    inst_.dev = &dev_;
    inst_.fwnode = node;
    inst_.ops = this;
    inst_.owner = owner_;
    inst_.driver = "sun50i-iommu";
    s = ctx_.iommu().register_iommu(inst_);
    registered_ = s.ok();
  }
  if (!s.ok()) {
    remove();
    return s;
  }
  ctx_.log().info(name(), "Allwinner sun50i IOMMU ({})", node->is_compatible("allwinner,sun50i-h616-iommu") ? "H616" : "H6");
  return {};
}

void Sun50iIommuDevice::remove() {
  {
    std::lock_guard g(lock_);
    for (auto& wm : masters_)
      if (auto m = wm.lock(); m && m->dev && m->dev->state() == DeviceState::bound)
        ctx_.log().err(name(), "remove with master {} still attached: its device link should have released it first",
                       m->dev->name());
  }
  if (registered_) ctx_.iommu().unregister_iommu(inst_);
  registered_ = false;
  irq_.free();  // waits for a running handler
  std::lock_guard g(lock_);
  if (regs_.valid() && block_dt_) {
    // BEHAVIOUR.md 3: nothing passes once the driver is gone. Linux's
    // sun50i_iommu_disable writes ENABLE = 0 (untranslated); here the IOMMU
    // stays enabled on the empty directory, no master bypassing.
    Status s = block();
    if (!s.ok()) ctx_.log().err(name(), "leaving the IOMMU blocked: {}", s.error().message);
    regs_.writel(IOMMU_INT_ENABLE_REG, 0);
  }
  live_.store(false, std::memory_order_release);
}

// --- interrupts ---------------------------------------------------------------------

// Linux sun50i_iommu_irq: invalid L2 / L1 entries (address and blamed
// masters from their registers) or a permission fault (the master's
// ERR_ADDR and ERR_DATA, whose ACI tells the direction), then the causes
// cleared, the blamed masters pulsed through reset and the range zapped.
// Linux handles one cause per interrupt; here every pending one.
void Sun50iIommuDevice::fault_irq() {
  std::vector<iommu::FaultInfo> faults;
  {
    std::lock_guard g(lock_);
    if (!live()) return;
    const uint32_t st = regs_.readl(IOMMU_INT_STA_REG);
    if (!(st & IOMMU_INT_MASK)) return;
    const uint32_t l1 = regs_.readl(IOMMU_L1PG_INT_REG), l2 = regs_.readl(IOMMU_L2PG_INT_REG);
    auto blame = [&](uint32_t masters, uint32_t iova, const char* why) {
      // An invalid entry does not say the direction: a read (as Linux).
      for (unsigned m = 0; m < kMasters; ++m)
        if (masters & (1u << m)) faults.push_back({iova, false, m, why});
    };
    if (st & IOMMU_INT_INVALID_L2PG)
      blame(l2 & kMasterMask, regs_.readl(IOMMU_INT_ERR_ADDR_L2_REG), "invalid L2 page table entry");
    if (st & IOMMU_INT_INVALID_L1PG)
      blame(l1 & kMasterMask, regs_.readl(IOMMU_INT_ERR_ADDR_L1_REG), "invalid L1 directory entry");
    for (unsigned m = 0; m < kMasters; ++m) {
      if (!(st & (1u << m))) continue;
      const uint32_t iova = regs_.readl(int_err_addr(m));
      const Aci aci = pte_aci(regs_.readl(int_err_data(m)));
      // A read-only page was written; otherwise it cannot tell: a read.
      faults.push_back({iova, aci == kAciRd, m, "permission fault (ACI " + std::to_string(aci) + ")"});
    }
    regs_.writel(IOMMU_INT_CLR_REG, st);
    const uint32_t resets = (st | l1 | l2) & kMasterMask;
    regs_.writel(IOMMU_RESET_REG, ~resets);
    regs_.writel(IOMMU_RESET_REG, IOMMU_RESET_RELEASE_ALL);
    for (const auto& f : faults) zap_locked(f.iova, kPage);
  }
  for (const auto& f : faults) {
    ctx_.log().debug(name(), "fault at {:#x} (master {}, {}): {}", f.iova, f.stream_id, f.write ? "wr" : "rd", f.reason);
    ctx_.iommu().report_fault(inst_, f);
  }
}

}  // namespace modiommu::sun50i_iommu
