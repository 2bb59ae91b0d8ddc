#include "core/snapshot.h"

namespace modiommu {

void CoreSnapshot::index() {
  by_dev_.clear();
  by_fwnode_.clear();
  for (size_t i = 0; i < devices.size(); ++i) {
    by_dev_.emplace(devices[i].dev.get(), i);
    if (const void* n = devices[i].dev->fwnode()) by_fwnode_[n].push_back(i);
  }
}

const DeviceSnapshot* CoreSnapshot::find(const Device* d) const {
  auto it = by_dev_.find(d);
  return it == by_dev_.end() ? nullptr : &devices[it->second];
}

const DeviceSnapshot* CoreSnapshot::by_fwnode(const void* node) const {
  auto it = by_fwnode_.find(node);
  return it == by_fwnode_.end() ? nullptr : &devices[it->second.front()];
}

const DeviceSnapshot* CoreSnapshot::last_by_fwnode(const void* node) const {
  auto it = by_fwnode_.find(node);
  return it == by_fwnode_.end() ? nullptr : &devices[it->second.back()];
}

}  // namespace modiommu
