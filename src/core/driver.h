// struct device_driver: a match table plus probe/remove, owned by a module
// (or built in, owner == nullptr).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

class Bus;
class CodeOwner;
class Device;

class MODIOMMU_API Driver {
 public:
  virtual ~Driver() = default;
  std::string name;
  Bus* bus = nullptr;
  // of_match_table: compatible strings this driver binds to.
  std::vector<std::string> of_match;
  CodeOwner* owner = nullptr;  // the module whose code this is; null when built in
  // Its bound device's child nodes become devices, as a probe calling
  // of_platform_populate() makes them (BEHAVIOUR.md 7). A driver whose node's
  // children are not platform devices (a PCI host bridge's functions) says no.
  bool populates_children = true;
  // It also makes devices, bound to itself (driver_override), for child
  // nodes with no compatible that do DMA or hold a node that does, as
  // drivers such as venus (video-firmware) or a remoteproc (glink-edge) do.
  bool makes_firmware_children = false;

  virtual Status probe(Device& dev) = 0;
  virtual void remove(Device& dev) = 0;
};

// A driver from two lambdas, for small drivers and tests.
class MODIOMMU_API SimpleDriver : public Driver {
 public:
  std::function<Status(Device&)> on_probe;
  std::function<void(Device&)> on_remove;
  Status probe(Device& dev) override { return on_probe ? on_probe(dev) : Status{}; }
  void remove(Device& dev) override {
    if (on_remove) on_remove(dev);
  }
};

}  // namespace modiommu
