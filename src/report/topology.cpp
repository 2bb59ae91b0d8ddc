#include "report/topology.h"

#include <fmt/format.h>

#include "core/pci.h"
#include "report/iommu_kinds.h"

namespace modiommu::report {

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::isolated: return "isolated";
    case Outcome::bypass: return "bypass";
    case Outcome::not_behind: return "not-behind-iommu";
    case Outcome::never_probes: return "never-probes";
    case Outcome::waiting: return "waiting";
    case Outcome::unbound: return "unbound";
    case Outcome::disabled: return "disabled";
    case Outcome::not_populated: return "not-populated";
    case Outcome::bad_binding: return "bad-binding";
    case Outcome::left_out: return "left-out-by-driver";
  }
  return "?";
}

namespace {

// A node with no device: is it (or an ancestor) disabled, or does it wait
// for the parent whose driver would populate it? Sets m.reason.
Outcome classify_absent(const CoreSnapshot& cs, MasterReport& m, const of::Node& n) {
  for (const of::Node* a = &n; a; a = a->parent())
    if (!a->available()) {
      if (a != &n) m.reason = "its ancestor " + a->path() + " is disabled";
      return Outcome::disabled;
    }
  for (const of::Node* a = n.parent(); a && a->parent(); a = a->parent()) {
    const DeviceSnapshot* p = cs.by_fwnode(a);
    if (!p) {
      if (!a->has("compatible")) {
        m.reason = "its parent " + a->path() + " has no compatible: nothing populates it";
        return Outcome::not_populated;
      }
      continue;  // the parent itself waits for its own parent
    }
    switch (p->state) {
      case DeviceState::bound:
        m.reason = "its parent " + p->name() + " is bound to " + (p->driver.empty() ? "?" : p->driver) +
                   ", which does not populate its children";
        return Outcome::not_populated;
      case DeviceState::deferred:
        m.reason = "not created: its parent " + p->name() + " is deferred: " + p->reason;
        return cs.sources_final ? Outcome::never_probes : Outcome::waiting;
      case DeviceState::failed:
        m.reason = "not created: its parent " + p->name() + " failed: " + p->reason;
        return Outcome::never_probes;
      case DeviceState::unbound:
        m.reason = "not created: its parent " + p->name() + " is unbound: " + p->availability;
        return p->may_appear ? Outcome::waiting : Outcome::unbound;
    }
  }
  m.reason = "no device was created for it";
  return Outcome::not_populated;
}

// `n`: the master's node (null for a PCI function, which exists once enumerated).
Outcome classify(const CoreSnapshot& cs, MasterReport& m, const of::Node* n, const DeviceSnapshot* d) {
  if (!m.binding_error.empty()) return Outcome::bad_binding;
  if (!d) return n ? classify_absent(cs, m, *n) : Outcome::not_populated;
  if (m.state == "bound") {
    if (m.bypass) return Outcome::bypass;
    if (!m.left_out.empty()) {
      m.reason = m.left_out;
      return Outcome::left_out;
    }
    if (!m.attached_iommu.empty()) return Outcome::isolated;
    return Outcome::not_behind;
  }
  if (m.state == "failed") return Outcome::never_probes;
  if (m.state == "deferred")
    // Once module sources are final a deferred master waits for nothing
    // that can still come only if a cycle or a missing supplier holds it.
    return cs.sources_final ? Outcome::never_probes : Outcome::waiting;
  return Outcome::unbound;
}

DeclaredRef declared_ref(Kernel& k, const of::PhandleArgs& pa) {
  DeclaredRef r;
  r.iommu_path = pa.target->path();
  const IommuKind* kind = iommu_kind(*pa.target);
  r.kind = kind ? kind->family : "unknown";
  r.iommu_enabled = pa.target->available();
  if (Device* idev = k.iommu().iommu_device(pa.target)) r.iommu_device = idev->name();
  r.cells = pa.args;
  auto dec = decode_specifier(*pa.target, pa.args);
  r.decoded = dec.text;
  r.decoded_ok = dec.ok;
  return r;
}

// What the driver core and the IOMMU core did with a master's device.
void fill_actual(Kernel& k, MasterReport& m, const DeviceSnapshot& d) {
  m.device = d.name();
  m.populated_by = d.populated_by_parent && d.dev->parent() ? d.dev->parent()->name() : "bus";
  m.state = device_state_name(d.state);
  m.driver = d.driver;
  m.reason = d.reason;
  if (auto info = k.iommu().info(*d.dev)) {
    m.attached_iommu = info->iommu;
    m.stream_ids = info->stream_ids;
    m.group = info->group;
    if (info->domain) m.domain = iommu::domain_type_name(*info->domain);
    m.bypass = info->bypass_fallback;
    m.left_out = info->left_out;
  }
  std::string want;
  for (const auto& r : m.declared)
    if (r.iommu_enabled) {
      want = r.iommu_device.empty() ? r.iommu_path : r.iommu_device;
      break;
    }
  m.mismatch = !m.attached_iommu.empty() && m.attached_iommu != want;
}

// Every device, link and group, indexed into t.devices and t.iommus.
void extract_devices(Kernel& k, const CoreSnapshot& cs, const std::map<const of::Node*, size_t>& iommu_index,
                     Topology& t) {
  std::map<const Device*, int> index;
  for (const DeviceSnapshot& ds : cs.devices) index.emplace(ds.dev.get(), static_cast<int>(index.size()));
  const auto index_of = [&](const Device* d) {
    auto it = index.find(d);
    return it == index.end() ? -1 : it->second;
  };
  const auto iommu_of = [&](const void* node) {
    auto it = iommu_index.find(static_cast<const of::Node*>(node));
    return it == iommu_index.end() ? -1 : static_cast<int>(it->second);
  };
  for (const DeviceSnapshot& ds : cs.devices) {
    const Device& d = *ds.dev;
    DeviceView v;
    v.name = d.name();
    if (!d.compatible().empty()) v.compatible = d.compatible().front();
    v.bus = d.bus() ? d.bus()->name() : "none";
    v.state = ds.state;
    v.driver = ds.driver;
    v.driver_module = ds.driver_module;
    v.reason = ds.reason;
    if (auto info = k.iommu().info(d)) v.bypass = info->bypass_fallback;
    if (const of::Node* n = d.fwnode()) {
      if (is_iommu_node(*n)) v.iommu = iommu_of(n);
      if (auto refs = of::iommu_refs(*n); refs.ok()) {
        if (const of::PhandleArgs* pa = of::first_enabled(*refs)) v.named_iommu = iommu_of(pa->target);
        for (const auto& pa : refs->refs) {
          const DeviceSnapshot* provider = cs.last_by_fwnode(pa.target);
          v.refs.push_back({provider ? index_of(provider->dev.get()) : -1, pa.target->path(), pa.target->available(),
                            decode_specifier(*pa.target, pa.args).text});
        }
      }
    }
    t.devices.push_back(std::move(v));
  }
  for (const DeviceLink& l : cs.links)
    t.links.push_back({index_of(l.consumer), index_of(l.supplier), l.kind, l.state, l.why});
  for (const iommu::GroupSnapshot& g : k.iommu().group_snapshots()) {
    GroupView gv;
    gv.id = g.id;
    gv.iommu = iommu_of(g.iommu_fwnode);
    if (g.domain) gv.domain = iommu::domain_type_name(*g.domain);
    for (const auto& m : g.members) gv.members.push_back(index_of(m.dev));
    t.groups.push_back(std::move(gv));
  }
}

}  // namespace

