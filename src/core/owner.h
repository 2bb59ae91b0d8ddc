// Code that can go away: a driver's code belongs to a module, and the core
// pins that module around every call into it (BEHAVIOUR.md 3: a module stays
// mapped while any call into it is in progress). Built-in code has no owner.
#pragma once

#include <string>

#include "base/api.h"

namespace modiommu {

class MODIOMMU_API CodeOwner {
 public:
  virtual ~CodeOwner() = default;
  // False once the owner is going away: no new calls may start.
  virtual bool try_pin() = 0;
  virtual void unpin() = 0;
  virtual std::string owner_name() const = 0;
};

// RAII pin; `ok()` false if the owner refused (unloading).
class OwnerPin {
 public:
  explicit OwnerPin(CodeOwner* owner) : owner_(owner), ok_(!owner || owner->try_pin()) {}
  ~OwnerPin() {
    if (owner_ && ok_) owner_->unpin();
  }
  OwnerPin(const OwnerPin&) = delete;
  OwnerPin& operator=(const OwnerPin&) = delete;
  bool ok() const { return ok_; }

 private:
  CodeOwner* owner_;
  bool ok_;
};

}  // namespace modiommu
