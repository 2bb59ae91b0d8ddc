#include "hw/irq.h"

#include <mutex>

namespace modiommu::hw {

uint64_t IrqLine::add_listener(Handler h) {
  std::unique_lock g(lock_);
  const uint64_t id = next_id_++;
  listeners_.emplace_back(id, std::move(h));
  return id;
}

bool IrqLine::remove_listener(uint64_t id) {
  std::unique_lock g(lock_);
  for (auto it = listeners_.begin(); it != listeners_.end(); ++it) {
    if (it->first == id) {
      listeners_.erase(it);
      return true;
    }
  }
  return false;
}

size_t IrqLine::listener_count() const {
  std::shared_lock g(lock_);
  return listeners_.size();
}

void IrqLine::raise() {
  count_.fetch_add(1, std::memory_order_relaxed);
  std::shared_lock g(lock_);
  for (auto& [id, h] : listeners_) h();
}

}  // namespace modiommu::hw
