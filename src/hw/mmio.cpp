#include "hw/mmio.h"

#include <fmt/format.h>

#include "base/fault_inject.h"

namespace modiommu::hw {

std::string BusError::str() const {
  return fmt::format("bus error: {} {}-byte {} at {:#x}", reason, size, write ? "write" : "read", addr);
}

Status MmioBus::map(uint64_t base, uint64_t size, std::shared_ptr<MmioDevice> device) {
  if (!device) return make_error(Errc::inval, fmt::format("MMIO map at {:#x}: no device", base));
  const std::string name = device->name();
  if (size == 0) return make_error(Errc::inval, fmt::format("MMIO map of '{}' at {:#x}: size 0", name, base));
  if (base + size < base)
    return make_error(Errc::range, fmt::format("MMIO map of '{}' [{:#x}, +{:#x}) wraps the address space", name, base, size));
  std::unique_lock g(lock_);
  // Mappings never overlap, so only the neighbours around `base` can.
  auto next = maps_.lower_bound(base);
  for (auto it : {next, next == maps_.begin() ? maps_.end() : std::prev(next)}) {
    if (it == maps_.end()) continue;
    const Mapping& m = it->second;
    if (base < m.base + m.size && m.base < base + size)
      return make_error(Errc::exist, fmt::format("MMIO range of '{}' [{:#x}, +{:#x}) overlaps '{}' [{:#x}, +{:#x})", name,
                                                 base, size, m.device->name(), m.base, m.size));
  }
  maps_.emplace(base, Mapping{base, size, std::move(device)});
  return {};
}

Status MmioBus::unmap(uint64_t base) {
  std::shared_ptr<MmioDevice> dying;  // released after the lock is dropped
  std::unique_lock g(lock_);
  auto it = maps_.find(base);
  if (it == maps_.end()) return make_error(Errc::noent, fmt::format("no MMIO mapping starts at {:#x}", base));
  dying = std::move(it->second.device);
  maps_.erase(it);
  g.unlock();
  return {};
}

std::vector<MmioBus::Mapping> MmioBus::mappings() const {
  std::shared_lock g(lock_);
  std::vector<Mapping> out;
  out.reserve(maps_.size());
  for (const auto& [b, m] : maps_) out.push_back(m);
  return out;
}

std::optional<MmioBus::Mapping> MmioBus::find(uint64_t addr) const {
  std::shared_lock g(lock_);
  auto it = maps_.upper_bound(addr);
  if (it == maps_.begin()) return std::nullopt;
  --it;
  if (addr - it->second.base >= it->second.size) return std::nullopt;
  return it->second;
}

void MmioBus::record(BusError e) {
  bus_errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard g(err_lock_);
  last_ = std::move(e);
}

std::optional<BusError> MmioBus::last_bus_error() const {
  std::lock_guard g(err_lock_);
  return last_;
}

std::shared_ptr<MmioDevice> MmioBus::route(uint64_t addr, unsigned size, bool is_write, uint64_t value,
                                           uint64_t* offset) {
  const char* reason = nullptr;
  std::shared_ptr<MmioDevice> dev;
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    reason = "bad size";
  } else if (addr & (size - 1)) {
    reason = "misaligned";
  } else {
    std::shared_lock g(lock_);
    auto it = maps_.upper_bound(addr);
    if (it == maps_.begin() || addr - std::prev(it)->second.base >= std::prev(it)->second.size) {
      reason = "unmapped";
    } else {
      const Mapping& m = std::prev(it)->second;
      *offset = addr - m.base;
      if (*offset + size > m.size) reason = "crosses mapping end";
      else dev = m.device;
    }
  }
  if (reason) record(BusError{addr, size, is_write, is_write ? value : 0, reason});
  return dev;
}

uint64_t MmioBus::read(uint64_t addr, unsigned size) {
  uint64_t off = 0;
  auto dev = route(addr, size, false, 0, &off);
  if (!dev) return (size == 1 || size == 2 || size == 4) ? (uint64_t{1} << (size * 8)) - 1 : ~uint64_t{0};
  // Fault point: the device is gone (surprise removal): reads float high.
  if (fault_point("mmio.read.all_ones")) return size < 8 ? (uint64_t{1} << (size * 8)) - 1 : ~uint64_t{0};
  uint64_t v = dev->read(off, size);
  if (size < 8) v &= (uint64_t{1} << (size * 8)) - 1;
  return v;
}

void MmioBus::write(uint64_t addr, uint64_t value, unsigned size) {
  uint64_t off = 0;
  auto dev = route(addr, size, true, value, &off);
  if (!dev) return;
  if (size < 8) value &= (uint64_t{1} << (size * 8)) - 1;
  dev->write(off, value, size);
}

}  // namespace modiommu::hw
