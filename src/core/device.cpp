#include "core/device.h"

#include "core/bus.h"
#include "core/driver.h"
#include "core/link.h"
#include "of/tree.h"

namespace modiommu {

const char* device_state_name(DeviceState s) {
  switch (s) {
    case DeviceState::unbound: return "unbound";
    case DeviceState::deferred: return "deferred";
    case DeviceState::bound: return "bound";
    case DeviceState::failed: return "failed";
  }
  return "?";
}

const char* link_state_name(LinkState s) {
  switch (s) {
    case LinkState::dormant: return "dormant";
    case LinkState::available: return "available";
    case LinkState::consumer_probe: return "consumer-probe";
    case LinkState::active: return "active";
    case LinkState::supplier_unbind: return "supplier-unbind";
    case LinkState::relaxed: return "relaxed";
  }
  return "?";
}

const char* link_kind_name(LinkKind k) { return k == LinkKind::managed ? "managed" : "firmware"; }

Device::~Device() = default;

std::string Device::path() const { return fwnode_ ? fwnode_->path() : name_; }

std::vector<std::string> Device::compatible() const {
  return fwnode_ ? fwnode_->compatible() : std::vector<std::string>{};
}

void Device::devm_add(std::string what, std::function<void()> release) {
  devres_.emplace_back(std::move(what), std::move(release));
}

bool Bus::match(const Device& dev, const Driver& drv) const {
  if (!dev.driver_override().empty()) return drv.name == dev.driver_override();
  // of_match_device(): any of the device's compatible strings.
  for (const auto& c : dev.compatible())
    for (const auto& m : drv.of_match)
      if (c == m) return true;
  return false;
}

std::vector<std::string> Bus::modaliases(const Device& dev) const {
  std::vector<std::string> out;
  for (const auto& c : dev.compatible()) out.push_back("of:" + c);
  return out;
}

}  // namespace modiommu
