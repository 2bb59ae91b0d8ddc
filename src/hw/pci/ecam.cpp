#include "hw/pci/ecam.h"

#include <fmt/format.h>

namespace modiommu::hw::pci {

PciEcam::PciEcam(std::string name, unsigned bus_first, unsigned bus_last)
    : name_(std::move(name)), bus_first_(bus_first & 0xff), bus_last_(std::max(bus_first & 0xff, bus_last & 0xff)) {}

// ECAM offset: bus[27:20] device[19:15] function[14:12] register[11:0].
std::shared_ptr<PciFunction> PciEcam::at(uint64_t offset, uint32_t* reg) const {
  const uint64_t bus = bus_first_ + (offset >> 20);
  if (bus > bus_last_) return nullptr;
  *reg = static_cast<uint32_t>(offset & 0xfff);
  std::lock_guard g(lock_);
  auto it = fns_.find(static_cast<uint16_t>(bus << 8 | ((offset >> 12) & 0xff)));
  return it == fns_.end() ? nullptr : it->second;
}

uint64_t PciEcam::read(uint64_t offset, unsigned size) {
  uint32_t reg = 0;
  auto fn = at(offset, &reg);
  if (!fn || size > 4) return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
  return fn->config_read(reg, size);
}

void PciEcam::write(uint64_t offset, uint64_t value, unsigned size) {
  uint32_t reg = 0;
  auto fn = at(offset, &reg);
  if (fn && size <= 4) fn->config_write(reg, static_cast<uint32_t>(value), size);
}

Status PciEcam::plug(unsigned bus, unsigned devfn, std::shared_ptr<PciFunction> fn) {
  if (bus < bus_first_ || bus > bus_last_ || devfn > 0xff)
    return make_error(Errc::range, fmt::format("{}: {:02x}:{:02x}.{} is outside buses {:02x}-{:02x}", name_, bus,
                                               devfn >> 3, devfn & 7, bus_first_, bus_last_));
  std::lock_guard g(lock_);
  auto [it, fresh] = fns_.emplace(static_cast<uint16_t>(bus << 8 | devfn), std::move(fn));
  if (!fresh)
    return make_error(Errc::exist, fmt::format("{}: {:02x}:{:02x}.{} is already taken by {}", name_, bus, devfn >> 3,
                                               devfn & 7, it->second->name()));
  return {};
}

std::shared_ptr<PciFunction> PciEcam::unplug(unsigned bus, unsigned devfn) {
  std::lock_guard g(lock_);
  auto it = fns_.find(static_cast<uint16_t>((bus & 0xff) << 8 | (devfn & 0xff)));
  if (it == fns_.end()) return nullptr;
  auto fn = std::move(it->second);
  fns_.erase(it);
  return fn;
}

std::shared_ptr<PciFunction> PciEcam::function(unsigned bus, unsigned devfn) const {
  std::lock_guard g(lock_);
  auto it = fns_.find(static_cast<uint16_t>((bus & 0xff) << 8 | (devfn & 0xff)));
  return it == fns_.end() ? nullptr : it->second;
}

std::vector<std::pair<uint16_t, std::shared_ptr<PciFunction>>> PciEcam::functions() const {
  std::lock_guard g(lock_);
  return {fns_.begin(), fns_.end()};
}

}  // namespace modiommu::hw::pci
