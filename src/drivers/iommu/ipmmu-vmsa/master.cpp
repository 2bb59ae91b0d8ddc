// Masters: the micro-TLB each `iommus` specifier names (#iommu-cells 1),
// the allowlist policy, one group per IPMMU instance, and pointing a
// master's micro-TLBs at a domain. Locking: ipmmu-vmsa.h.
#include <algorithm>

#include <fmt/format.h>

#include "core/device.h"
#include "core/pci.h"
#include "drivers/iommu/ipmmu-vmsa/ipmmu-vmsa.h"
#include "drivers/iommu/ipmmu-vmsa/regs.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::ipmmu {

namespace {
std::shared_ptr<IpmmuMaster> master_of(iommu::Fwspec& fwspec) {
  return std::static_pointer_cast<IpmmuMaster>(fwspec.priv);
}
}  // namespace

Status IpmmuDevice::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  if (args.size() != 1)
    return make_error(Errc::inval, fmt::format("{}: iommus specifier for {} has {} cells, #iommu-cells must be 1",
                                               name(), dev.name(), args.size()));
  auto m = master_of(fwspec);
  if (!m) {
    m = std::make_shared<IpmmuMaster>();
    m->dev = &dev;
    fwspec.priv = m;
  }
  if (std::find(m->utlbs.begin(), m->utlbs.end(), args[0]) == m->utlbs.end()) m->utlbs.push_back(args[0]);
  if (std::find(fwspec.ids.begin(), fwspec.ids.end(), args[0]) == fwspec.ids.end()) fwspec.ids.push_back(args[0]);
  return {};
}

// lock_ held. IMUASID 0 and a flush, as Linux ipmmu_utlb_enable().
void IpmmuDevice::utlb_point(unsigned u, int ctx) {
  if (ctx < 0) {
    regs_.writel(utlb_reg(imuctr(u)), 0);
    return;
  }
  regs_.writel(utlb_reg(imuasid(u)), 0);
  regs_.writel(utlb_reg(imuctr(u)), IMUCTR_TTSEL::prep(unsigned(ctx)) | IMUCTR_FLUSH | IMUCTR_MMUEN);
}

Status IpmmuDevice::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m || m->utlbs.empty()) return make_error(Errc::inval, dev.name() + ": no micro-TLB");
  // Linux ipmmu_of_xlate(): a device the policy does not allow gets -ENODEV
  // and runs without the IPMMU.
  const of::Tree* tree = ctx_.tree();
  std::string refusal = tree ? policy_refusal(*tree, dev, to_pci(&dev) != nullptr, attach_all_) : "";
  if (!refusal.empty()) {
    fwspec.declined = "ipmmu-vmsa: " + refusal;
    fwspec.priv.reset();
    return make_error(Errc::nodev, fwspec.declined);
  }
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  for (unsigned u : m->utlbs)
    if (u >= feat_.num_utlbs)
      return make_error(Errc::inval, fmt::format("{}: micro-TLB {} of {} is out of range ({} micro-TLBs)", name(), u,
                                                 dev.name(), feat_.num_utlbs));
  // Blocked until a domain is attached.
  for (unsigned u : m->utlbs) {
    utlb_used_[u] = true;
    utlb_point(u, static_cast<int>(feat_.block_context));
  }
  std::erase_if(masters_, [](auto& w) { return w.expired(); });
  masters_.push_back(m);
  return {};
}

void IpmmuDevice::release_device(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return;
  std::lock_guard g(lock_);
  std::erase_if(masters_, [&](auto& w) { auto p = w.lock(); return !p || p == m; });
  // Micro-TLBs no other master shares go to the block context: off would
  // let DMA through untranslated.
  for (unsigned u : m->utlbs) {
    bool shared = false;
    for (auto& wm : masters_)
      if (auto o = wm.lock(); o && std::find(o->utlbs.begin(), o->utlbs.end(), u) != o->utlbs.end()) shared = true;
    if (!shared && live() && u < feat_.num_utlbs) utlb_point(u, static_cast<int>(feat_.block_context));
  }
  if (m->domain) m->domain->attached--;
  m->domain = nullptr;
  fwspec.priv.reset();
}

// Linux ipmmu_find_group(): one group per IPMMU instance.
const void* IpmmuDevice::group_key(Device& /*dev*/, iommu::Fwspec& /*fwspec*/) { return this; }

Result<std::unique_ptr<iommu::IommuDomain>> IpmmuDevice::domain_alloc(iommu::DomainType type) {
  auto d = std::make_unique<IpmmuDomain>(type, shared_from_this());
  if (iommu::is_paging(type)) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

// Linux ipmmu_attach_device() / ipmmu_iommu_identity_attach(): a paging
// domain's context, or the micro-TLBs off (identity), or the block context.
Status IpmmuDevice::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<IpmmuDomain*>(&domain);
  if (!d || d->mmu() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this IPMMU", name(), dev.name()));
  auto m = master_of(fwspec);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  int ctx = static_cast<int>(feat_.block_context);
  if (d->type() == iommu::DomainType::identity) ctx = -1;
  else if (iommu::is_paging(d->type())) ctx = d->context();
  // One IMUCTR store per micro-TLB: each sees the old or the new context.
  for (unsigned u : m->utlbs) utlb_point(u, ctx);
  if (m->domain) m->domain->attached--;
  d->attached++;
  m->domain = d;
  return {};
}

void IpmmuDevice::detach_all(IpmmuDomain& d) {
  std::lock_guard g(lock_);
  if (!d.attached) return;
  ctx_.log().err(name(), "domain freed while {} master(s) still use it: their micro-TLBs block from now on", d.attached);
  for (auto& wm : masters_) {
    auto m = wm.lock();
    if (!m || m->domain != &d) continue;
    m->domain = nullptr;
    if (live())
      for (unsigned u : m->utlbs) utlb_point(u, static_cast<int>(feat_.block_context));
  }
  d.attached = 0;
}

}  // namespace modiommu::ipmmu
