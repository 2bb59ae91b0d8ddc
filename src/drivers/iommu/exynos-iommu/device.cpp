// One SysMMU node: probe (registers, version, interrupt, blocked), remove
// (left blocked: BEHAVIOUR.md 3), the register sequences of Linux's
// __sysmmu_enable/disable and TLB flushes, and the fault interrupt.
// Locking: exynos-iommu.h.
#include <bit>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/exynos-iommu/exynos-iommu.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::exynos_iommu {

SysmmuDevice::SysmmuDevice(DriverContext& ctx, Device& dev, CodeOwner* owner) : ctx_(ctx), dev_(dev), owner_(owner) {}
SysmmuDevice::~SysmmuDevice() = default;

const std::string& SysmmuDevice::name() const { return dev_.name(); }

// Linux sysmmu_block: BLOCK, then poll MMU_STATUS bit 0 (120 reads).
bool SysmmuDevice::hold_locked() {
  io_.writel(REG_MMU_CTRL, CTRL_BLOCK);
  for (int i = 0; i < 120; ++i)
    if (io_.readl(REG_MMU_STATUS) & STATUS_BLOCKED) return true;
  release_locked();
  return false;
}

void SysmmuDevice::release_locked() { io_.writel(REG_MMU_CTRL, CTRL_ENABLE); }

uint32_t SysmmuDevice::init_config() const {
  uint32_t cfg = 0;
  if (version_ <= make_ver(3, 1)) cfg = CFG_LRU | cfg_qos(15);
  else if (version_ <= make_ver(3, 2)) cfg = CFG_LRU | cfg_qos(15) | CFG_FLPDCACHE | CFG_SYSSEL;
  else cfg = cfg_qos(15) | CFG_FLPDCACHE | CFG_ACGEN;
  return cfg | CFG_EAP;  // Linux: access-protection bits are checked
}

// Linux __sysmmu_enable: BLOCK, configuration, table base and a full
// flush, the VM's enable (v7 with the VM block), then ENABLE.
void SysmmuDevice::enable_locked(iommu::PhysAddr lv1) {
  io_.writel(REG_MMU_CTRL, CTRL_BLOCK);
  io_.writel(REG_MMU_CFG, init_config());
  // Linux __sysmmu_set_ptbase: v5+ take the PA >> 12.
  io_.writel(var_->pt_base, static_cast<uint32_t>(maj_ver(version_) < 5 ? lv1 : lv1 >> 12));
  io_.writel(var_->flush_all, 1);
  if (has_vcr_) io_.writel(REG_V7_CTRL_VM, io_.readl(REG_V7_CTRL_VM) | CTRL_VM_ENABLE | CTRL_VM_FAULT_MODE_STALL);
  io_.writel(REG_MMU_CTRL, CTRL_ENABLE);
}

void SysmmuDevice::block_locked() {
  enable_locked(block_lv1_);
  state_ = HwState::blocked;
  walking_ = nullptr;
}

// Linux __sysmmu_disable: CTRL_DISABLE, CFG 0: untranslated (identity only).
void SysmmuDevice::disable_locked() {
  io_.writel(REG_MMU_CTRL, CTRL_DISABLE);
  io_.writel(REG_MMU_CFG, 0);
  state_ = HwState::identity;
  walking_ = nullptr;
}

