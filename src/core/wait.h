// What a deferred device waits for (BEHAVIOUR.md 1). Each wait is a key the
// core indexes, so when the awaited thing changes only its waiters are
// retried: probe attempts stay O(devices + edges).
#pragma once

#include <compare>

#include "base/api.h"

namespace modiommu {

// Kernel events a probe can wait for. The legacy mmu-masters barrier
// (BEHAVIOUR.md 5) needs none: its masters wait on each legacy SMMU's node
// and device, which kick them when they register, bind or fail.
enum class WaitEvent {
  boot_complete,  // "boot-complete": the end of the initcall phase
  sources_final,  // "sources-final": no module that is not known now can appear
};
// The event's name in logs, explain and scenario output.
MODIOMMU_API const char* wait_event_name(WaitEvent e);

struct WaitKey {
  enum class Kind {
    device,        // a supplier device to bind (ptr = Device*)
    fwnode,        // something to register for a firmware node, e.g. an IOMMU (ptr = of::Node*)
    event,         // a kernel event (ev)
    any_bind,      // unknown: retried on every successful bind (what Linux does for everything)
  };
  Kind kind = Kind::any_bind;
  const void* ptr = nullptr;
  WaitEvent ev = WaitEvent::boot_complete;  // meaningful for Kind::event only

  static WaitKey device(const void* dev) { return {Kind::device, dev, {}}; }
  static WaitKey fwnode(const void* node) { return {Kind::fwnode, node, {}}; }
  static WaitKey event(WaitEvent e) { return {Kind::event, nullptr, e}; }
  static WaitKey any_bind() { return {Kind::any_bind, nullptr, {}}; }

  auto operator<=>(const WaitKey&) const = default;
};

}  // namespace modiommu