Topology extract_topology(Kernel& k, TopologyParts parts) {
  Topology t;
  const of::Tree* tree = k.tree();
  if (!tree) return t;
  t.source = tree->source();
  const CoreSnapshot cs = k.core().snapshot(true);
  std::map<const of::Node*, size_t> iommu_index;
  for (of::Node* n : tree->nodes()) {
    if (!is_iommu_node(*n)) continue;
    IommuReport r;
    r.path = n->path();
    r.compatible = n->compatible();
    const IommuKind* kind = iommu_kind(*n);
    r.kind = kind ? kind->family : "unknown";
    r.enabled = n->available();
    r.modelled = k.has_platform() && k.platform().model(n) != nullptr;
    r.registered = k.iommu().find_iommu(n) != nullptr;
    if (const DeviceSnapshot* d = cs.by_fwnode(n)) {
      r.device = d->name();
      r.driver = d->driver;
      r.availability = d->availability;
    } else {
      r.availability = r.enabled ? "no device (not populated)" : "disabled in the tree";
    }
    iommu_index[n] = t.iommus.size();
    t.iommus.push_back(std::move(r));
  }
  for (of::Node* n : tree->nodes()) {
    if (n->has("iommu-map")) {
      IommuMapReport mr;
      mr.path = n->path();
      auto map = of::iommu_map(*n);
      if (!map.ok()) mr.error = map.error().str();
      else
        for (const auto& e : *map)
          mr.entries.push_back(fmt::format("RID {:#x}-{:#x} -> {} ID {:#x}", e.rid_base, e.rid_base + e.length - 1,
                                           e.iommu->path(), e.iommu_base));
      t.iommu_maps.push_back(std::move(mr));
    }
    auto refs = of::iommu_refs(*n);
    if (refs.ok() && refs->refs.empty()) continue;
    if (!refs.ok() && !n->has("iommus")) continue;  // a bad mmu-masters elsewhere: not this node's binding
    MasterReport m;
    m.path = n->path();
    m.compatible = n->compatible();
    if (!refs.ok()) m.binding_error = refs.error().str();
    else {
      m.legacy = refs->legacy;
      for (const auto& pa : refs->refs) {
        if (auto it = iommu_index.find(pa.target); it != iommu_index.end()) t.iommus[it->second].masters++;
        m.declared.push_back(declared_ref(k, pa));
      }
    }
    const DeviceSnapshot* d = cs.by_fwnode(n);
    if (d) fill_actual(k, m, *d);
    else m.state = "absent";
    m.outcome = classify(cs, m, n, d);
    t.masters.push_back(std::move(m));
  }
  // PCI functions (bridges are not masters) are masters when their host
  // bridge has an iommu-map, or on any PCI bus with --generic-endpoints;
  // what they declare is each requester ID through the iommu-map.
  for (const DeviceSnapshot& ds : cs.devices) {
    const PciDevice* pd = to_pci(ds.dev.get());
    if (!pd || pd->info().bridge) continue;
    const of::Node* host = pd->host() ? pd->host()->fwnode() : nullptr;
    if (!k.options().generic_endpoints && !(host && host->has("iommu-map"))) continue;
    MasterReport m;
    m.path = ds.dev->path();
    m.compatible = ds.dev->compatible();
    auto refs = firmware_iommu_refs(*ds.dev);
    if (!refs.ok()) m.binding_error = refs.error().str();
    else
      for (const auto& pa : refs->refs) {
        if (auto it = iommu_index.find(pa.target); it != iommu_index.end()) t.iommus[it->second].masters++;
        m.declared.push_back(declared_ref(k, pa));
      }
    if (refs.ok() && refs->refs.empty())
      m.tree_note = !host ? "no host bridge node"
                    : host->has("iommu-map")
                        ? fmt::format("requester ID {:#06x} is outside the iommu-map of {}", pd->info().rid(), host->path())
                        : "no iommu-map on " + host->path();
    fill_actual(k, m, ds);
    m.outcome = classify(cs, m, nullptr, &ds);
    t.masters.push_back(std::move(m));
  }
  if (parts == TopologyParts::devices) extract_devices(k, cs, iommu_index, t);
  return t;
}

