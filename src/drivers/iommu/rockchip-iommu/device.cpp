// One Rockchip IOMMU node: probe (banks, interrupts, force reset, blocked),
// remove (left blocked: BEHAVIOUR.md 3), the register sequences Linux's
// rk_iommu_enable/disable use, and the page-fault interrupt. Locking:
// rockchip-iommu.h.
#include <thread>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/rockchip-iommu/regs.h"
#include "drivers/iommu/rockchip-iommu/rockchip-iommu.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::rockchip_iommu {

RkIommuDevice::RkIommuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner) : ctx_(ctx), dev_(dev), owner_(owner) {}
RkIommuDevice::~RkIommuDevice() = default;

const std::string& RkIommuDevice::name() const { return dev_.name(); }

// Every bank's MMU_STATUS has `bit` set (want) or clear (!want).
bool RkIommuDevice::all_status(uint32_t bit, bool want) {
  for (const IoMem& b : banks_)
    if (bool(b.readl(MMU_STATUS) & bit) != want) return false;
  return true;
}

Status RkIommuDevice::set_stall(bool on) {
  if (all_status(STATUS_STALL_ACTIVE, on)) return {};
  // Linux rk_iommu_enable_stall: a stall needs paging on.
  if (on && !all_status(STATUS_PAGING_ENABLED, true)) return {};
  for (const IoMem& b : banks_) b.writel(MMU_COMMAND, on ? CMD_ENABLE_STALL : CMD_DISABLE_STALL);
  for (unsigned i = 0; i < kPollIterations; ++i) {
    if (all_status(STATUS_STALL_ACTIVE, on)) return {};
    std::this_thread::yield();
  }
  return make_error(Errc::timedout, fmt::format("{}: {} stall request timed out, status {:#x}", name(),
                                                on ? "enable" : "disable", banks_[0].readl(MMU_STATUS)));
}

Status RkIommuDevice::set_paging(bool on) {
  if (all_status(STATUS_PAGING_ENABLED, on)) return {};
  for (const IoMem& b : banks_) b.writel(MMU_COMMAND, on ? CMD_ENABLE_PAGING : CMD_DISABLE_PAGING);
  for (unsigned i = 0; i < kPollIterations; ++i) {
    if (all_status(STATUS_PAGING_ENABLED, on)) return {};
    std::this_thread::yield();
  }
  return make_error(Errc::timedout, fmt::format("{}: {} paging request timed out, status {:#x}", name(),
                                                on ? "enable" : "disable", banks_[0].readl(MMU_STATUS)));
}

// Linux rk_iommu_force_reset: check MMU_DTE_ADDR holds what is written, then
// FORCE_RESET and wait for MMU_DTE_ADDR to read 0. Skipped with
// rockchip,disable-mmu-reset.
Status RkIommuDevice::force_reset() {
  if (reset_disabled_) return {};
  const uint32_t dummy = static_cast<uint32_t>(entry_address(version_, DTE_ADDR_DUMMY));
  for (size_t i = 0; i < banks_.size(); ++i) {
    banks_[i].writel(MMU_DTE_ADDR, dummy);
    if (const uint32_t back = banks_[i].readl(MMU_DTE_ADDR); back != dummy)
      return make_error(Errc::io, fmt::format("{}: bank {}: MMU_DTE_ADDR reads {:#x} after {:#x} was written: the "
                                              "register is not functioning", name(), i, back, dummy));
  }
  for (const IoMem& b : banks_) b.writel(MMU_COMMAND, CMD_FORCE_RESET);
  for (unsigned i = 0; i < kPollIterations; ++i) {
    bool done = true;
    for (const IoMem& b : banks_) done = done && b.readl(MMU_DTE_ADDR) == 0;
    if (done) return {};
    std::this_thread::yield();
  }
  return make_error(Errc::timedout, name() + ": FORCE_RESET command timed out");
}

