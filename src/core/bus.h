// struct bus_type: how devices and drivers on one bus match, and the alias a
// device announces for module autoload (its modalias).
#pragma once

#include <string>
#include <vector>

#include "base/api.h"

namespace modiommu {

class Device;
class Driver;

class MODIOMMU_API Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}
  virtual ~Bus() = default;
  const std::string& name() const { return name_; }
  virtual bool match(const Device& dev, const Driver& drv) const;
  // Aliases to look up in the module index when no loaded driver matches
  // (Linux's MODALIAS uevent). Default: "of:<compatible>" for each string.
  virtual std::vector<std::string> modaliases(const Device& dev) const;

 private:
  std::string name_;
};

}  // namespace modiommu
