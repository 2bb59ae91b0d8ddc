// struct device_link: consumer -> supplier (BEHAVIOUR.md 2).
#pragma once

#include <cstdint>
#include <string>

#include "base/api.h"

namespace modiommu {

class Device;

enum class LinkKind {
  managed,   // device_link_add(DL_FLAG_AUTOREMOVE...): enforced always
  firmware,  // inferred from `iommus`/`iommu-map`: enforced while the supplier can still bind
};

// Linux's DL_STATE_* names.
enum class LinkState { dormant, available, consumer_probe, active, supplier_unbind, relaxed };

MODIOMMU_API const char* link_state_name(LinkState s);
MODIOMMU_API const char* link_kind_name(LinkKind k);

struct DeviceLink {
  Device* supplier = nullptr;
  Device* consumer = nullptr;
  LinkKind kind = LinkKind::managed;
  LinkState state = LinkState::dormant;
  std::string why;  // "iommus", "test-consumer supplier", ...
  uint64_t seq = 0;  // creation order, set by the driver core (its index key)
};

}  // namespace modiommu
