// Masters: the empty `iommus` specifier (#iommu-cells = <0>), every SysMMU
// a master names (Linux exynos_iommu_of_xlate adds each to the owner's
// controllers), a group per device (Linux generic_device_group), and
// attaching all of a master's SysMMUs to its domain. Locking:
// exynos-iommu.h.
#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/exynos-iommu/exynos-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::exynos_iommu {

namespace {
std::shared_ptr<ExynosMaster> master_of(iommu::Fwspec& fwspec) {
  return std::static_pointer_cast<ExynosMaster>(fwspec.priv);
}
}  // namespace

// Called on each SysMMU the master names, in `iommus` order.
Status SysmmuDevice::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (!args.empty())
    return make_error(Errc::inval, fmt::format("{}: iommus specifier for {} has {} cell(s); #iommu-cells must be 0",
                                               name(), dev.name(), args.size()));
  auto m = master_of(fwspec);
  if (!m) {
    m = std::make_shared<ExynosMaster>();
    m->dev = &dev;
    fwspec.priv = m;
  }
  auto self = shared_from_this();
  for (auto& c : m->controllers)
    if (c == self) return {};
  if (!m->controllers.empty() && m->controllers.front()->format() != format())
    return make_error(Errc::inval, fmt::format("{}: {} names SysMMUs of both table formats ({} is v{}, {} v{}); "
                                               "Linux supports one for the whole system", name(), dev.name(),
                                               m->controllers.front()->name(),
                                               m->controllers.front()->format() == PtFormat::v1 ? 1 : 5, name(),
                                               format() == PtFormat::v1 ? 1 : 5));
  m->controllers.push_back(std::move(self));
  // No stream IDs: every master is ID 0 of its SysMMU.
  if (fwspec.ids.empty()) fwspec.ids.push_back(0);
  return {};
}

Status SysmmuDevice::master_joins(const std::shared_ptr<ExynosMaster>& m) {
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  std::erase_if(masters_, [](auto& w) { return w.expired(); });
  if (!masters_.empty())
    ctx_.log().warn(name(), "a second master ({}) behind this SysMMU: Linux gives each SysMMU one master; they "
                    "share whichever domain was attached last", m->dev->name());
  masters_.push_back(m);
  return {};
}

void SysmmuDevice::master_gone(const std::shared_ptr<ExynosMaster>& m) {
  std::lock_guard g(lock_);
  std::erase_if(masters_, [&](auto& w) {
    auto p = w.lock();
    return !p || p == m;
  });
  // The last master is gone: nothing behind this SysMMU may reach memory.
  if (masters_.empty() && live() && state_ != HwState::blocked) block_locked();
}

Status SysmmuDevice::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m || m->controllers.empty()) return make_error(Errc::inval, dev.name() + ": no iommus specifier was translated");
  m->inst = fwspec.iommu;
  for (size_t i = 0; i < m->controllers.size(); ++i)
    if (Status s = m->controllers[i]->master_joins(m); !s.ok()) {
      for (size_t j = 0; j < i; ++j) m->controllers[j]->master_gone(m);
      return s;
    }
  return {};
}

void SysmmuDevice::release_device(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return;
  for (auto& c : m->controllers) c->master_gone(m);
  m->domain = nullptr;
  fwspec.priv.reset();
}

// Linux generic_device_group: a group per device.
const void* SysmmuDevice::group_key(Device& /*dev*/, iommu::Fwspec& /*fwspec*/) { return nullptr; }

Result<std::unique_ptr<iommu::IommuDomain>> SysmmuDevice::domain_alloc(iommu::DomainType type) {
  auto d = std::make_unique<ExynosDomain>(type, shared_from_this());
  if (iommu::is_paging(type)) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

Status SysmmuDevice::set_domain(ExynosDomain* d) {
  const bool paging = d && iommu::is_paging(d->type());
  if (paging) {
    if (d->format() != format())
      return make_error(Errc::inval, fmt::format("{}: a v{} domain cannot be walked by this SysMMU", name(),
                                                 d->format() == PtFormat::v1 ? 1 : 5));
    d->add_client(shared_from_this());  // before the hardware walks it: flushes reach it
  }
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  if (!d || d->type() == iommu::DomainType::blocked) {
    if (state_ != HwState::blocked) block_locked();
  } else if (d->type() == iommu::DomainType::identity) {
    if (state_ != HwState::identity) disable_locked();
  } else if (state_ != HwState::paging || walking_ != d) {
    enable_locked(d->lv1());
    state_ = HwState::paging;
    walking_ = d;
  }
  return {};
}

// Linux exynos_iommu_attach_device: every SysMMU of the master gets the domain.
Status SysmmuDevice::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<ExynosDomain*>(&domain);
  if (!d) return make_error(Errc::inval, fmt::format("{}: domain for {} is not an Exynos domain", name(), dev.name()));
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  for (auto& c : m->controllers)
    if (Status s = c->set_domain(d); !s.ok()) {
      for (auto& b : m->controllers) (void)b->set_domain(nullptr);  // none of them half-attached
      m->domain = nullptr;
      return s;
    }
  m->domain = d;
  return {};
}

void SysmmuDevice::domain_freed(const ExynosDomain& d) {
  std::lock_guard g(lock_);
  unsigned users = 0;
  for (auto& wm : masters_)
    if (auto m = wm.lock(); m && m->domain == &d) {
      m->domain = nullptr;
      ++users;
    }
  if (users) ctx_.log().err(name(), "domain freed while {} master(s) still use it: their DMA faults from now on", users);
  if (live() && state_ == HwState::paging && walking_ == &d) block_locked();
}

}  // namespace modiommu::exynos_iommu
