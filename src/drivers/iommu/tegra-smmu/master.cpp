// Masters: the one-cell `iommus` specifier (a swgroup), groups as Linux's
// tegra_smmu_device_group forms them, attaching a master's swgroups to a
// domain (ASIDs allocated per domain), and what a leaving master leaves
// behind. Locking: tegra-smmu.h.
#include <algorithm>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/tegra-smmu/regs.h"
#include "drivers/iommu/tegra-smmu/tegra-smmu.h"
#include "kernel/driver_context.h"

namespace modiommu::tegra_smmu {

namespace {
std::shared_ptr<TegraMaster> master_of(iommu::Fwspec& fwspec) {
  return std::static_pointer_cast<TegraMaster>(fwspec.priv);
}
}  // namespace

// Linux tegra_smmu_of_xlate: the cell is the swgroup, added as the ID.
Status TegraSmmu::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (args.size() != 1)
    return make_error(Errc::inval, fmt::format("{}: iommus specifier for {} has {} cell(s); #iommu-cells must be 1",
                                               name(), dev.name(), args.size()));
  // Linux warns and leaves an unknown swgroup untranslated; here the master
  // does not probe rather than run without isolation.
  if (!find_swgroup(*soc_, args[0]))
    return make_error(Errc::inval, fmt::format("{}: {} names swgroup {}, which {} has no ASID register for", name(),
                                               dev.name(), args[0], soc_->name));
  auto m = master_of(fwspec);
  if (!m) {
    m = std::make_shared<TegraMaster>();
    m->dev = &dev;
    fwspec.priv = m;
  }
  m->swgroups.push_back(args[0]);
  fwspec.ids.push_back(args[0]);
  return {};
}

Status TegraSmmu::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": no iommus specifier was translated");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  std::erase_if(masters_, [](auto& w) { return w.expired(); });
  masters_.push_back(m);
  return {};
}

void TegraSmmu::release_device(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return;
  std::lock_guard g(lock_);
  std::erase_if(masters_, [&](auto& w) {
    auto p = w.lock();
    return !p || p == m;
  });
  // The master is gone: its swgroups fault from now on.
  if (live())
    for (uint32_t s : m->swgroups) block_swgroup(s);
  put_domain(m->domain);
  m->domain = nullptr;
  fwspec.priv.reset();
}

// Linux tegra_smmu_device_group: swgroups of one SoC group (e.g. the two
// display controllers) share an IOMMU group; otherwise one per swgroup.
const void* TegraSmmu::group_key(Device& /*dev*/, iommu::Fwspec& fwspec) {
  if (fwspec.ids.empty()) return nullptr;
  const unsigned swgroup = fwspec.ids[0];
  if (const SwgroupGroup* grp = find_group(*soc_, swgroup))
    return &group_keys_[static_cast<size_t>(grp - soc_->groups.data())];
  return &group_keys_[soc_->groups.size() + (swgroup & 0xff)];
}

Result<std::unique_ptr<iommu::IommuDomain>> TegraSmmu::domain_alloc(iommu::DomainType type) {
  auto d = std::make_unique<TegraDomain>(type, shared_from_this());
  if (iommu::is_paging(type)) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

// Linux tegra_smmu_as_prepare: the first user gets an ASID and its PTB.
Status TegraSmmu::get_domain(TegraDomain& d) {
  if (d.asid < 0) {
    const auto it = std::find(asids_.begin(), asids_.end(), false);
    if (it == asids_.end())
      return make_error(Errc::nospc, fmt::format("{}: all {} ASIDs are in use", name(), soc_->num_asids - 1));
    d.asid = static_cast<int>(it - asids_.begin());
    *it = true;
    // A new directory: no stale table words, no stale translations of a
    // previous user of the ASID.
    regs_.writel(SMMU_PTC_FLUSH, 0);
    tlb_flush_locked(TLB_FLUSH_ASID_MATCH | TlbFlushAsid::prep(static_cast<uint32_t>(d.asid)) | TLB_FLUSH_MATCH_ALL);
    set_ptb(static_cast<unsigned>(d.asid), d.ptb_data());
  }
  ++d.users;
  return {};
}

// Linux tegra_smmu_as_unprepare: the last user frees the ASID.
void TegraSmmu::put_domain(TegraDomain* d) {
  if (!d || !d->users) return;
  if (--d->users) return;
  if (d->asid >= 0) {
    asids_[static_cast<size_t>(d->asid)] = false;
    if (live()) set_ptb(static_cast<unsigned>(d->asid), 0);
  }
  d->asid = -1;
}

// Linux tegra_smmu_attach_dev / tegra_smmu_identity_attach; every swgroup
// of the master moves with one ASID register write (hitless).
Status TegraSmmu::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<TegraDomain*>(&domain);
  if (!d || d->owner() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this SMMU", name(), dev.name()));
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  TegraDomain* old = m->domain;
  if (old == d) return {};
  switch (d->type()) {
    case iommu::DomainType::identity:
      for (uint32_t s : m->swgroups) disable_swgroup(s);
      m->domain = nullptr;
      break;
    case iommu::DomainType::blocked:
      for (uint32_t s : m->swgroups) block_swgroup(s);
      m->domain = nullptr;
      break;
    default: {
      TRY(get_domain(*d));
      for (uint32_t s : m->swgroups) enable_swgroup(s, static_cast<unsigned>(d->asid));
      m->domain = d;
      break;
    }
  }
  put_domain(old);
  return {};
}

void TegraSmmu::domain_freed(TegraDomain& d) {
  std::lock_guard g(lock_);
  unsigned users = 0;
  for (auto& wm : masters_)
    if (auto m = wm.lock(); m && m->domain == &d) {
      if (live())
        for (uint32_t s : m->swgroups) block_swgroup(s);
      m->domain = nullptr;
      ++users;
    }
  if (users) ctx_.log().err(name(), "domain freed while {} master(s) still use it: their DMA faults from now on", users);
  if (d.users) {  // the ASID goes with the domain
    d.users = 1;
    put_domain(&d);
  }
}

}  // namespace modiommu::tegra_smmu
