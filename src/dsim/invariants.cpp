#include "dsim/invariants.h"

#include "core/pci.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/owner.h"
#include "dsim/inflight.h"
#include "module/loader.h"
#include "of/tree.h"
#include "sim/harness.h"
#include "sim/state.h"

namespace modiommu::dsim {
namespace {

bool driver_matches(const Driver& drv, const Device& dev) {
  if (drv.bus != dev.bus()) return false;
  for (const auto& c : dev.compatible())
    if (std::find(drv.of_match.begin(), drv.of_match.end(), c) != drv.of_match.end()) return true;
  return false;
}

// The enabled IOMMU nodes firmware puts `dev` behind (`iommus`, legacy
// `mmu-masters` lists naming it, or a PCI host bridge's iommu-map).
std::vector<const of::Node*> iommu_targets(const Device& dev, bool* legacy = nullptr) {
  std::vector<const of::Node*> out;
  if (legacy) *legacy = false;
  auto refs = firmware_iommu_refs(dev);
  if (!refs.ok()) return out;
  if (legacy) *legacy = refs->legacy;
  for (const auto& pa : refs->refs)
    if (pa.target->available() && std::find(out.begin(), out.end(), pa.target) == out.end()) out.push_back(pa.target);
  return out;
}

// What still keeps `dev` from binding, or "" if nothing does.
std::string blocker(Kernel& k, const CoreSnapshot& cs, const Device& dev) {
  for (const auto& l : cs.links) {
    if (l.consumer != &dev || l.state == LinkState::relaxed) continue;
    const DeviceState ss = cs.find(l.supplier)->state;
    if (ss != DeviceState::bound) return "supplier " + l.supplier->name() + " is " + device_state_name(ss);
  }
  auto info = k.iommu().info(dev);
  if (info && info->bypass_fallback) return "";
  bool legacy = false;
  const auto targets = iommu_targets(dev, &legacy);
  // BEHAVIOUR.md 5: a legacy master waits until every legacy SMMU of the
  // tree is bound, or can no longer be (unbound by hand still can).
  if (legacy && k.tree())
    for (const of::Node* s : k.tree()->legacy_smmus()) {
      if (!s->available()) continue;
      const DeviceSnapshot* sd = cs.by_fwnode(s);
      if (sd && sd->state != DeviceState::bound && (sd->manual_unbind || k.core().driver_may_appear(*sd->dev)))
        return "legacy SMMU " + sd->name() + " is " + device_state_name(sd->state);
    }
  for (const of::Node* t : targets)
    if (!k.iommu().find_iommu(t)) {
      // No IOMMU registered and none can appear: --missing-iommu decides at
      // once, so nothing blocks.
      if (!k.iommu().iommu_may_appear(t, nullptr)) return "";
      return "IOMMU " + t->path() + " is not registered";
    }
  return "";
}

}  // namespace

const std::vector<std::string>& InvariantChecker::names() {
  static const std::vector<std::string> n = {
      "escape",           // no DMA reached memory untranslated while it had to be translated
      "corruption",       // every verified transfer (endpoint, in-flight) matched
      "safe-unload",      // no IOMMU unregistered with a consumer still attached
      "links",            // no consumer bound while a supplier (link or firmware IOMMU) is not
      "deferred-reason",  // a deferred device has a reason, and something it waits for is really missing
      "stuck",            // no device left unbound/deferred when all it needs is there
      "module-refs",      // refcount = holders (no pin outlives a step), holders and deps live
      "module-code",      // no bound device or registered driver uses code of a module that is not live
      "freed-table",      // no IOMMU table walk read a page the kernel had freed
      "dead-wait",        // sources final: no device deferred on a supplier that can never bind
  };
  return n;
}

std::vector<Violation> InvariantChecker::check(Kernel& k) {
  ++checks_;
  std::vector<Violation> v;
  auto add = [&](const char* inv, std::string what) { v.push_back({inv, std::move(what)}); };

  if (uint64_t e = sim::dma_totals(k).escapes) add("escape", fmt::format("{} DMA piece(s) escaped the IOMMU", e));
  if (uint64_t f = sim::Harness::of(k) ? sim::Harness::of(k)->freed_table_walks() : 0)
    add("freed-table", fmt::format("{} translation-table read(s) of freed pages", f));

  // Watched: counted as lines are written, not rescanned every step.
  k.log().watch("corrupted");
  k.log().watch("still attached");
  if (size_t n = k.log().count("corrupted")) add("corruption", fmt::format("{} log line(s) report corrupted data", n));
  if (auto c = InFlightTable::of(k)->stats().corruptions)
    add("corruption", fmt::format("{} in-flight transfer(s) moved wrong data", c));
  sim::Harness* harness = sim::Harness::of(k);
  for (Device* d : harness ? harness->endpoint_devices() : std::vector<Device*>{}) {
    uint64_t c = 0;
    (void)harness->with_endpoint(*d, [&](DmaEndpoint& ep) {
      c = ep.stats().corruptions;
      return Status{};
    });
    if (c) add("corruption", fmt::format("{}: {} transfer(s) did not verify", d->name(), c));
  }
  if (size_t n = k.log().count("still attached"))
    add("safe-unload", fmt::format("{} consumer(s) were still attached when their IOMMU unregistered", n));

  const CoreSnapshot cs = k.core().snapshot();
  const auto& links = cs.links;
  const auto& drivers = cs.drivers;
  auto mods = k.modules().lsmod();
  auto live = [&](const std::string& name) {
    for (const auto& m : mods)
      if (m.name == name) return m.state == ModuleState::live;
    return false;
  };
  // The code owners of live modules.
  std::vector<const CodeOwner*> live_owners;
  for (const auto& m : mods)
    if (m.state == ModuleState::live)
      if (auto mp = k.modules().find(m.name)) live_owners.push_back(static_cast<const CodeOwner*>(mp.get()));

  for (const DeviceSnapshot& ds : cs.devices) {
    const Device* d = ds.dev.get();
    const DeviceState st = ds.state;
    if (st == DeviceState::bound) {
      for (const auto& l : links)
        if (l.consumer == d && l.state != LinkState::relaxed && cs.find(l.supplier)->state != DeviceState::bound)
          add("links", fmt::format("{} is bound but its supplier {} ({}) is {}", d->name(), l.supplier->name(), l.why,
                                   device_state_name(cs.find(l.supplier)->state)));
      auto info = k.iommu().info(*d);
      // Left out by its IOMMU driver's policy: no IOMMU by design, as on Linux.
      if (!(info && (info->bypass_fallback || !info->left_out.empty())))
        for (const of::Node* t : iommu_targets(*d)) {
          iommu::IommuInstance* inst = k.iommu().find_iommu(t);
          if (!inst && !k.iommu().iommu_may_appear(t, nullptr)) continue;  // --missing-iommu applied
          // Exynos: a master behind several SysMMUs of one driver is
          // attached through the instance holding its fwspec.
          if (inst && inst->masters_span_instances && info && info->group >= 0 && info->iommu != inst->name) {
            const auto ts = iommu_targets(*d);
            iommu::IommuInstance* first = ts.empty() ? nullptr : k.iommu().find_iommu(ts.front());
            if (first && first->masters_span_instances && first->driver == inst->driver && info->iommu == first->name)
              continue;
          }
          if (!inst || !info || info->iommu != inst->name || info->group < 0)
            add("links", fmt::format("{} is bound but not attached to its IOMMU {} ({})", d->name(), t->path(),
                                     inst ? "registered" : "not registered"));
        }
      const Driver* drv = ds.bound_driver;
      if (!drv || std::find(drivers.begin(), drivers.end(), drv) == drivers.end())
        add("module-code", d->name() + " is bound to a driver that is no longer registered");
    }
    // BEHAVIOUR.md 1: once module sources are final, a supplier no driver
    // can bind any more decides its waiters at once (--missing-iommu); only
    // a managed link (a driver's explicit demand) may keep one waiting.
    if (st == DeviceState::deferred && cs.sources_final)
      for (const WaitKey& w : ds.waits) {
        if (w.kind != WaitKey::Kind::device) continue;
        const DeviceSnapshot* sup = cs.find(static_cast<const Device*>(w.ptr));
        if (!sup || sup->state == DeviceState::bound || k.core().driver_may_appear(*sup->dev)) continue;
        const bool managed = std::any_of(links.begin(), links.end(), [&](const DeviceLink& l) {
          return l.consumer == d && l.supplier == sup->dev.get() && l.kind == LinkKind::managed &&
                 l.state != LinkState::relaxed;
        });
        if (!managed)
          add("dead-wait", fmt::format("{} is deferred waiting for {}, which can never bind ({})", d->name(),
                                       sup->name(), k.core().availability(*sup->dev)));
      }
    const std::string why = blocker(k, cs, *d);
    if (st == DeviceState::deferred) {
      if (ds.reason.empty()) add("deferred-reason", d->name() + " is deferred with no reason");
      else if (why.empty())
        add("deferred-reason", fmt::format("{} is deferred ('{}') but nothing it waits for is missing", d->name(),
                                           ds.reason));
    }
    // An unbound device is stuck only if no probe was ever tried: a probe
    // may have said "not mine" (ENODEV), which leaves it unbound by design.
    if ((st == DeviceState::deferred || (st == DeviceState::unbound && !ds.manual_unbind && ds.probe_attempts == 0)) &&
        why.empty()) {
      for (const Driver* drv : drivers)
        if (driver_matches(*drv, *d)) {
          add("stuck", fmt::format("{} is {} although driver {} is registered and nothing blocks it", d->name(),
                                   device_state_name(st), drv->name));
          break;
        }
    }
  }

  for (const Driver* drv : drivers)
    if (drv->owner && std::find(live_owners.begin(), live_owners.end(), drv->owner) == live_owners.end())
      add("module-code", fmt::format("driver {} is registered but its module {} is not live", drv->name,
                                     drv->owner->owner_name()));
  for (const auto& m : mods) {
    if (m.refcount != static_cast<int>(m.holders.size()))
      add("module-refs", fmt::format("module {} has refcount {} but {} holder(s): a pin outlived its call", m.name,
                                     m.refcount, m.holders.size()));
    for (const auto& h : m.holders)
      if (!live(h)) add("module-refs", fmt::format("module {} is held by {}, which is not live", m.name, h));
    if (m.state == ModuleState::live)
      for (const auto& dep : m.depends)
        if (!live(dep)) add("module-refs", fmt::format("module {} is live but its dependency {} is not", m.name, dep));
  }
  return v;
}

}  // namespace modiommu::dsim
