// Masters: the one-cell `iommus` specifier (the master ID, 0..5), one group
// per IOMMU (Linux sun50i_iommu_device_group), attaching the IOMMU to a
// domain, and what happens when the last master leaves. Locking:
// sun50i-iommu.h.
#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/sun50i-iommu/regs.h"
#include "drivers/iommu/sun50i-iommu/sun50i-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::sun50i_iommu {

namespace {
std::shared_ptr<Sun50iMaster> master_of(iommu::Fwspec& fwspec) {
  return std::static_pointer_cast<Sun50iMaster>(fwspec.priv);
}
}  // namespace

// Linux sun50i_iommu_of_xlate: the cell is the master ID.
Status Sun50iIommuDevice::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (args.size() != 1)
    return make_error(Errc::inval, fmt::format("{}: iommus specifier for {} has {} cell(s); #iommu-cells must be 1",
                                               name(), dev.name(), args.size()));
  // Linux takes any value; the block has six master ports (INT_STA [5:0]).
  if (args[0] >= kMasters)
    return make_error(Errc::inval, fmt::format("{}: master ID {} for {} is beyond the {} masters of the IOMMU",
                                               name(), args[0], dev.name(), kMasters));
  auto m = master_of(fwspec);
  if (!m) {
    m = std::make_shared<Sun50iMaster>();
    m->dev = &dev;
    fwspec.priv = m;
  }
  m->ids |= 1u << args[0];
  if (std::find(fwspec.ids.begin(), fwspec.ids.end(), args[0]) == fwspec.ids.end()) fwspec.ids.push_back(args[0]);
  return {};
}

Status Sun50iIommuDevice::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": no iommus specifier was translated");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  std::erase_if(masters_, [](auto& w) { return w.expired(); });
  masters_.push_back(m);
  return {};
}

void Sun50iIommuDevice::release_device(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return;
  std::lock_guard g(lock_);
  std::erase_if(masters_, [&](auto& w) {
    auto p = w.lock();
    return !p || p == m;
  });
  m->domain = nullptr;
  fwspec.priv.reset();
  if (!live()) return;
  Status s;
  if (masters_.empty() && state_ != HwState::blocked) {
    // The last master is gone: nothing behind this IOMMU may reach memory.
    s = block();
  } else if (state_ == HwState::identity) {
    // Its bypass bits go with it.
    uint32_t bypass = 0;
    for (auto& wm : masters_)
      if (auto p = wm.lock()) bypass |= p->ids;
    regs_.writel(IOMMU_BYPASS_REG, bypass);
  }
  if (!s.ok()) ctx_.log().err(name(), "blocking after a master left: {}", s.error().message);
}

// Every master behind one IOMMU shares its directory: one group (Linux
// sun50i_iommu_device_group returns the IOMMU's group).
const void* Sun50iIommuDevice::group_key(Device& /*dev*/, iommu::Fwspec& /*fwspec*/) { return this; }

Result<std::unique_ptr<iommu::IommuDomain>> Sun50iIommuDevice::domain_alloc(iommu::DomainType type) {
  auto d = std::make_unique<Sun50iDomain>(type, shared_from_this());
  if (iommu::is_paging(type)) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

// Linux sun50i_iommu_attach_device: the IOMMU, not the master, is attached;
// attaching the domain it already walks is free.
Status Sun50iIommuDevice::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<Sun50iDomain*>(&domain);
  if (!d || d->owner() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this IOMMU", name(), dev.name()));
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  Status s;
  switch (d->type()) {
    case iommu::DomainType::identity: {
      // The masters of the group that are in the identity domain bypass.
      uint32_t bypass = m->ids;
      if (state_ == HwState::identity)
        for (auto& wm : masters_)
          if (auto p = wm.lock(); p && p->domain && p->domain->type() == iommu::DomainType::identity) bypass |= p->ids;
      s = program(static_cast<uint32_t>(block_dt_), bypass);
      if (s.ok()) {
        state_ = HwState::identity;
        walking_ = nullptr;
      }
      break;
    }
    case iommu::DomainType::blocked:
      if (state_ != HwState::blocked) s = block();
      break;
    default:
      if (state_ == HwState::paging && walking_ == d) break;
      s = program(d->ttb(), 0);
      if (s.ok()) {
        state_ = HwState::paging;
        walking_ = d;
      }
      break;
  }
  if (!s.ok()) {
    if (Status b = block(); !b.ok()) ctx_.log().err(name(), "blocking after a failed attach: {}", b.error().message);
    return s;
  }
  m->domain = d;
  return {};
}

void Sun50iIommuDevice::domain_freed(Sun50iDomain& d) {
  std::lock_guard g(lock_);
  unsigned users = 0;
  for (auto& wm : masters_)
    if (auto m = wm.lock(); m && m->domain == &d) {
      m->domain = nullptr;
      ++users;
    }
  if (users) ctx_.log().err(name(), "domain freed while {} master(s) still use it: their DMA faults from now on", users);
  if (live() && state_ == HwState::paging && walking_ == &d) {
    Status s = block();
    if (!s.ok()) ctx_.log().err(name(), "blocking a freed domain: {}", s.error().message);
  }
}

void Sun50iIommuDevice::zap_range(const Sun50iDomain& d, uint64_t iova, uint64_t size) {
  std::lock_guard g(lock_);
  if (!live() || walking_ != &d || !size) return;
  zap_locked(iova, size);
}

void Sun50iIommuDevice::flush_all(const Sun50iDomain& d) {
  std::lock_guard g(lock_);
  if (!live() || walking_ != &d) return;
  if (Status s = flush_all_locked(); !s.ok()) ctx_.log().warn(name(), "{}", s.error().message);
}

}  // namespace modiommu::sun50i_iommu
