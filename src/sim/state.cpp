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
  std::lock_guard g(k.core().lock());
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
  for (Device* d : k.core().devices()) {
    json j;
    j["name"] = d->name();
    j["path"] = d->path();
    j["bus"] = d->bus() ? d->bus()->name() : "none";
    // How it came to exist: the bus walk at boot (or enumeration), or its
    // parent's driver populating it.
    j["populated_by"] = d->populated_by_parent() && d->parent() ? d->parent()->name() : "bus";
    j["compatible"] = d->compatible();
    j["driver"] = d->driver() && d->state() == DeviceState::bound ? json(d->driver()->name) : json(nullptr);
    j["state"] = device_state_name(d->state());
    j["deferred_reason"] = d->state() == DeviceState::deferred || d->state() == DeviceState::failed
                               ? json(k.core().reason(*d))
                               : json(nullptr);
    j["iommu"] = nullptr;
    j["stream_ids"] = json::array();
    j["iommu_group"] = nullptr;
    j["domain"] = nullptr;
    j["probe_attempts"] = d->probe_attempts();
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
  for (const auto& l : k.core().links())
    links.push_back({{"supplier", l.supplier->name()},
                     {"consumer", l.consumer->name()},
                     {"state", link_state_name(l.state)},
                     {"kind", link_kind_name(l.kind)},
                     {"why", l.why}});
  doc["links"] = std::move(links);
  auto st = k.core().stats();
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
  std::lock_guard g(k.core().lock());
  auto devs = k.core().devices();
  size_t w = 6;
  for (Device* d : devs) w = std::max(w, d->name().size());
  std::string out = fmt::format("{:<{}}  {:<8}  {:<18}  {:>6}  {}\n", "DEVICE", w, "STATE", "DRIVER", "PROBES", "REASON");
  size_t counts[4] = {};
  for (Device* d : devs) {
    counts[static_cast<int>(d->state())]++;
    std::string drv = d->state() == DeviceState::bound && d->driver() ? d->driver()->name : "-";
    std::string why = d->state() == DeviceState::deferred || d->state() == DeviceState::failed ? k.core().reason(*d) : "";
    out += fmt::format("{:<{}}  {:<8}  {:<18}  {:>6}  {}\n", d->name(), w, device_state_name(d->state()), drv,
                       d->probe_attempts(), why);
  }
  auto st = k.core().stats();
  out += fmt::format("{} devices: {} bound, {} deferred, {} unbound, {} failed; {} probe attempts, {} deferrals\n",
                     devs.size(), counts[static_cast<int>(DeviceState::bound)],
                     counts[static_cast<int>(DeviceState::deferred)], counts[static_cast<int>(DeviceState::unbound)],
                     counts[static_cast<int>(DeviceState::failed)], st.probe_attempts, st.deferrals);
  return out;
}

std::string format_lsdev(Kernel& k) {
  std::lock_guard g(k.core().lock());
  std::string out;
  for (Device* d : k.core().devices())
    out += fmt::format("{} {} {} driver={}\n", d->name(), d->path(), device_state_name(d->state()),
                       d->state() == DeviceState::bound && d->driver() ? d->driver()->name : "none");
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
  // Groups change only in probe and remove, under the core lock.
  std::lock_guard g(k.core().lock());
  std::string out;
  for (const iommu::IommuGroup* grp : k.iommu().groups()) {
    if (grp->devices.empty()) continue;
    auto first = k.iommu().info(*grp->devices.front());
    const std::string iommu = first && !first->iommu.empty() ? first->iommu : "?";
    const std::string domain = first && first->domain ? iommu::domain_type_name(*first->domain) : "none";
    out += fmt::format("{}group {}: iommu {}, domain {} (default {}), {} device(s)\n", out.empty() ? "" : "\n", grp->id,
                       iommu, domain, iommu::domain_type_name(grp->default_type), grp->devices.size());
    for (Device* d : grp->devices) out += fmt::format("  {} {}\n", d->name(), d->path());
  }
  return out.empty() ? "no IOMMU groups\n" : out;
}

}  // namespace modiommu::sim
