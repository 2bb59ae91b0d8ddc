// What a deferred device waits for (BEHAVIOUR.md 1). Each wait is a key the
// core indexes, so when the awaited thing changes only its waiters are
// retried: probe attempts stay O(devices + edges).
#pragma once

#include <compare>
#include <string>

namespace modiommu {

struct WaitKey {
  enum class Kind {
    device,        // a supplier device to bind (ptr = Device*)
    fwnode,        // something to register for a firmware node, e.g. an IOMMU (ptr = of::Node*)
    event,         // a named kernel event ("boot-complete", "sources-final", "legacy-smmu-barrier", ...)
    any_bind,      // unknown: retried on every successful bind (what Linux does for everything)
  };
  Kind kind = Kind::any_bind;
  const void* ptr = nullptr;
  std::string name;

  static WaitKey device(const void* dev) { return {Kind::device, dev, {}}; }
  static WaitKey fwnode(const void* node) { return {Kind::fwnode, node, {}}; }
  static WaitKey event(std::string n) { return {Kind::event, nullptr, std::move(n)}; }
  static WaitKey any_bind() { return {Kind::any_bind, nullptr, {}}; }

  auto operator<=>(const WaitKey&) const = default;
};

}  // namespace modiommu