nlohmann::json to_json(const Topology& t) {
  using nlohmann::json;
  json j;
  j["iommus"] = json::array();
  for (const auto& r : t.iommus)
    j["iommus"].push_back({{"path", r.path},
                           {"device", r.device.empty() ? json(nullptr) : json(r.device)},
                           {"compatible", r.compatible},
                           {"kind", r.kind},
                           {"enabled", r.enabled},
                           {"modelled", r.modelled},
                           {"registered", r.registered},
                           {"driver", r.driver.empty() ? json(nullptr) : json(r.driver)},
                           {"availability", r.availability},
                           {"masters", r.masters}});
  j["masters"] = json::array();
  for (const auto& m : t.masters) {
    json decl = json::array();
    for (const auto& r : m.declared)
      decl.push_back({{"iommu", r.iommu_path},
                      {"iommu_device", r.iommu_device.empty() ? json(nullptr) : json(r.iommu_device)},
                      {"kind", r.kind},
                      {"enabled", r.iommu_enabled},
                      {"cells", r.cells},
                      {"decoded", r.decoded},
                      {"decoded_ok", r.decoded_ok}});
    json jm = {{"path", m.path},
               {"device", m.device.empty() ? json(nullptr) : json(m.device)},
               {"populated_by", m.populated_by.empty() ? json(nullptr) : json(m.populated_by)},
               {"compatible", m.compatible},
               {"state", m.state},
               {"driver", m.driver.empty() ? json(nullptr) : json(m.driver)},
               {"reason", m.reason.empty() ? json(nullptr) : json(m.reason)},
               {"legacy_binding", m.legacy},
               {"declared", decl},
               {"attached_iommu", m.attached_iommu.empty() ? json(nullptr) : json(m.attached_iommu)},
               {"stream_ids", m.stream_ids},
               {"iommu_group", m.group >= 0 ? json(m.group) : json(nullptr)},
               {"domain", m.domain.empty() ? json(nullptr) : json(m.domain)},
               {"bypass", m.bypass},
               {"left_out", m.left_out.empty() ? json(nullptr) : json(m.left_out)},
               {"mismatch", m.mismatch},
               {"outcome", outcome_name(m.outcome)}};
    if (!m.binding_error.empty()) jm["binding_error"] = m.binding_error;
    if (!m.tree_note.empty()) jm["tree_note"] = m.tree_note;
    j["masters"].push_back(std::move(jm));
  }
  j["iommu_maps"] = json::array();
  for (const auto& mr : t.iommu_maps) {
    json e = {{"path", mr.path}, {"entries", mr.entries}};
    if (!mr.error.empty()) e["error"] = mr.error;
    j["iommu_maps"].push_back(std::move(e));
  }
  return j;
}

}  // namespace modiommu::report
