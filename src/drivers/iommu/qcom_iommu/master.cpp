// Masters: the context banks each `iommus` specifier names (#iommu-cells 1,
// Linux qcom_iommu_of_xlate), one group per device, and pointing a
// master's banks at a domain. Locking: qcom_iommu.h.
#include <algorithm>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/qcom_iommu/qcom_iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::qcom_iommu {

namespace {
std::shared_ptr<QcomMaster> master_of(iommu::Fwspec& fwspec) {
  return std::static_pointer_cast<QcomMaster>(fwspec.priv);
}
}  // namespace

Status QcomIommuDevice::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (args.size() != 1)
    return make_error(Errc::inval, fmt::format("{}: incorrect number of iommu params for {} (found {}, expected 1)",
                                               name(), dev.name(), args.size()));
  // Linux: "make sure the asid specified in dt is valid" (1..num_ctxs).
  if (args[0] < 1 || args[0] > num_ctxs_)
    return make_error(Errc::inval, fmt::format("{}: {} names context bank {}, outside 1..{}", name(), dev.name(),
                                               args[0], num_ctxs_));
  auto m = master_of(fwspec);
  if (!m) {
    m = std::make_shared<QcomMaster>();
    m->dev = &dev;
    fwspec.priv = m;
  }
  if (std::find(m->asids.begin(), m->asids.end(), args[0]) == m->asids.end()) m->asids.push_back(args[0]);
  if (std::find(fwspec.ids.begin(), fwspec.ids.end(), args[0]) == fwspec.ids.end()) fwspec.ids.push_back(args[0]);
  return {};
}

Status QcomIommuDevice::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m || m->asids.empty()) return make_error(Errc::inval, dev.name() + ": no context bank");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  for (unsigned a : m->asids)
    if (!bank(a))
      return make_error(Errc::nodev, fmt::format("{}: context bank {} of {} has no bound qcom,msm-iommu-v1-ns/-sec "
                                                 "child", name(), a, dev.name()));
  std::erase_if(masters_, [](auto& w) { return w.expired(); });
  masters_.push_back(m);
  return {};  // its banks block until a domain is attached
}

void QcomIommuDevice::release_device(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return;
  std::lock_guard g(lock_);
  std::erase_if(masters_, [&](auto& w) { auto p = w.lock(); return !p || p == m; });
  // Banks no other master shares go back to blocking: the domain's table
  // may be freed after this.
  for (unsigned a : m->asids) {
    bool shared = false;
    for (auto& wm : masters_)
      if (auto o = wm.lock(); o && std::find(o->asids.begin(), o->asids.end(), a) != o->asids.end()) shared = true;
    if (QcomCtx* c = bank(a); c && !shared && live()) {
      c->domain = nullptr;
      bank_block(*c);
    }
  }
  m->domain = nullptr;
  fwspec.priv.reset();
}

// Linux generic_device_group(): a group per device.
const void* QcomIommuDevice::group_key(Device& /*dev*/, iommu::Fwspec& /*fwspec*/) { return nullptr; }

// Linux qcom_iommu_domain_alloc(): DMA and unmanaged only. A blocked domain
// is the banks on the empty table.
Result<std::unique_ptr<iommu::IommuDomain>> QcomIommuDevice::domain_alloc(iommu::DomainType type) {
  if (type == iommu::DomainType::identity)
    return make_error(Errc::notsup, name() + ": qcom_iommu has no identity domain (DMA and unmanaged only)");
  auto d = std::make_unique<QcomDomain>(type, shared_from_this());
  if (iommu::is_paging(type)) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

// Linux qcom_iommu_attach_dev() / qcom_iommu_init_domain(): every bank the
// master names takes the domain's table. A domain spans one IOMMU.
Status QcomIommuDevice::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<QcomDomain*>(&domain);
  if (!d || d->mmu() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this IOMMU", name(), dev.name()));
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  for (unsigned a : m->asids)
    if (!bank(a)) return make_error(Errc::nodev, fmt::format("{}: context bank {} is gone", name(), a));
  for (unsigned a : m->asids) {
    QcomCtx* c = bank(a);
    if (iommu::is_paging(d->type())) {
      c->domain = d;
      bank_program(*c, *d);
    } else {
      c->domain = nullptr;
      bank_block(*c);
    }
  }
  m->domain = d;
  return {};
}

}  // namespace modiommu::qcom_iommu
