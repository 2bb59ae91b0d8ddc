#include "sim/harness.h"

#include <map>
#include <mutex>

namespace modiommu::sim {
namespace {

std::mutex& registry_lock() {
  static std::mutex m;
  return m;
}
std::map<const Kernel*, Harness*>& registry() {  // guarded by registry_lock()
  static std::map<const Kernel*, Harness*> r;
  return r;
}

}  // namespace

Harness::Harness(Kernel& k) : k_(k) {
  std::lock_guard g(registry_lock());
  registry()[&k] = this;
}

Harness::~Harness() {
  if (watching_) k_.machine().memory().set_table_read_observer(nullptr);
  std::lock_guard g(registry_lock());
  if (auto it = registry().find(&k_); it != registry().end() && it->second == this) registry().erase(it);
}

Harness* Harness::of(const Kernel& k) {
  std::lock_guard g(registry_lock());
  auto it = registry().find(&k);
  return it == registry().end() ? nullptr : it->second;
}

void Harness::check_table_walks() {
  if (!k_.has_platform()) return;
  watching_ = true;
  k_.machine().memory().set_table_read_observer([this](uint64_t pa) {
    if (!k_.pages().is_free(pa)) return;
    if (freed_table_walks_.fetch_add(1, std::memory_order_relaxed) < 5)
      k_.log().err("", "an IOMMU walked page-table memory at {:#x} that the kernel has freed", pa);
  });
}

}  // namespace modiommu::sim
