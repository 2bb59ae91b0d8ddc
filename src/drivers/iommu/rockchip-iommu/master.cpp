// Masters: the empty `iommus` specifier (#iommu-cells = <0>), one group
// per IOMMU (Linux 6.1 rk_iommu_device_group), attaching a master's IOMMU
// to a domain, and what happens when the last master leaves. Locking:
// rockchip-iommu.h.
#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/rockchip-iommu/regs.h"
#include "drivers/iommu/rockchip-iommu/rockchip-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::rockchip_iommu {

namespace {
std::shared_ptr<RkMaster> master_of(iommu::Fwspec& fwspec) { return std::static_pointer_cast<RkMaster>(fwspec.priv); }
}  // namespace

Status RkIommuDevice::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (!args.empty())
    return make_error(Errc::inval, fmt::format("{}: iommus specifier for {} has {} cell(s); #iommu-cells must be 0",
                                               name(), dev.name(), args.size()));
  if (!master_of(fwspec)) {
    auto m = std::make_shared<RkMaster>();
    m->dev = &dev;
    fwspec.priv = m;
  }
  // No stream IDs on this bus: every master of the IOMMU is ID 0.
  if (fwspec.ids.empty()) fwspec.ids.push_back(0);
  return {};
}

Status RkIommuDevice::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": no iommus specifier was translated");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  std::erase_if(masters_, [](auto& w) { return w.expired(); });
  masters_.push_back(m);
  return {};
}

void RkIommuDevice::release_device(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return;
  std::lock_guard g(lock_);
  std::erase_if(masters_, [&](auto& w) {
    auto p = w.lock();
    return !p || p == m;
  });
  m->domain = nullptr;
  fwspec.priv.reset();
  // The last master is gone: nothing behind this IOMMU may reach memory.
  if (masters_.empty() && live() && state_ != HwState::blocked) {
    Status s = block();
    if (!s.ok()) ctx_.log().err(name(), "blocking after the last master left: {}", s.error().message);
  }
}

// Every master behind one IOMMU shares its banks and its directory, so they
// share one group (Linux 6.1 rk_iommu_device_group; 6.12 gives each device
// its own group, letting two masters of one IOMMU pull it between domains).
const void* RkIommuDevice::group_key(Device& /*dev*/, iommu::Fwspec& /*fwspec*/) { return this; }

Result<std::unique_ptr<iommu::IommuDomain>> RkIommuDevice::domain_alloc(iommu::DomainType type) {
  auto d = std::make_unique<RkDomain>(type, shared_from_this());
  if (iommu::is_paging(type)) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

// Linux rk_iommu_attach_device / rk_iommu_identity_attach: the IOMMU, not
// the master, is attached; attaching the domain it already walks is free.
Status RkIommuDevice::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<RkDomain*>(&domain);
  if (!d || d->owner() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this IOMMU", name(), dev.name()));
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  Status s;
  switch (d->type()) {
    case iommu::DomainType::identity:
      if (state_ != HwState::identity) disable();
      break;
    case iommu::DomainType::blocked:
      if (state_ != HwState::blocked) s = block();
      break;
    default:
      if (state_ == HwState::paging && walking_ == d) break;
      s = program(d->dte_addr(), state_ == HwState::identity);
      if (s.ok()) {
        state_ = HwState::paging;
        walking_ = d;
      } else if (Status b = block(); !b.ok()) {
        ctx_.log().err(name(), "blocking after a failed attach: {}", b.error().message);
      }
      break;
  }
  if (!s.ok()) return s;
  m->domain = d;
  return {};
}

void RkIommuDevice::domain_freed(RkDomain& d) {
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

void RkIommuDevice::zap_lines(const RkDomain& d, uint64_t iova, uint64_t size) {
  std::lock_guard g(lock_);
  if (!live() || walking_ != &d || !size) return;
  const uint64_t first = iova & ~(kPage - 1), pages = (iova + size - 1 - first) / kPage + 1;
  for (const IoMem& b : banks_) {
    if (pages > kMaxZapLines) {
      b.writel(MMU_COMMAND, CMD_ZAP_CACHE);
      continue;
    }
    for (uint64_t i = 0; i < pages; ++i) b.writel(MMU_ZAP_ONE_LINE, static_cast<uint32_t>(first + i * kPage));
  }
}

void RkIommuDevice::zap_all(const RkDomain& d) {
  std::lock_guard g(lock_);
  if (!live() || walking_ != &d) return;
  for (const IoMem& b : banks_) b.writel(MMU_COMMAND, CMD_ZAP_CACHE);
}

}  // namespace modiommu::rockchip_iommu
