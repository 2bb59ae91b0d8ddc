// Wired interrupt lines. A model calls raise() (an edge: "this line fired");
// whoever listens (an interrupt controller stand-in, a driver's handler, a
// test) registered a callback.
//
// Locking: listeners are called synchronously in the raising thread while a
// shared lock is held, so remove_listener() (unique lock) returns only once no
// call to that listener is running: a module can unload right after removing
// its handler. A listener must not add/remove listeners on its own line, and
// models must raise lines with none of their own locks held (a handler
// usually reads the model's registers).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/api.h"

namespace modiommu::hw {

class MODIOMMU_API IrqLine {
 public:
  using Handler = std::function<void()>;
  explicit IrqLine(std::string name) : name_(std::move(name)) {}
  IrqLine(const IrqLine&) = delete;
  IrqLine& operator=(const IrqLine&) = delete;

  const std::string& name() const { return name_; }
  // Returns an id for remove_listener().
  uint64_t add_listener(Handler h);
  // False if the id is unknown. Waits for a running call of the handler.
  bool remove_listener(uint64_t id);
  size_t listener_count() const;

  void raise();
  // Times raise() was called since creation.
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::string name_;
  mutable std::shared_mutex lock_;  // guards listeners_ and next_id_; docs/architecture.md "Locks"
  std::vector<std::pair<uint64_t, Handler>> listeners_;
  uint64_t next_id_ = 1;
  std::atomic<uint64_t> count_{0};
};

}  // namespace modiommu::hw