// Linux rk_iommu_enable: stall, (reset), directory, zap, interrupts, paging
// on, unstall. Unlike Linux, the reset happens only when paging is off
// (reset = true): a reset turns paging off, and traffic of masters already
// attached would pass untranslated until paging is back on.
Status RkIommuDevice::program(uint32_t dte_addr, bool reset) {
  TRY(set_stall(true));
  if (reset) {
    if (Status s = force_reset(); !s.ok()) {
      (void)set_stall(false);
      return s;
    }
  }
  for (const IoMem& b : banks_) {
    b.writel(MMU_DTE_ADDR, dte_addr);
    b.writel(MMU_COMMAND, CMD_ZAP_CACHE);
    // Causes recorded before this point are stale: clear them before
    // unmasking, so no interrupt fires inside this sequence.
    b.writel(MMU_INT_CLEAR, IRQ_MASK);
    b.writel(MMU_INT_MASK, IRQ_MASK);
    b.writel(MMU_AUTO_GATING, b.readl(MMU_AUTO_GATING) | AUTO_GATING_DISABLE_FETCH_DTE_TIME_LIMIT);
  }
  Status s = set_paging(true);
  Status u = set_stall(false);
  if (!s.ok()) return s;
  return u;
}

Status RkIommuDevice::block() {
  TRY(program(pack_address(version_, block_dt_) | kEntryValid, state_ == HwState::identity));
  state_ = HwState::blocked;
  walking_ = nullptr;
  return {};
}

// Linux rk_iommu_disable (identity): paging off, no interrupts, no directory.
void RkIommuDevice::disable() {
  (void)set_stall(true);
  Status s = set_paging(false);
  if (!s.ok()) ctx_.log().err(name(), "{}", s.error().message);
  for (const IoMem& b : banks_) {
    b.writel(MMU_INT_MASK, 0);
    b.writel(MMU_DTE_ADDR, 0);
  }
  (void)set_stall(false);
  state_ = HwState::identity;
  walking_ = nullptr;
}

void RkIommuDevice::check_mixed_versions() {
  // Linux keeps one rk_ops for the system and fails (WARN, EINVAL) every
  // IOMMU of the other version. Here each node follows its own compatible.
  const of::Node* self = dev_.fwnode();
  for (const of::Node* n : self->tree().nodes()) {
    if (n == self || !n->available() || !n->has("compatible")) continue;
    const bool v2 = n->is_compatible("rockchip,rk3568-iommu");
    const bool v1 = !v2 && n->is_compatible("rockchip,iommu");
    if ((v1 || v2) && v2 != (version_ == Version::v2)) {
      ctx_.log().warn(name(), "this tree has Rockchip IOMMUs of both versions ({} is v{}): Linux would refuse "
                      "whichever probes second; here each follows its own node", n->path(), v2 ? 2 : 1);
      return;
    }
  }
}