Status SysmmuDevice::probe() {
  const of::Node* node = dev_.fwnode();
  if (!node) return make_error(Errc::nodev, name() + ": no firmware node");
  if (auto cells = node->u32("#iommu-cells"); cells && *cells != 0)
    return make_error(Errc::inval, fmt::format("{}: #iommu-cells is {}: the binding wants 0", node->path(), *cells));
  io_ = TRY(ctx_.ioremap(dev_, 0));
  // Linux: clocks "sysmmu", "aclk", "pclk" and "master" are each optional.
  if (!node->has("clocks")) ctx_.log().debug(name(), "no clocks in the tree: none to enable");
  // Linux: platform_get_irq(0) is required.
  irq_ = TRY(ctx_.request_irq(dev_, "0", [this] { fault_irq(); }));

  // Linux __sysmmu_get_version and the variant it selects.
  const uint32_t reg = io_.readl(REG_MMU_VERSION);
  version_ = reg == kBrokenVersionReg ? make_ver(1, 0) : raw_ver(reg);
  if (maj_ver(version_) < 5) {
    var_ = &kVariantV1;
  } else if (maj_ver(version_) < 7) {
    var_ = &kVariantV5;
  } else {
    has_vcr_ = (io_.readl(REG_V7_CAPA0) & CAPA0_CAPA1_EXIST) && (io_.readl(REG_V7_CAPA1) & CAPA1_VCR_ENABLED);
    var_ = has_vcr_ ? &kVariantV7Vm : &kVariantV7;
  }

  // The blocked first level (16 KiB of fault entries) and the zero lv2 table.
  auto lv1 = ctx_.pages().alloc_pages(2);
  if (!lv1.ok()) return std::move(lv1).error();
  auto z = ctx_.pages().alloc_pages(0);
  if (!z.ok()) {
    (void)ctx_.pages().free_pages(*lv1, 2);
    return std::move(z).error();
  }
  if ((*lv1 | *z) >> pa_bits(format())) {
    (void)ctx_.pages().free_pages(*lv1, 2);
    (void)ctx_.pages().free_pages(*z, 0);
    return make_error(Errc::nomem, fmt::format("{}: no table memory below {} bits", name(), pa_bits(format())));
  }
  block_lv1_ = *lv1;
  zero_lv2_ = *z;
  {
    std::lock_guard g(lock_);
    block_locked();  // the boot loader's state is unknown: nothing passes
  }
  live_.store(true, std::memory_order_release);
  inst_.name = dev_.name();
  inst_.dev = &dev_;
  inst_.fwnode = node;
  inst_.ops = this;
  inst_.owner = owner_;
  inst_.driver = "exynos-sysmmu";
  inst_.masters_span_instances = true;
  if (Status s = ctx_.iommu().register_iommu(inst_); !s.ok()) {
    remove();
    return s;
  }
  registered_ = true;
  ctx_.log().info(name(), "Exynos SysMMU {}.{} ({} registers{})", maj_ver(version_), min_ver(version_), var_->name,
                  format() == PtFormat::v5 ? ", 36-bit PA" : "");
  return {};
}

void SysmmuDevice::remove() {
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
  // BEHAVIOUR.md 3: nothing passes once the driver is gone. Linux's
  // shutdown disables the SysMMU (untranslated); here it stays enabled on
  // a first level of fault entries, so every access faults.
  if (io_.valid() && block_lv1_) block_locked();
  live_.store(false, std::memory_order_release);
}

// --- TLB ----------------------------------------------------------------------------

// Linux __sysmmu_tlb_invalidate_entry: v1..v3 one FLUSH_ENTRY per page, v5+
// the range registers.
void SysmmuDevice::flush_entries_locked(uint64_t iova, uint64_t pages) {
  if (maj_ver(version_) < 5 || pages == 1) {
    for (uint64_t i = 0; i < pages; ++i)
      io_.writel(var_->flush_entry, static_cast<uint32_t>(((iova + i * kSpage) & ~(kSpage - 1)) | 1));
    return;
  }
  io_.writel(var_->flush_start, static_cast<uint32_t>(iova & ~(kSpage - 1)));
  io_.writel(var_->flush_end, static_cast<uint32_t>((iova & ~(kSpage - 1)) + (pages - 1) * kSpage));
  io_.writel(var_->flush_range, 1);
}

void SysmmuDevice::flush_range(const ExynosDomain& d, uint64_t iova, uint64_t size) {
  std::lock_guard g(lock_);
  if (!live() || walking_ != &d || !size) return;
  const uint64_t first = iova & ~(kSpage - 1), pages = (iova + size - 1 - first) / kSpage + 1;
  if (!hold_locked()) return;
  if (pages > kMaxFlushEntries && maj_ver(version_) < 5) io_.writel(var_->flush_all, 1);
  else flush_entries_locked(first, pages);
  release_locked();
}

void SysmmuDevice::flush_all(const ExynosDomain& d) {
  std::lock_guard g(lock_);
  if (!live() || walking_ != &d) return;
  if (!hold_locked()) return;
  io_.writel(var_->flush_all, 1);
  release_locked();
}

