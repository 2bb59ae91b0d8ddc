#include "hw/machine.h"

#include <fmt/format.h>

namespace modiommu::hw {

Machine::~Machine() {
  // Unmap first so no bus access reaches a model being destroyed.
  for (auto& [base, dev] : devices_) (void)bus_.unmap(base);
  devices_.clear();
}

Status Machine::add_device(uint64_t base, uint64_t size, std::shared_ptr<MmioDevice> dev) {
  std::lock_guard g(lock_);
  TRY(bus_.map(base, size, dev));
  devices_[base] = std::move(dev);
  return {};
}

Status Machine::remove_device(uint64_t base) {
  std::shared_ptr<MmioDevice> dying;
  {
    std::lock_guard g(lock_);
    TRY(bus_.unmap(base));
    auto it = devices_.find(base);
    if (it != devices_.end()) {
      dying = std::move(it->second);
      devices_.erase(it);
    }
  }
  return {};
}

std::shared_ptr<MmioDevice> Machine::device_at(uint64_t addr) const {
  auto m = bus_.find(addr);
  if (!m) return nullptr;
  return m->device;
}

IrqLine& Machine::irq(unsigned number) {
  std::lock_guard g(lock_);
  auto& slot = irqs_[number];
  if (!slot) slot = std::make_unique<IrqLine>(fmt::format("irq{}", number));
  return *slot;
}

std::vector<unsigned> Machine::irq_numbers() const {
  std::lock_guard g(lock_);
  std::vector<unsigned> out;
  for (const auto& [n, l] : irqs_) out.push_back(n);
  return out;
}

}  // namespace modiommu::hw
