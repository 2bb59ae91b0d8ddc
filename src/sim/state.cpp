#include "sim/state.h"

#include "board/pci_model.h"

#include <fmt/format.h>

#include "hw/dmatest.h"
#include "module/loader.h"

namespace modiommu::sim {

StateContributors& state_contributors() {
  static StateContributors c;
  return c;
}

DmaTotals dma_totals(Kernel& k) {
  DmaTotals t;
  if (!k.has_platform()) return t;
  for (const PlatformModel* m : k.platform().models()) {
    if (!m->port) continue;
    t.escapes += m->port->stats().escapes;
    if (auto dt = std::dynamic_pointer_cast<hw::DmaTest>(m->mmio)) t.transfers += dt->read(hw::DmaTest::kXFER_COUNT, 8);
  }
  for (PciHostModel* h : k.platform().pci_hosts()) {
    for (const auto& [rid, f] : h->functions()) {
      if (!f.port) continue;
      t.escapes += f.port->stats().escapes;
      if (auto dt = std::dynamic_pointer_cast<hw::DmaTest>(f.fn->bar0_device))
        t.transfers += dt->read(hw::DmaTest::kXFER_COUNT, 8);
    }
    t.escapes += h->retired().escapes;
    t.transfers += h->retired().transfers;
  }
  for (Device* d : k.core().devices())
    if (auto info = k.iommu().info(*d)) t.faults += info->faults;
  return t;
}

nlohmann::json final_state(Kernel& k, const std::string& platform) {
  using nlohmann::json;
  const CoreSnapshot cs = k.core().snapshot();
  json doc;
  doc["platform"] = platform;
  doc["modules"] = json::array();
  for (const auto& m : k.modules().lsmod())
    doc["modules"].push_back({{"name", m.name},
                              {"state", module_state_name(m.state)},
                              {"builtin", m.builtin},
                              {"refcount", m.refcount},
                              {"holders", m.holders}});
  json devs = json::array();
  for (const DeviceSnapshot& ds : cs.devices) {
    const Device* d = ds.dev.get();
    json j;
    j["name"] = d->name();
    j["path"] = d->path();
    j["bus"] = d->bus() ? d->bus()->name() : "none";
    // How it came to exist: the bus walk at boot (or enumeration), or its
    // parent's driver populating it.
    j["populated_by"] = ds.populated_by_parent && d->parent() ? d->parent()->name() : "bus";
    j["compatible"] = d->compatible();
    j["driver"] = !ds.driver.empty() ? json(ds.driver) : json(nullptr);
    j["state"] = device_state_name(ds.state);
    j["deferred_reason"] = ds.state == DeviceState::deferred || ds.state == DeviceState::failed ? json(ds.reason)
                                                                                                : json(nullptr);
    j["iommu"] = nullptr;
    j["stream_ids"] = json::array();
    j["iommu_group"] = nullptr;
    j["domain"] = nullptr;
    j["probe_attempts"] = ds.probe_attempts;
    j["dma_faults"] = 0;
    if (auto info = k.iommu().info(*d)) {
      if (!info->iommu.empty()) j["iommu"] = info->iommu;
      j["stream_ids"] = info->stream_ids;
      if (info->group >= 0) j["iommu_group"] = info->group;
      if (info->domain) j["domain"] = iommu::domain_type_name(*info->domain);
      j["dma_faults"] = info->faults;
      j["iommu_bypass_fallback"] = info->bypass_fallback;
    }
    if (state_contributors().device) state_contributors().device(*d, j);
    devs.push_back(std::move(j));
  }
  doc["devices"] = std::move(devs);
  json links = json::array();
  for (const auto& l : cs.links)
    links.push_back({{"supplier", l.supplier->name()},
                     {"consumer", l.consumer->name()},
                     {"state", link_state_name(l.state)},
                     {"kind", link_kind_name(l.kind)},
                     {"why", l.why}});
  doc["links"] = std::move(links);
  const CoreStats& st = cs.stats;
  doc["stats"] = {{"probe_attempts", st.probe_attempts},
                  {"deferrals", st.deferrals},
                  {"binds", st.binds},
                  {"unbinds", st.unbinds},
                  {"dma_transfers", 0},
                  {"dma_faults", 0},
                  {"dma_escapes", 0}};
  const DmaTotals t = dma_totals(k);
  doc["stats"]["dma_transfers"] = t.transfers;
  doc["stats"]["dma_faults"] = t.faults;
  doc["stats"]["dma_escapes"] = t.escapes;
  if (state_contributors().document) state_contributors().document(doc);
  return doc;
}

std::string summary_table(Kernel& k) {
  const CoreSnapshot cs = k.core().snapshot();
  const auto& devs = cs.devices;
  size_t w = 6;
  for (const DeviceSnapshot& d : devs) w = std::max(w, d.name().size());
  std::string out = fmt::format("{:<{}}  {:<8}  {:<18}  {:>6}  {}\n", "DEVICE", w, "STATE", "DRIVER", "PROBES", "REASON");
  size_t counts[4] = {};
  for (const DeviceSnapshot& d : devs) {
    counts[static_cast<int>(d.state)]++;
    const std::string drv = d.driver.empty() ? "-" : d.driver;
    out += fmt::format("{:<{}}  {:<8}  {:<18}  {:>6}  {}\n", d.name(), w, device_state_name(d.state), drv,
                       d.probe_attempts, d.reason);
  }
  const CoreStats& st = cs.stats;
  out += fmt::format("{} devices: {} bound, {} deferred, {} unbound, {} failed; {} probe attempts, {} deferrals\n",
                     devs.size(), counts[static_cast<int>(DeviceState::bound)],
                     counts[static_cast<int>(DeviceState::deferred)], counts[static_cast<int>(DeviceState::unbound)],
                     counts[static_cast<int>(DeviceState::failed)], st.probe_attempts, st.deferrals);
  return out;
}

std::string format_lsdev(Kernel& k) {
  std::string out;
  for (const DeviceSnapshot& d : k.core().snapshot().devices)
    out += fmt::format("{} {} {} driver={}\n", d.name(), d.dev->path(), device_state_name(d.state),
                       d.driver.empty() ? "none" : d.driver);
  return out;
}

std::string format_links(Kernel& k) {
  std::string out;
  for (const auto& l : k.core().links())
    out += fmt::format("{} -> {} {} {} ({})\n", l.consumer->name(), l.supplier->name(), link_kind_name(l.kind),
                       link_state_name(l.state), l.why);
  return out;
}

std::string format_deferred(Kernel& k) {
  std::string out;
  for (const auto& [d, why] : k.core().deferred()) out += d->name() + "\t" + why + "\n";
  return out;
}

std::string format_lsgroup(Kernel& k) {
  std::string out;
  for (const iommu::GroupSnapshot& grp : k.iommu().group_snapshots()) {
    if (grp.members.empty()) continue;
    const std::string iommu = grp.iommu.empty() ? "?" : grp.iommu;
    const std::string domain = grp.domain ? iommu::domain_type_name(*grp.domain) : "none";
    out += fmt::format("{}group {}: iommu {}, domain {} (default {}), {} device(s)\n", out.empty() ? "" : "\n", grp.id,
                       iommu, domain, iommu::domain_type_name(grp.default_type), grp.members.size());
    for (const auto& m : grp.members) out += fmt::format("  {} {}\n", m.name, m.path);
  }
  return out.empty() ? "no IOMMU groups\n" : out;
}

}  // namespace modiommu::sim
