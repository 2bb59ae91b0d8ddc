// Scenario commands for PCI hotplug (INTERFACE.md): `hotplug add PCI-BDF
// KIND` plugs a function into the emulated fabric and has the host bridge
// driver rescan; `hotplug remove DEVICE` removes the device in order
// (driver unbound, DMA stopped, IOMMU released) and then the function.
#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "core/pci.h"
#include "uapi/pci_regs.h"
#include "hw/pci/function.h"
#include "board/pci_model.h"
#include "sim/scenario.h"

namespace modiommu::sim {
namespace {

// "DDDD:BB:DD.F" or "BB:DD.F".
Result<std::pair<unsigned, uint16_t>> parse_bdf(const std::string& s) {
  unsigned dom = 0, bus = 0, dev = 0, fn = 0;
  char tail = 0;
  const bool full = std::sscanf(s.c_str(), "%x:%x:%x.%u%c", &dom, &bus, &dev, &fn, &tail) == 4;
  if (!full) {
    dom = 0;
    if (std::sscanf(s.c_str(), "%x:%x.%u%c", &bus, &dev, &fn, &tail) != 3)
      return make_error(Errc::inval, "not a PCI address: '" + s + "' (want DDDD:BB:DD.F or BB:DD.F)");
  }
  if (bus > 0xff || dev > 0x1f || fn > 7) return make_error(Errc::range, "PCI address out of range: '" + s + "'");
  return std::pair{dom, static_cast<uint16_t>(bus << 8 | dev << 3 | fn)};
}

PciHost* host_driver(Kernel& k, const of::Node& node) {
  for (PciHost* h : k.pci().hosts())
    if (h->device().fwnode() == &node) return h;
  return nullptr;
}

void add_pci_commands(Scenario& sc) {
  sc.add_command("hotplug", "hotplug add PCI-BDF KIND | hotplug remove DEVICE",
                 "add a PCI function (KIND: dmatest) and rescan, or remove a PCI device in order",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   Kernel& k = s.kernel();
                   if (a.size() == 4 && a[1] == "add") {
                     auto [dom, rid] = TRY(parse_bdf(a[2]));
                     auto hosts = k.has_platform() ? k.platform().pci_hosts() : std::vector<PciHostModel*>{};
                     if (dom >= hosts.size())
                       return make_error(Errc::noent, fmt::format("no PCI host bridge for domain {:04x}", dom));
                     // Enumeration reads function 0 of each device, and the others only
                     // when its header type says multi-function: anything else would be
                     // plugged but never seen.
                     if ((rid & 7) != 0) {
                       const auto* f0 = hosts[dom]->function(uint16_t(rid & ~7u));
                       if (!f0)
                         return make_error(Errc::nodev, fmt::format("{}: device {:02x}:{:02x} has no function 0, so a "
                                                                    "PCI bus would not see this function",
                                                                    a[2], rid >> 8, (rid >> 3) & 0x1f));
                       if (!(f0->fn->config_read(modiommu::uapi::pci::HEADER_TYPE, 1) & modiommu::uapi::pci::HEADER_TYPE_MULTI))
                         return make_error(Errc::nodev, fmt::format("{}: function 0 of device {:02x}:{:02x} is "
                                                                    "single-function, so a PCI bus would not look for "
                                                                    "function {}",
                                                                    a[2], rid >> 8, (rid >> 3) & 0x1f, rid & 7));
                     }
                     TRY(hosts[dom]->hotplug_add(uint8_t(rid >> 8), uint8_t(rid), a[3]));
                     PciHost* h = host_driver(k, hosts[dom]->host());
                     if (!h) {
                       s.out() << fmt::format("{}: plugged; no host bridge driver bound to see it\n", a[2]);
                       return Status{};
                     }
                     // A rescan from outside runs as a sysfs store would: no probe or remove meanwhile.
                     return k.core().exclusive([h] { return h->rescan(); });
                   }
                   if (a.size() == 3 && a[1] == "remove") {
                     Status st;
                     Device* d = s.device_arg(a[2], st);
                     if (!d) {
                       // A function no driver enumerated (its host bridge is not
                       // bound): only the hardware has it.
                       auto bdf = parse_bdf(a[2]);
                       auto hosts = k.has_platform() ? k.platform().pci_hosts() : std::vector<PciHostModel*>{};
                       if (bdf.ok() && bdf->first < hosts.size() && hosts[bdf->first]->function(bdf->second))
                         return hosts[bdf->first]->hotplug_remove(bdf->second);
                       return st;
                     }
                     const PciDevice* pd = to_pci(d);
                     if (!pd) return make_error(Errc::inval, d->name() + " is not a PCI device");
                     const uint16_t rid = pd->info().rid();
                     PciHostModel* model =
                         pd->host() && pd->host()->fwnode() ? k.platform().pci_host(pd->host()->fwnode()) : nullptr;
                     PciHost* h = pd->host() && pd->host()->fwnode() ? host_driver(k, *pd->host()->fwnode()) : nullptr;
                     if (!model || !h) return make_error(Errc::nodev, d->name() + ": its host bridge is not driven");
                     TRY(k.core().exclusive([h, rid] { return h->remove_function(rid); }));
                     k.core().process();
                     return model->hotplug_remove(rid);
                   }
                   return make_error(Errc::inval, "usage: hotplug add PCI-BDF KIND | hotplug remove DEVICE");
                 });
  sc.add_expectation("group", "expect group DEVICE alone|shared-with DEVICE2",
                 "IOMMU group membership (BEHAVIOUR.md 4: ACS isolation, DMA aliases)",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   const bool alone = a.size() == 4 && a[3] == "alone";
                   const bool shared = a.size() == 5 && a[3] == "shared-with";
                   if (!alone && !shared)
                     return make_error(Errc::inval, "usage: expect group DEVICE alone|shared-with DEVICE2");
                   Status st;
                   Device* d = s.device_arg(a[2], st);
                   if (!d) return st;
                   auto info = s.kernel().iommu().info(*d);
                   if (!info || info->group < 0) {
                     s.expect_failed(d->name() + " is in no IOMMU group");
                     return Status{};
                   }
                   std::vector<std::string> members;
                   for (const auto& g : s.kernel().iommu().group_snapshots())
                     if (g.id == info->group)
                       for (const auto& m : g.members) members.push_back(m.name);
                   if (alone) {
                     if (members.size() != 1)
                       s.expect_failed(fmt::format("{} shares group {} with {} device(s)", d->name(), info->group,
                                                   members.size() - 1));
                     return Status{};
                   }
                   Device* other = s.device_arg(a[4], st);
                   if (!other) return st;
                   if (std::find(members.begin(), members.end(), other->name()) == members.end())
                     s.expect_failed(fmt::format("{} (group {}) does not share its group with {}", d->name(),
                                                 info->group, other->name()));
                   return Status{};
                 });
}

const bool registered = [] {
  scenario_extensions().push_back(add_pci_commands);
  return true;
}();

}  // namespace
}  // namespace modiommu::sim
