// Masters: `iommus` port IDs (MTK_M4U_ID), the one-larb rule, groups as
// Linux forms them (one per bank, else one per IOMMU: all clients share the
// M4U's table) and routing a master's ports through its larb.
// Locking: mtk_iommu.h.
#include <algorithm>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/mtk_iommu/mtk_iommu.h"
#include "drivers/iommu/mtk_iommu/regs.h"
#include "kernel/driver_context.h"

namespace modiommu::mtk_iommu {

namespace {
std::shared_ptr<MtkMaster> master_of(iommu::Fwspec& fwspec) {
  return std::static_pointer_cast<MtkMaster>(fwspec.priv);
}
}  // namespace

// Linux mtk_iommu_of_xlate(): exactly one cell, the port ID.
Status MtkIommu::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (args.size() != 1)
    return make_error(Errc::inval, fmt::format("{}: invalid #iommu-cells({}) property for IOMMU (from {})", name(),
                                               args.size(), dev.name()));
  auto m = master_of(fwspec);
  if (!m) {
    m = std::make_shared<MtkMaster>();
    m->dev = &dev;
    fwspec.priv = m;
  }
  m->ids.push_back(args[0]);
  if (std::find(fwspec.ids.begin(), fwspec.ids.end(), args[0]) == fwspec.ids.end()) fwspec.ids.push_back(args[0]);
  return {};
}

// Linux mtk_iommu_probe_device() + mtk_iommu_get_bank_id(). The device link
// Linux adds from the master to its larb is not made: the larbs have no
// driver here (their enables are programmed by this driver), and a link to
// an unbound supplier would keep the master from probing.
Status MtkIommu::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m || m->ids.empty()) return make_error(Errc::inval, dev.name() + ": no M4U port IDs");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  m->larb = m4u_to_larb(m->ids[0]);
  m->portmsk = 0;
  for (uint32_t id : m->ids) {
    if (plat_.mm && m4u_to_larb(id) != m->larb)
      return make_error(Errc::inval, fmt::format("{}: can only use one larb: larb {} and larb {}", dev.name(), m->larb,
                                                 m4u_to_larb(id)));
    m->portmsk |= 1u << m4u_to_port(id);
  }
  if (plat_.mm && (m->larb >= kLarbMax || !larbs_[m->larb].node))
    return make_error(Errc::inval, fmt::format("{}: port ID {:#x} of {} names larb {}, which {} does not list in "
                                               "mediatek,larbs", name(), m->ids[0], dev.name(), m->larb, name()));
  m->bank = 0;
  if (plat_.banks > 1)
    for (unsigned b = 0; b < plat_.banks; ++b)
      if (plat_.bank_enable[b] && (m->portmsk & plat_.bank_portmsk[b])) {
        m->bank = b;
        break;
      }
  std::erase_if(masters_, [](auto& w) { return w.expired(); });
  masters_.push_back(m);
  return {};
}

void MtkIommu::release_device(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return;
  std::lock_guard g(lock_);
  // The ports stay routed to the M4U (Linux leaves the larb bits too): with
  // no domain of theirs they fault instead of reaching memory.
  if (plat_.mm && m->larb < kLarbMax && larbs_[m->larb].node) {
    Larb& l = larbs_[m->larb];
    if (live()) larb_write(l, l.mmu | m->portmsk);
  }
  if (m->domain) m->domain->attached--;
  m->domain = nullptr;
  std::erase_if(masters_, [&](auto& w) { auto p = w.lock(); return !p || p == m; });
  fwspec.priv.reset();
}

// Linux mtk_iommu_device_group(): a group per bank (banks > 0), else per
// IOVA region; this driver uses region 0 only, so every master of bank 0
// shares one group.
const void* MtkIommu::group_key(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return nullptr;
  std::lock_guard g(lock_);
  auto& tok = groups_[m->bank];
  if (!tok) tok = std::make_shared<int>(static_cast<int>(m->bank));
  return tok.get();
}

// Linux mtk_iommu has no blocked domain; the Linux IOMMU core then blocks a
// group with a paging domain that maps nothing. So here: a blocked domain
// is an empty table, attached like a paging one (the group is the bank's).
Result<std::unique_ptr<iommu::IommuDomain>> MtkIommu::domain_alloc(iommu::DomainType type) {
  auto d = std::make_unique<MtkDomain>(type, shared_from_this());
  if (iommu::is_paging(type) || type == iommu::DomainType::blocked) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

// Linux mtk_iommu_config(): the larb routes the master's ports through the
// M4U (enable) or straight to memory (identity).
void MtkIommu::config(MtkMaster& m, bool enable) {
  if (!plat_.mm || m.larb >= kLarbMax || !larbs_[m.larb].node) return;
  Larb& l = larbs_[m.larb];
  larb_write(l, enable ? (l.mmu | m.portmsk) : (l.mmu & ~m.portmsk));
}

Status MtkIommu::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<MtkDomain*>(&domain);
  if (!d || d->m4u() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this M4U", name(), dev.name()));
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  if (d->type() == iommu::DomainType::identity) {
    if (!plat_.mm)
      return make_error(Errc::notsup, fmt::format("{}: identity for {} needs the PERICFG enables (not modelled)",
                                                  name(), dev.name()));
    config(*m, false);
  } else {
    // Linux mtk_iommu_attach_device(): the bank's table is the domain's.
    // The table goes in before the larb sends the ports here.
    if (bank_dom_[m->bank] != d) {
      regs_.writel(bank_base(m->bank) + REG_MMU_PT_BASE_ADDR, d->ttbr());
      bank_dom_[m->bank] = d;
      flush_all_locked();
    }
    config(*m, true);
  }
  if (m->domain) m->domain->attached--;
  d->attached++;
  m->domain = d;
  return {};
}

void MtkIommu::domain_gone(MtkDomain& d) {
  std::lock_guard g(lock_);
  if (d.attached)
    ctx_.log().err(name(), "domain freed while {} master(s) still use it: their DMA faults from now on", d.attached);
  for (auto& wm : masters_)
    if (auto m = wm.lock(); m && m->domain == &d) {
      m->domain = nullptr;
      config(*m, true);
    }
  d.attached = 0;
  for (unsigned b = 0; b < plat_.banks; ++b) {
    if (bank_dom_[b] != &d) continue;
    bank_dom_[b] = nullptr;
    // No walk may reach the table freed next: the bank blocks.
    if (live()) regs_.writel(bank_base(b) + REG_MMU_PT_BASE_ADDR, 0);
  }
  if (live()) flush_all_locked();
}

}  // namespace modiommu::mtk_iommu
