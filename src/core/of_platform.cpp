#include "core/of_platform.h"

#include "of/tree.h"

namespace modiommu {

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

void populate_node(DriverCore& core, Bus& bus, const of::Node& node, Device* parent, size_t& count,
                   std::vector<Device*>& created) {
  if (!node.available() || !node.has("compatible")) return;
  std::string name = of_device_name(node);
  if (core.name_in_use(name)) {
    // Two nodes translating to one name (e.g. no reg): make it unique but stable.
    std::string p = node.parent() ? node.parent()->name() : "";
    name = name + ":" + p;
    for (int i = 2; core.name_in_use(name); ++i) name = of_device_name(node) + ":" + std::to_string(i);
  }
  auto dev = std::make_shared<PlatformDevice>(name, &bus, &node, parent);
  Device* d = core.add_device(dev);
  created.push_back(d);
  ++count;
  if (is_bus_node(node))
    for (const auto& child : node.children()) populate_node(core, bus, *child, d, count, created);
}

}  // namespace

Result<size_t> of_platform_populate(DriverCore& core, Bus& platform_bus, const of::Tree& tree, Log& log) {
  size_t count = 0;
  std::vector<Device*> created;
  core.hold_probes();
  for (const auto& child : tree.root()->children())
    populate_node(core, platform_bus, *child, nullptr, count, created);
  for (Device* d : created) of_firmware_links(core, *d, log);
  core.release_probes();
  return count;
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
