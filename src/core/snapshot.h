// Read-only copies of the driver model for readers outside the core
// (report/, sim/, dsim/): taken in one go under the driver-model lock, then
// read without any lock. BEHAVIOUR.md's texts (reasons, availability) are
// computed at snapshot time, exactly as DriverCore::reason() and
// availability() give them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/api.h"
#include "core/device.h"
#include "core/link.h"
#include "core/wait.h"

namespace modiommu {

class Driver;

struct CoreStats {
  uint64_t probe_attempts = 0;
  uint64_t deferrals = 0;
  uint64_t binds = 0;
  uint64_t unbinds = 0;
};

struct DeviceSnapshot {
  // Identity, kept alive by the snapshot. Read through it only what never
  // changes after device_add: name, path, bus, fwnode, parent, compatible.
  std::shared_ptr<const Device> dev;
  DeviceState state = DeviceState::unbound;
  std::string driver;  // the bound driver's name, "" when not bound
  std::string driver_module;  // the bound driver's module, "" when built in or not bound
  const Driver* bound_driver = nullptr;  // identity only (compare with CoreSnapshot::drivers)
  // DriverCore::reason() for a deferred or failed device, else "".
  std::string reason;
  // DriverCore::availability() and driver_may_appear(); only when the
  // snapshot was asked for them.
  std::string availability;
  bool may_appear = false;
  std::vector<WaitKey> waits;
  uint64_t probe_attempts = 0;
  bool manual_unbind = false;
  bool populated_by_parent = false;

  const std::string& name() const { return dev->name(); }
};

struct MODIOMMU_API CoreSnapshot {
  std::vector<DeviceSnapshot> devices;  // in add order
  // In creation order. The devices they name are in `devices` (kept alive).
  std::vector<DeviceLink> links;
  std::vector<const Driver*> drivers;  // registered, in registration order
  CoreStats stats;
  bool boot_complete = false;
  bool sources_final = false;

  // The snapshot of a device, or null when it was not there.
  const DeviceSnapshot* find(const Device* d) const;
  // The first device added for a firmware node (find_device_by_fwnode), or null.
  const DeviceSnapshot* by_fwnode(const void* node) const;
  // The last one (IommuCore::iommu_device(): a virtio-iommu, not its transport), or null.
  const DeviceSnapshot* last_by_fwnode(const void* node) const;
  // Called once the lists are filled.
  void index();

 private:
  std::map<const Device*, size_t> by_dev_;
  std::map<const void*, std::vector<size_t>> by_fwnode_;  // in add order
};

}  // namespace modiommu
