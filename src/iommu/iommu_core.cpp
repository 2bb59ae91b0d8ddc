#include "iommu/iommu_core.h"

#include <algorithm>

#include "base/fault_inject.h"
#include "core/owner.h"
#include "core/pci.h"
#include "of/tree.h"

namespace modiommu::iommu {

IommuCore::IommuCore(DriverCore& core, Log& log) : core_(core), log_(log) {}

IommuCore::~IommuCore() = default;

void IommuCore::set_policy(IommuPolicy p) {
  std::lock_guard g(lock_);
  policy_ = std::move(p);
}

IommuInstance* IommuCore::find_iommu(const of::Node* fwnode) const {
  std::lock_guard g(lock_);
  return find_iommu_locked(fwnode);
}

IommuInstance* IommuCore::find_iommu_locked(const of::Node* fwnode) const {
  for (IommuInstance* i : instances_)
    if (i->fwnode == fwnode) return i;
  return nullptr;
}

std::vector<IommuInstance*> IommuCore::iommus() const {
  std::lock_guard g(lock_);
  return instances_;
}

DeviceIommu* IommuCore::device_iommu(const Device& dev) const {
  // iommu_data is set by this core only, always to a DeviceIommu.
  return static_cast<DeviceIommu*>(dev.iommu_data.get());
}

IommuDomain* IommuCore::device_domain(const Device& dev) const {
  DeviceIommu* di = device_iommu(dev);
  return di && di->group ? di->group->domain : nullptr;
}

// --- registration -----------------------------------------------------------------

Status IommuCore::register_iommu(IommuInstance& inst) {
  std::vector<Device*> movers;
  Status reg = core_.exclusive([&]() -> Status {
    std::lock_guard g(lock_);
    if (!inst.dev || !inst.fwnode || !inst.ops)
      return make_error(Errc::inval, "IOMMU registration needs a device, a firmware node and ops");
    for (IommuInstance* i : instances_)
      if (i->fwnode == inst.fwnode) return make_error(Errc::exist, "an IOMMU is already registered for " + inst.fwnode->path());
    instances_.push_back(&inst);
    log_.info(inst.name, "IOMMU registered (driver {})", inst.driver);
    for (Device* d : core_.devices()) {
      DeviceIommu* di = device_iommu(*d);
      if (di && di->bypass_fallback && di->fallback_iommu == inst.fwnode) movers.push_back(d);
      // bus_iommu_probe(): PCI devices added before this IOMMU (or released
      // when it last went) join their groups now, bound or not.
      if (!di && to_pci(d)) {
        Status s = probe_pci_locked(*d);
        if (!s.ok()) log_.warn(d->name(), "joining its IOMMU group on {}: {}", inst.name, s.error().message);
      }
    }
    return {};
  });
  if (!reg.ok()) return reg;
  // BEHAVIOUR.md 1: a device that fell back to running without this IOMMU
  // is moved under it: unbound now, re-probed (and attached) once the IOMMU's
  // device has finished binding.
  for (Device* d : movers) {
    log_.warn(d->name(), "its IOMMU {} has arrived: unbinding to move it under the IOMMU", inst.name);
    core_.requeue_after(*d, *inst.dev, "moving under IOMMU " + inst.name);
  }
  core_.kick(WaitKey::fwnode(inst.fwnode));
  return {};
}

void IommuCore::unregister_iommu(IommuInstance& inst) {
  (void)core_.exclusive([&]() -> Status {
    std::lock_guard g(lock_);
    for (Device* d : core_.devices()) {
      DeviceIommu* di = device_iommu(*d);
      if (!di) continue;
      if (di->fwspec.iommu != &inst &&
          std::find(di->fwspec.more.begin(), di->fwspec.more.end(), &inst) == di->fwspec.more.end())
        continue;
      // Unbound PCI devices (ports, driverless functions) are still in their
      // groups by design: they leave now and rejoin when it registers again.
      if (di->probed && d->state() == DeviceState::bound)
        log_.err(d->name(), "still attached to {} at unregister: released now (its device link should have unbound it)",
                 inst.name);
      release_locked(*d, *di);
      d->iommu_data.reset();
    }
    std::erase(instances_, &inst);
    log_.info(inst.name, "IOMMU unregistered");
    return {};
  });
}

// --- probe policy -------------------------------------------------------------------

Device* IommuCore::iommu_device(const of::Node* node) const {
  auto devs = core_.fwnode_devices(node);
  return devs.empty() ? nullptr : devs.back();
}

bool IommuCore::iommu_may_appear(const of::Node* node, std::string* why) const {
  Device* idev = iommu_device(node);
  if (!idev) {
    if (why) *why = "the IOMMU node " + node->path() + " has no device";
    return false;
  }
  if (why) *why = core_.availability(*idev);
  return core_.driver_may_appear(*idev);
}

// A probe waiting for the IOMMU of `node` is retried when it registers, when
// the device that would register it binds or fails, and when module sources
// become final (then none may appear any more).
void IommuCore::record_iommu_wait(Device& dev, const of::Node* node) {
  dev.record_wait(WaitKey::fwnode(node));
  if (Device* idev = iommu_device(node)) dev.record_wait(WaitKey::device(idev));
  if (!core_.sources_final()) dev.record_wait(WaitKey::event(WaitEvent::sources_final));
}

// BEHAVIOUR.md 5: the legacy binding relied on every SMMU binding before any
// master (initcall order gave that to built-in drivers). With a modular
// driver the order is explicit: a master named in any legacy mmu-masters
// list waits until every legacy SMMU node is bound or can no longer be.
Status IommuCore::legacy_barrier(Device& dev) {
  std::vector<std::string> pending;
  std::vector<const of::Node*> nodes;
  for (const of::Node* smmu : dev.fwnode()->tree().legacy_smmus()) {
    if (!smmu->available()) continue;
    if (std::any_of(instances_.begin(), instances_.end(), [&](IommuInstance* i) { return i->fwnode == smmu; }))
      continue;
    std::string why;
    if (!iommu_may_appear(smmu, &why)) continue;  // never bound: nothing to wait for
    Device* idev = iommu_device(smmu);
    pending.push_back((idev ? idev->name() : smmu->path()) + " (" + why + ")");
    nodes.push_back(smmu);
  }
  if (pending.empty()) return {};
  for (const of::Node* n : nodes) record_iommu_wait(dev, n);
  return dev.defer(WaitKey::fwnode(nodes.front()),
                   fmt::format("legacy mmu-masters binding: waiting until every legacy SMMU is bound: {}",
                               fmt::join(pending, "; ")));
}

// BEHAVIOUR.md 2: every consumer gets a managed link to its IOMMU, so the
// IOMMU cannot unbind before its consumers.
Status IommuCore::link_consumer(Device& dev, IommuInstance& inst) {
  auto link = core_.link_add(dev, *inst.dev, LinkKind::managed, "iommu");
  if (!link.ok()) return std::move(link).error();
  // Deliberate bug for the simulator's own test (tests/dsim): a relaxed link
  // is not followed at unbind, so the consumer stays bound across the
  // IOMMU's unregistration. Armed only by that test.
  if (fault_point("iommu.skip_consumer_unbind")) (*link)->state = LinkState::relaxed;
  return {};
}

// of_dma_configure(): parse the binding, wait for the legacy barrier,
// translate the specifiers (or defer, or apply the missing-IOMMU policy),
// link the consumer to its IOMMU, then probe_device and the group.
Status IommuCore::dma_configure(Device& dev) {
  auto refs = firmware_iommu_refs(dev);
  if (!refs.ok()) return make_error(Errc::inval, "bad IOMMU binding: " + refs.error().message);
  if (refs->refs.empty()) return {};

  std::lock_guard g(lock_);
  // Already in its group (a PCI device joins at add): only the link is owed.
  if (DeviceIommu* cur = device_iommu(dev); cur && cur->group) {
    for (IommuInstance* x : cur->fwspec.more) TRY(link_consumer(dev, *x));
    return link_consumer(dev, *cur->fwspec.iommu);
  }
  if (refs->legacy) TRY(legacy_barrier(dev));
  auto di = std::make_shared<DeviceIommu>();
  TRY(xlate_refs(dev, *refs, *di));
  if (di->bypass_fallback) {
    dev.iommu_data = std::move(di);
    return {};
  }
  if (!di->fwspec.iommu) return {};  // every target disabled: not behind an IOMMU
  IommuInstance& inst = *di->fwspec.iommu;
  TRY(link_consumer(dev, inst));
  for (IommuInstance* x : di->fwspec.more) TRY(link_consumer(dev, *x));
  OwnerPin pin(inst.owner);
  if (!pin.ok()) return dev.defer(WaitKey::device(inst.dev), "IOMMU driver of " + inst.name + " is unloading");
  return attach_new(dev, std::move(di), inst);
}

// of_iommu_xlate() for every enabled target: each must be registered (or
// missing_iommu() decides), all the same instance, whose driver translates
// the specifiers into di.fwspec.
Status IommuCore::xlate_refs(Device& dev, const of::IommuRefs& refs, DeviceIommu& di) {
  for (const auto& pa : refs.refs) {
    if (!pa.target->available()) {
      log_.info(dev.name(), "{} names {}, which is disabled: not behind that IOMMU",
                refs.legacy ? "a legacy mmu-masters list" : "iommus", pa.target->path());
      continue;
    }
    IommuInstance* i = find_iommu_locked(pa.target);
    if (!i) return missing_iommu(dev, pa.target, di);
    if (di.fwspec.iommu && di.fwspec.iommu != i && i->masters_span_instances &&
        di.fwspec.iommu->masters_span_instances && i->driver == di.fwspec.iommu->driver) {
      OwnerPin pin(i->owner);
      if (!pin.ok()) return dev.defer(WaitKey::device(i->dev), "IOMMU driver of " + i->name + " is unloading");
      if (std::find(di.fwspec.more.begin(), di.fwspec.more.end(), i) == di.fwspec.more.end())
        di.fwspec.more.push_back(i);
      TRY(i->ops->of_xlate(dev, di.fwspec, pa.args));
      continue;
    }
    if (di.fwspec.iommu && di.fwspec.iommu != i)
      return make_error(Errc::inval, std::string(refs.legacy ? "the mmu-masters of two SMMUs name it"
                                                             : "iommus names two IOMMUs") +
                                         " (" + di.fwspec.iommu->name + ", " + i->name +
                                         "): one device must sit behind one IOMMU instance");
    di.fwspec.iommu = i;
    di.fwspec.iommu_fwnode = pa.target;
    OwnerPin pin(i->owner);
    if (!pin.ok()) return dev.defer(WaitKey::device(i->dev), "IOMMU driver of " + i->name + " is unloading");
    TRY(i->ops->of_xlate(dev, di.fwspec, pa.args));
  }
  return {};
}

// BEHAVIOUR.md 1: no instance for `target` yet. Defer while a driver for it
// may still appear; otherwise --missing-iommu decides at once: fail, or run
// without isolation (di.bypass_fallback, loudly).
Status IommuCore::missing_iommu(Device& dev, const of::Node* target, DeviceIommu& di) {
  std::string why;
  Device* idev = iommu_device(target);
  const std::string iname = idev ? idev->name() : target->path();
  if (iommu_may_appear(target, &why)) {
    record_iommu_wait(dev, target);
    // With a device to wait for, reason() appends its live state.
    return dev.defer(WaitKey::fwnode(target), "waiting for IOMMU " + iname + (idev ? "" : ": " + why));
  }
  if (policy_.missing == MissingIommu::fail)
    // EPERM, not ENODEV: ENODEV would read as "not my device" and the
    // probe would quietly try other drivers.
    return make_error(Errc::perm, "its IOMMU " + iname + " can never be driven (" + why +
                                       ") and --missing-iommu=fail: refusing to run without isolation");
  log_.warn(dev.name(), "its IOMMU {} can never be driven ({}): probing WITHOUT isolation, DMA unrestricted "
            "(--missing-iommu=bypass)", iname, why);
  di.bypass_fallback = true;
  di.fallback_iommu = target;
  return {};
}

Status IommuCore::attach_new(Device& dev, std::shared_ptr<DeviceIommu> di, IommuInstance& inst) {
  if (Status s = inst.ops->probe_device(dev, di->fwspec); !s.ok()) {
    if (di->fwspec.declined.empty()) return s;
    // Linux: iommu_probe_device() gets -ENODEV and the device has no IOMMU.
    // Its link to the IOMMU stays, so an unload still unbinds it first.
    auto left = std::make_shared<DeviceIommu>();
    left->left_out = di->fwspec.declined;
    left->left_out_iommu = inst.name;
    log_.info(dev.name(), "left out by the {} driver's policy ({}): runs without an IOMMU, DMA untranslated",
              inst.driver, left->left_out);
    dev.iommu_data = std::move(left);
    return {};
  }
  di->probed = true;
  dev.iommu_data = di;
  auto grp = join_group(dev, *di);
  if (!grp.ok()) {
    release_locked(dev, *di);
    dev.iommu_data.reset();
    return std::move(grp).error();
  }
  log_.info(dev.name(), "behind {} (stream IDs {}), group {}, {} domain", inst.name, fmt::join(di->fwspec.ids, ","),
            (*grp)->id, domain_type_name((*grp)->domain->type()));
  return {};
}

Status IommuCore::probe_pci_locked(Device& dev) {
  auto refs = firmware_iommu_refs(dev);
  if (!refs.ok()) return {};  // a malformed map: dma_configure reports it when a driver probes
  IommuInstance* inst = nullptr;
  for (const auto& pa : refs->refs) {
    if (!pa.target->available()) continue;
    auto it = std::find_if(instances_.begin(), instances_.end(), [&](IommuInstance* i) { return i->fwnode == pa.target; });
    if (it == instances_.end()) return {};  // not registered yet: joins when it registers
    if (inst && inst != *it) return {};     // two IOMMUs: dma_configure refuses it when a driver probes
    inst = *it;
  }
  if (!inst) return {};
  OwnerPin pin(inst->owner);
  if (!pin.ok()) return {};  // its driver is unloading: joins when it registers again
  auto di = std::make_shared<DeviceIommu>();
  di->fwspec.iommu = inst;
  di->fwspec.iommu_fwnode = inst->fwnode;
  for (const auto& pa : refs->refs)
    if (pa.target->available()) TRY(inst->ops->of_xlate(dev, di->fwspec, pa.args));
  return attach_new(dev, std::move(di), *inst);
}

void IommuCore::add_device(Device& dev) {
  const PciDevice* pd = to_pci(&dev);
  if (!pd) return;
  // Linux's of_map_id() says so too ("no iommu-map translation for id").
  const of::Node* host = pd->host() ? pd->host()->fwnode() : nullptr;
  if (host && host->has("iommu-map")) {
    pci_for_each_dma_alias(*pd, [&](uint16_t rid) {
      auto m = of::map_id(*host, rid);
      if (!m.ok() || m->kind != of::MappedId::Kind::no_match) return;
      std::vector<std::string> entries;
      if (auto map = of::iommu_map(*host); map.ok())
        for (const auto& e : *map)
          entries.push_back(fmt::format("{:#x}-{:#x} -> {}", e.rid_base, e.rid_base + e.length - 1, e.iommu->path()));
      log_.info(dev.name(), "requester ID {:#06x} is outside every entry of {}'s iommu-map ({}): not behind an IOMMU",
                rid, host->path(), fmt::join(entries, ", "));
    });
  }
  (void)core_.exclusive([&]() -> Status {
    std::lock_guard g(lock_);
    if (device_iommu(dev)) return {};
    Status s = probe_pci_locked(dev);
    if (!s.ok()) log_.warn(dev.name(), "joining its IOMMU group: {}", s.error().message);
    return {};
  });
}

void IommuCore::remove_device(Device& dev) {
  std::lock_guard g(lock_);
  DeviceIommu* di = device_iommu(dev);
  if (!di) return;
  release_locked(dev, *di);
  dev.iommu_data.reset();
}

Result<IommuGroup*> IommuCore::join_group(Device& dev, DeviceIommu& di) {
  IommuInstance* inst = di.fwspec.iommu;
  // PCI: ACS isolation and DMA aliases decide (pci_device_group()).
  const PciDevice* pci = to_pci(&dev);
  const void* key = pci ? static_cast<const void*>(pci_group_anchor(*pci)) : inst->ops->group_key(dev, di.fwspec);
  IommuGroup* grp = nullptr;
  if (key)
    if (auto it = keyed_groups_.find({inst, key}); it != keyed_groups_.end()) grp = it->second;
  // Linux's get_pci_function_alias_group(): functions of one slot (a
  // multi-function device) that do not isolate themselves by ACS share the
  // group of the first of them to join. Only for a function that neither an
  // alias nor an upstream port without ACS has grouped already.
  if (!grp && pci && key == static_cast<const Device*>(pci) && !pci_function_acs_isolated(*pci))
    for (Device* d : core_.devices()) {
      const PciDevice* sib = to_pci(d);
      if (!sib || sib == pci || sib->host() != pci->host() || sib->info().bus != pci->info().bus ||
          (sib->info().devfn >> 3) != (pci->info().devfn >> 3) || pci_function_acs_isolated(*sib))
        continue;
      DeviceIommu* sdi = device_iommu(*d);
      if (sdi && sdi->group && sdi->group->iommu == inst) {
        grp = sdi->group;
        break;
      }
    }
  if (!grp) {
    auto ng = std::make_unique<IommuGroup>();
    ng->id = next_group_++;
    ng->iommu = inst;
    ng->key = key;
    auto pd = policy_.per_device.find(dev.name());
    ng->default_type = pd != policy_.per_device.end() ? pd->second : policy_.default_domain;
    auto dom = inst->ops->domain_alloc(ng->default_type);
    if (!dom.ok()) return std::move(dom).error();
    ng->default_domain = std::move(dom).value();
    ng->default_domain->iommu = inst;
    if ((ng->default_type == DomainType::dma || ng->default_type == DomainType::dma_lazy) && dma_domain_init_)
      TRY(dma_domain_init_(*ng->default_domain, dev));
    grp = ng.get();
    if (key) keyed_groups_[{inst, key}] = grp;
    groups_.emplace(grp->id, std::move(ng));
  } else {
    honour_requested_type(*grp, dev);
  }
  IommuDomain* target = grp->owner_domain ? grp->owner_domain : grp->default_domain.get();
  Status s = inst->ops->attach_dev(*target, dev, di.fwspec);
  if (!s.ok()) {
    if (grp->devices.empty()) drop_group(grp);
    return std::move(s).error();
  }
  grp->domain = target;
  grp->devices.push_back(&dev);
  di.group = grp;
  index_streams(dev, di, true);
  return grp;
}

// Linux decides a group's default domain type from all its members
// (iommu_get_default_domain_type()): one member's requested type is the
// group's; members requesting different types get the global default, with
// a warning. Here members join one by one (a PCI port makes the group
// before the function below it), so a request arriving with a later member
// decides the type again then, and changes it as long as no member can hold
// DMA mappings in the current domain: the members are unbound, or bridges
// (their driver moves no data of its own), and no user owns the group.
void IommuCore::honour_requested_type(IommuGroup& grp, Device& dev) {
  auto req = policy_.per_device.find(dev.name());
  if (req == policy_.per_device.end()) return;
  DomainType want = req->second;
  for (Device* m : grp.devices)
    if (auto r = policy_.per_device.find(m->name()); r != policy_.per_device.end() && r->second != req->second) {
      log_.warn(dev.name(), "needs a {} domain, but {} in IOMMU group {} needs {}: the group gets the default, {}",
                domain_type_name(req->second), m->name(), grp.id, domain_type_name(r->second),
                domain_type_name(policy_.default_domain));
      want = policy_.default_domain;
      break;
    }
  if (want == grp.default_type) return;
  std::vector<std::string> users;
  for (Device* m : grp.devices) {
    const PciDevice* p = to_pci(m);
    if (m->driver() && !(p && p->info().bridge)) users.push_back(m->name());
  }
  if (grp.owner_domain || grp.domain != grp.default_domain.get() || !users.empty()) {
    log_.warn(dev.name(), "IOMMU group {} keeps its {} domain, not {}: in use ({})", grp.id,
              domain_type_name(grp.default_type), domain_type_name(want),
              users.empty() ? std::string("owned by a user") : fmt::format("{} bound", fmt::join(users, ", ")));
    return;
  }
  auto dom = grp.iommu->ops->domain_alloc(want);
  if (!dom.ok()) {
    log_.warn(dev.name(), "IOMMU group {} keeps its {} domain: no {} domain ({})", grp.id,
              domain_type_name(grp.default_type), domain_type_name(want), dom.error().message);
    return;
  }
  std::unique_ptr<IommuDomain> nd = std::move(dom).value();
  nd->iommu = grp.iommu;
  const bool dma = want == DomainType::dma || want == DomainType::dma_lazy;
  Status s = dma && dma_domain_init_ ? dma_domain_init_(*nd, dev) : Status{};
  if (s.ok()) s = attach_group_domain(grp, *nd);
  if (!s.ok()) {
    // Members that moved go back: the old domain is intact.
    (void)attach_group_domain(grp, *grp.default_domain);
    if (dma && dma_domain_fini_ && nd->dma_cookie) dma_domain_fini_(*nd);
    log_.warn(dev.name(), "IOMMU group {} keeps its {} domain: switching to {} failed ({})", grp.id,
              domain_type_name(grp.default_type), domain_type_name(want), s.error().message);
    return;
  }
  // The hardware references the new domain now: the old one can go.
  if (dma_domain_fini_ && grp.default_domain->dma_cookie) dma_domain_fini_(*grp.default_domain);
  log_.info(dev.name(), "IOMMU group {}: default domain {} -> {}", grp.id, domain_type_name(grp.default_type),
            domain_type_name(want));
  grp.default_domain = std::move(nd);
  grp.default_type = want;
}

void IommuCore::drop_group(IommuGroup* grp) {
  if (grp->key) keyed_groups_.erase({grp->iommu, grp->key});
  groups_.erase(grp->id);
}

void IommuCore::index_streams(Device& dev, const DeviceIommu& di, bool add) {
  for (uint32_t sid : di.fwspec.ids) {
    const std::pair<const IommuInstance*, uint32_t> k{di.fwspec.iommu, sid};
    if (add) {
      streams_[k].push_back(&dev);
      continue;
    }
    auto it = streams_.find(k);
    if (it == streams_.end()) continue;
    std::erase(it->second, &dev);
    if (it->second.empty()) streams_.erase(it);
  }
}

void IommuCore::dma_cleanup(Device& dev) {
  std::lock_guard g(lock_);
  DeviceIommu* di = device_iommu(dev);
  if (!di) return;
  if (di->bypass_fallback) return;  // kept: it is moved under its IOMMU if that ever registers
  // A PCI device stays in its group, driver or not, until it is removed
  // (Linux keeps dev->iommu_group from add to del): a group is only usable
  // by VFIO when all its members are known.
  if (di->group && to_pci(&dev)) return;
  release_locked(dev, *di);
  dev.iommu_data.reset();
}

// The device leaves its IOMMU: the driver makes its traffic abort, then the
// group's domains go once nobody uses them (their tables are freed only
// after the hardware stopped referencing them).
void IommuCore::release_locked(Device& dev, DeviceIommu& di) {
  IommuInstance* inst = di.fwspec.iommu;
  if (inst && di.probed) {
    OwnerPin pin(inst->owner);  // may be refused while unloading: the code stays mapped until exit returns
    inst->ops->release_device(dev, di.fwspec);
    di.probed = false;
  }
  if (IommuGroup* grp = di.group) {
    index_streams(dev, di, false);
    std::erase(grp->devices, &dev);
    di.group = nullptr;
    if (grp->devices.empty()) {
      log_.debug(dev.name(), "IOMMU group {} is empty: freeing its domains", grp->id);
      if (dma_domain_fini_ && grp->default_domain && grp->default_domain->dma_cookie) dma_domain_fini_(*grp->default_domain);
      drop_group(grp);
    }
  }
}

// --- faults -----------------------------------------------------------------------

void IommuCore::report_fault(IommuInstance& inst, const FaultInfo& info) {
  Device* dev = nullptr;
  IommuDomain* dom = nullptr;
  uint64_t n = 0;
  {
    std::lock_guard g(lock_);
    // Every device with the stream ID counts the fault (PCI aliases share
    // one); the last one is named.
    if (auto it = streams_.find({&inst, info.stream_id}); it != streams_.end())
      for (Device* d : it->second) {
        DeviceIommu* di = device_iommu(*d);
        dev = d;
        dom = di->group->domain;
        n = ++di->faults;
      }
  }
  if (!dev) {
    log_.warn(inst.name, "{} for unknown stream ID {:#x} at iova {:#x}", info.reason, info.stream_id, info.iova);
    return;
  }
  if (n <= 5)  // ratelimited, as dev_err_ratelimited
    log_.warn(dev->name(), "DMA fault: {} {} at iova {:#x} (stream ID {:#x}){}", info.reason,
              info.write ? "write" : "read", info.iova, info.stream_id, n == 5 ? "; further faults counted only" : "");
  if (dom) dom->deliver_fault(dev, info);
}

// --- unmanaged domains -------------------------------------------------------------

Result<std::unique_ptr<IommuDomain>> IommuCore::domain_alloc_unmanaged(Device& dev) {
  std::lock_guard g(lock_);
  DeviceIommu* di = device_iommu(dev);
  if (!di || !di->fwspec.iommu) return make_error(Errc::nodev, dev.name() + " is not behind an IOMMU");
  auto d = di->fwspec.iommu->ops->domain_alloc(DomainType::unmanaged);
  if (d.ok()) (*d)->iommu = di->fwspec.iommu;
  return d;
}

Status IommuCore::attach_device(IommuDomain& domain, Device& dev) {
  std::lock_guard g(lock_);
  DeviceIommu* di = device_iommu(dev);
  if (!di || !di->group) return make_error(Errc::nodev, dev.name() + " is not behind an IOMMU");
  if (domain.iommu != di->fwspec.iommu) return make_error(Errc::inval, "domain belongs to another IOMMU");
  if (di->group->devices.size() > 1)
    return make_error(Errc::busy, fmt::format("group {} has {} devices: attach them all through the group", di->group->id,
                                              di->group->devices.size()));
  TRY(attach_group_domain(*di->group, domain));
  di->group->owner_domain = &domain;
  return {};
}

void IommuCore::detach_device(IommuDomain& domain, Device& dev) {
  std::lock_guard g(lock_);
  DeviceIommu* di = device_iommu(dev);
  if (!di || !di->group || di->group->owner_domain != &domain) return;
  di->group->owner_domain = nullptr;
  (void)attach_group_domain(*di->group, *di->group->default_domain);
}

Status IommuCore::attach_group_domain(IommuGroup& grp, IommuDomain& d) {
  for (Device* dev : grp.devices) {
    DeviceIommu* di = device_iommu(*dev);
    TRY(grp.iommu->ops->attach_dev(d, *dev, di->fwspec));
  }
  grp.domain = &d;
  return {};
}

// --- queries -------------------------------------------------------------------------

std::optional<DeviceIommuInfo> IommuCore::info(const Device& dev) const {
  std::lock_guard g(lock_);
  DeviceIommu* di = device_iommu(dev);
  if (!di) return std::nullopt;
  DeviceIommuInfo out;
  out.bypass_fallback = di->bypass_fallback;
  out.fallback_iommu = di->fallback_iommu;
  out.faults = di->faults.load();
  out.left_out = di->left_out;  // no IOMMU name: it runs without one
  if (di->fwspec.iommu) out.iommu = di->fwspec.iommu->name;
  out.stream_ids = di->fwspec.ids;
  if (di->group) {
    out.group = di->group->id;
    if (di->group->domain) out.domain = di->group->domain->type();
  }
  return out;
}

std::vector<GroupSnapshot> IommuCore::group_snapshots() const {
  std::lock_guard g(lock_);
  std::vector<GroupSnapshot> out;
  for (const auto& entry : groups_) {
    const IommuGroup& grp = *entry.second;
    GroupSnapshot s;
    s.id = grp.id;
    s.default_type = grp.default_type;
    if (grp.iommu) s.iommu_fwnode = grp.iommu->fwnode;
    if (grp.domain) s.domain = grp.domain->type();
    if (!grp.devices.empty())
      if (const DeviceIommu* di = device_iommu(*grp.devices.front()); di && di->fwspec.iommu) s.iommu = di->fwspec.iommu->name;
    for (const Device* d : grp.devices) s.members.push_back({d, d->name(), d->path()});
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace modiommu::iommu