Status RkIommuDevice::probe() {
  const of::Node* node = dev_.fwnode();
  if (!node) return make_error(Errc::nodev, name() + ": no firmware node");
  version_ = node->is_compatible("rockchip,rk3568-iommu") ? Version::v2 : Version::v1;
  if (auto cells = node->u32("#iommu-cells"); cells && *cells != 0)
    return make_error(Errc::inval, fmt::format("{}: #iommu-cells is {}: the binding wants 0", node->path(), *cells));
  // Linux rk_iommu_probe: every reg window is a bank; ones that cannot be
  // mapped are skipped, none at all is an error.
  const size_t nreg = node->reg().ok() ? node->reg()->size() : 0;
  Status first_err = make_error(Errc::inval, node->path() + ": no reg");
  for (size_t i = 0; i < nreg; ++i) {
    auto io = ctx_.ioremap(dev_, i);
    if (!io.ok()) {
      ctx_.log().warn(name(), "bank {}: {}", i, io.error().message);
      if (banks_.empty()) first_err = std::move(io).error();
      continue;
    }
    banks_.push_back(*io);
  }
  if (banks_.empty()) return first_err;
  reset_disabled_ = node->has("rockchip,disable-mmu-reset");
  // Linux: clocks "aclk" and "iface" are optional (older trees have none).
  if (!node->has("clocks")) ctx_.log().debug(name(), "no clocks in the tree: none to enable");
  // Linux requests every interrupt, shared; each handler scans every bank.
  for (size_t i = 0;; ++i) {
    auto irq = ctx_.request_irq(dev_, std::to_string(i), [this] { page_fault_irq(); });
    if (!irq.ok()) break;
    irqs_.push_back(std::move(irq).value());
  }
  if (irqs_.empty()) ctx_.log().warn(name(), "no interrupt: page faults are not reported");

  auto dt = ctx_.pages().alloc_pages(0);
  if (!dt.ok()) return std::move(dt).error();
  if (*dt >> output_bits(version_)) {
    (void)ctx_.pages().free_pages(*dt, 0);
    return make_error(Errc::nomem, fmt::format("{}: no page below {} bits for an empty directory", name(),
                                               output_bits(version_)));
  }
  block_dt_ = *dt;
  Status s;
  {
    std::lock_guard g(lock_);
    // The state the boot loader left is unknown: reset, then block.
    state_ = HwState::identity;
    s = block();
  }
  if (s.ok()) {
    live_.store(true, std::memory_order_release);
    inst_.name = dev_.name();
    inst_.dev = &dev_;
    inst_.fwnode = node;
    inst_.ops = this;
    inst_.owner = owner_;
    inst_.driver = "rk_iommu";
    s = ctx_.iommu().register_iommu(inst_);
    registered_ = s.ok();
  }
  if (!s.ok()) {
    remove();
    return s;
  }
  check_mixed_versions();
  ctx_.log().info(name(), "Rockchip IOMMU v{}: {} MMU bank(s), {} interrupt(s){}", version_ == Version::v2 ? 2 : 1,
                  banks_.size(), irqs_.size(), reset_disabled_ ? ", force reset disabled" : "");
  return {};
}

void RkIommuDevice::remove() {
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
  std::lock_guard g(lock_);
  if (!banks_.empty() && block_dt_) {
    // BEHAVIOUR.md 3: nothing passes once the driver is gone. Linux's
    // shutdown leaves paging off (untranslated); here paging stays on with
    // the empty directory, so every access faults.
    Status s = block();
    if (!s.ok()) ctx_.log().err(name(), "leaving the IOMMU blocked: {}", s.error().message);
    for (const IoMem& b : banks_) b.writel(MMU_INT_MASK, 0);
  }
  live_.store(false, std::memory_order_release);
}

// --- interrupts ---------------------------------------------------------------------

// Linux rk_iommu_irq: per bank, the fault address and direction, then
// ZAP_CACHE and PAGE_FAULT_DONE, then the causes cleared. The banks cannot
// tell which master faulted: the fault goes to every master of the IOMMU
// (they share ID 0 and one group).
void RkIommuDevice::page_fault_irq() {
  std::vector<iommu::FaultInfo> faults;
  {
    std::lock_guard g(lock_);
    if (!live()) return;
    for (size_t i = 0; i < banks_.size(); ++i) {
      const IoMem& b = banks_[i];
      const uint32_t st = b.readl(MMU_INT_STATUS);
      if (!st) continue;
      const uint32_t iova = b.readl(MMU_PAGE_FAULT_ADDR);
      if (st & IRQ_PAGE_FAULT) {
        iommu::FaultInfo f;
        f.iova = iova;
        f.write = b.readl(MMU_STATUS) & STATUS_PAGE_FAULT_IS_WRITE;
        f.stream_id = 0;
        f.reason = fmt::format("page fault (MMU bank {})", i);
        faults.push_back(std::move(f));
        b.writel(MMU_COMMAND, CMD_ZAP_CACHE);
        b.writel(MMU_COMMAND, CMD_PAGE_FAULT_DONE);
      }
      if (st & IRQ_BUS_ERROR) ctx_.log().err(name(), "bus error (table walk outside memory) at {:#x}", iova);
      if (st & ~IRQ_MASK) ctx_.log().err(name(), "unexpected MMU_INT_STATUS {:#x}", st);
      b.writel(MMU_INT_CLEAR, st);
    }
  }
  for (const auto& f : faults) ctx_.iommu().report_fault(inst_, f);
}

}  // namespace modiommu::rockchip_iommu