// Linux sysmmu_tlb_invalidate_flpdcache: 3.3+ cache first-level entries; v5+
// flush everything, v3.3 the entry of the section.
void SysmmuDevice::flush_flpd(const ExynosDomain& d, uint64_t iova) {
  std::lock_guard g(lock_);
  if (!live() || walking_ != &d || version_ < make_ver(3, 3)) return;
  if (!hold_locked()) return;
  if (version_ >= make_ver(5, 0)) io_.writel(var_->flush_all, 1);
  else flush_entries_locked(iova, 1);
  release_locked();
}

// --- interrupts ---------------------------------------------------------------------

// The fault cause `itype` (a bit of int_status): its name, direction and
// the register holding its address (Linux get_fault_info per variant).
const char* SysmmuDevice::fault_name(unsigned itype, bool* write, uint64_t* reg) const {
  if (var_ == &kVariantV1) {
    static constexpr const char* kNames[] = {"PAGE", "MULTI-HIT", "MULTI-HIT", "BUS ERROR", "SECURITY PROTECTION",
                                             "ACCESS PROTECTION", "SECURITY PROTECTION", "ACCESS PROTECTION"};
    static constexpr uint64_t kRegs[] = {REG_PAGE_FAULT_ADDR, REG_AR_FAULT_ADDR, REG_AW_FAULT_ADDR,
                                         REG_DEFAULT_SLAVE_ADDR, REG_AR_FAULT_ADDR, REG_AR_FAULT_ADDR,
                                         REG_AW_FAULT_ADDR, REG_AW_FAULT_ADDR};
    if (itype >= 8) return nullptr;
    *write = itype == 2 || itype == 6 || itype == 7;
    *reg = kRegs[itype];
    return kNames[itype];
  }
  if (var_ == &kVariantV5) {
    static constexpr const char* kNames[] = {"PTW", "PAGE", "MULTI-HIT", "ACCESS PROTECTION", "SECURITY PROTECTION"};
    if (itype < 5) {
      *write = false;
      *reg = REG_V5_FAULT_AR_VA;
      return kNames[itype];
    }
    if (itype >= 16 && itype <= 20) {
      *write = true;
      *reg = REG_V5_FAULT_AW_VA;
      return kNames[itype - 16];
    }
    return nullptr;
  }
  static constexpr const char* kNames[] = {"PTW", "PAGE", "ACCESS PROTECTION", "RESERVED"};
  *write = io_.readl(var_->fault_info) & (1u << 20);
  *reg = var_->fault_va;
  return kNames[itype % 4];
}

// Linux exynos_sysmmu_irq: the lowest pending cause, its address, report to
// the master's domain, clear it, unblock. Every master of this SysMMU hears
// the fault (Linux: data->master).
void SysmmuDevice::fault_irq() {
  std::vector<std::pair<iommu::IommuInstance*, iommu::FaultInfo>> faults;
  {
    std::lock_guard g(lock_);
    if (!live()) return;
    for (int n = 0; n < 32; ++n) {
      const uint32_t st = io_.readl(var_->int_status);
      if (!st) break;
      const unsigned itype = static_cast<unsigned>(std::countr_zero(st));
      bool write = false;
      uint64_t reg = 0;
      const char* what = fault_name(itype, &write, &reg);
      if (!what) {
        ctx_.log().err(name(), "unknown interrupt cause {} (status {:#x})", itype, st);
      } else {
        iommu::FaultInfo f;
        f.iova = io_.readl(reg);
        f.write = write;
        f.stream_id = 0;
        f.reason = fmt::format("SysMMU {} fault", what);
        for (auto& wm : masters_)
          if (auto m = wm.lock(); m && m->inst) faults.emplace_back(m->inst, f);
        if (masters_.empty()) ctx_.log().warn(name(), "{} fault at {:#x} with no master", what, f.iova);
      }
      io_.writel(var_->int_clear, 1u << itype);
    }
    if (state_ != HwState::identity) release_locked();
  }
  for (auto& [inst, f] : faults) ctx_.iommu().report_fault(*inst, f);
}

}  // namespace modiommu::exynos_iommu
