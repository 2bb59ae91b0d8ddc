#include "core/of_platform.h"

#include "of/tree.h"

namespace modiommu {

bool of_dma_master(const of::Node& n) {
  auto refs = of::iommu_refs(n);
  return !refs.ok() || !refs->refs.empty();  // a malformed binding still describes a master
}

std::string of_device_name(const of::Node& node) {
  std::string base = node.name();
  auto at = base.find('@');
  if (at != std::string::npos) base = base.substr(0, at);
  if (node.has("reg")) {
    auto addr = node.translated_address(0);
    if (addr.ok()) return fmt::format("{:x}.{}", *addr, base);
  }
  return node.name();
}

namespace {

bool is_bus_node(const of::Node& n) {
  for (const char* c : {"simple-bus", "simple-mfd", "isa", "arm,amba-bus"})
    if (n.is_compatible(c)) return true;
  return false;
}

bool master_in_subtree(const of::Node& n) {
  if (of_dma_master(n)) return true;
  for (const auto& c : n.children())
    if (c->available() && master_in_subtree(*c)) return true;
  return false;
}

// A name no device has yet: Linux's "<address>.<name>", made unique but
// stable when two nodes translate to the same one (e.g. no reg).
std::string unique_name(const DriverCore& core, const of::Node& node) {
  std::string name = of_device_name(node);
  if (!core.name_in_use(name)) return name;
  std::string p = node.parent() ? node.parent()->name() : "";
  name = name + ":" + p;
  for (int i = 2; core.name_in_use(name); ++i) name = of_device_name(node) + ":" + std::to_string(i);
  return name;
}

// `override_driver`: also make devices of compatible-less nodes that do DMA
// (or hold one that does), bound to that driver.
void populate_node(DriverCore& core, Bus& bus, const of::Node& node, Device* parent, bool by_parent,
                   std::vector<Device*>& created,
                   const std::string& override_driver = {}) {
  if (!node.available()) return;
  const bool firmware_child = !node.has("compatible");
  if (firmware_child && (override_driver.empty() || !master_in_subtree(node))) return;
  if (by_parent && core.find_device_by_fwnode(&node)) return;  // already a device (a bus made it)
  std::string name = unique_name(core, node);
  auto dev = std::make_shared<PlatformDevice>(name, &bus, &node, parent);
  if (by_parent) dev->set_populated_by_parent();
  if (firmware_child) dev->set_driver_override(override_driver);
  Device* d = core.add_device(dev);
  created.push_back(d);
  if (is_bus_node(node))
    for (const auto& child : node.children()) populate_node(core, bus, *child, d, by_parent, created);
}

bool has_populatable_child(const of::Node& node, bool firmware_children) {
  for (const auto& c : node.children())
    if (c->available() && (c->has("compatible") || (firmware_children && master_in_subtree(*c)))) return true;
  return false;
}

}  // namespace

Result<size_t> of_platform_populate(DriverCore& core, Bus& platform_bus, const of::Tree& tree, Log& log) {
  std::vector<Device*> created;
  core.hold_probes();
  for (const auto& child : tree.root()->children())
    populate_node(core, platform_bus, *child, nullptr, false, created);
  for (Device* d : created) of_firmware_links(core, *d, log);
  core.release_probes();
  return created.size();
}

size_t of_platform_populate_children(DriverCore& core, Bus& platform_bus, Device& parent, Log& log) {
  const of::Node* node = parent.fwnode();
  const bool firmware_children = parent.driver() && parent.driver()->makes_firmware_children;
  if (!node || !has_populatable_child(*node, firmware_children)) return 0;
  const std::string override_driver = firmware_children ? parent.driver()->name : std::string();
  std::vector<Device*> created;
  // Links before probes, as at boot: a child must not probe past its IOMMU.
  core.hold_probes();
  for (const auto& child : node->children())
    populate_node(core, platform_bus, *child, &parent, true, created, override_driver);
  for (Device* d : created) of_firmware_links(core, *d, log);
  if (!created.empty()) log.debug(parent.name(), "populated {} child device(s)", created.size());
  core.release_probes();
  return created.size();
}

void of_platform_depopulate(DriverCore& core, Device& parent) {
  auto kids = core.children(parent);
  for (auto it = kids.rbegin(); it != kids.rend(); ++it)
    if ((*it)->populated_by_parent()) core.remove_device(**it);
}

void of_firmware_links(DriverCore& core, Device& dev, Log& log) {
  const of::Node* node = dev.fwnode();
  if (!node) return;
  auto link_to = [&](const of::Node* target, const char* why) {
    if (!target->available()) {
      log.info(dev.name(), "{} names {}, which is disabled: not behind it", why, target->path());
      return;
    }
    Device* sup = core.find_device_by_fwnode(target);
    if (!sup) {
      log.info(dev.name(), "{} names {}, which has no device: no link", why, target->path());
      return;
    }
    auto r = core.link_add(dev, *sup, LinkKind::firmware, why);
    if (!r.ok()) log.err(dev.name(), "firmware link to {}: {}", sup->name(), r.error().str());
  };
  auto refs = of::iommu_refs(*node);
  if (!refs.ok()) {
    log.err(dev.name(), "bad IOMMU binding: {}", refs.error().message);
  } else {
    for (const auto& pa : refs->refs) link_to(pa.target, refs->legacy ? "mmu-masters" : "iommus");
  }
  // No link from a host bridge to its iommu-map targets: the bridge does no
  // DMA itself, and unbinding it with its IOMMU would remove every PCI device
  // below it. Each PCI function gets its own managed link to the IOMMU from
  // the IOMMU core when it probes.
}

}  // namespace modiommu
