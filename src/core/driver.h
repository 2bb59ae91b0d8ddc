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
