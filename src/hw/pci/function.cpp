#include "hw/pci/function.h"

#include <bit>

namespace modiommu::hw::pci {

using namespace uapi::pci;

PciFunction::PciFunction(std::string name, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t header_type)
    : name_(std::move(name)) {
  put(VENDOR_ID, vendor, 2);
  put(DEVICE_ID, device, 2);
  put(COMMAND, 0, 2, true);
  put(REVISION, CLASS_REVISION_CLASS::prep(class_code) | 1, 4);  // revision 1
  put(HEADER_TYPE, header_type, 1);
  put(INTERRUPT_LINE, 0, 1, true);
  // STATUS error bits are write-1-to-clear (6.2.3).
  w1c_[STATUS + 1] = 0xf9;
  if (header_type == HEADER_TYPE_BRIDGE) {
    put(PRIMARY_BUS, 0, 1, true);
    put(SECONDARY_BUS, 0, 1, true);
    put(SUBORDINATE_BUS, 0, 1, true);
    put(MEMORY_BASE, 0, 4, true);
  }
}

void PciFunction::put(uint32_t off, uint32_t v, unsigned size, bool writable) {
  for (unsigned i = 0; i < size; ++i) {
    cfg_[off + i] = static_cast<uint8_t>(v >> (8 * i));
    if (writable) wmask_[off + i] = 0xff;
  }
}

uint32_t PciFunction::config_read(uint32_t off, unsigned size) {
  if ((size != 1 && size != 2 && size != 4) || off % size || off + size > kConfigSize) return 0xffffffffu;
  config_read_hook(off, size);
  std::lock_guard g(lock_);
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{cfg_[off + i]} << (8 * i);
  return v;
}

void PciFunction::store_config_write(uint32_t off, uint32_t value, unsigned size) {
  std::lock_guard g(lock_);
  for (unsigned i = 0; i < size; ++i) {
    const uint32_t o = off + i;
    const uint8_t b = static_cast<uint8_t>(value >> (8 * i));
    cfg_[o] = static_cast<uint8_t>((cfg_[o] & ~wmask_[o]) | (b & wmask_[o]));
    cfg_[o] &= static_cast<uint8_t>(~(b & w1c_[o]));
  }
  // BAR sizing (6.2.5.1): the address bits below the size read as zero, so
  // writing all ones reads back the size mask.
  const unsigned nbars = is_bridge() ? kBarsType1 : kBarsType0;
  for (unsigned b = 0; b < nbars; ++b) {
    const uint64_t sz = bar_size_[b];
    if (!sz) continue;
    const uint32_t reg = BAR0 + 4 * b;
    uint32_t lo = 0;
    for (unsigned i = 0; i < 4; ++i) lo |= uint32_t{cfg_[reg + i]} << (8 * i);
    const uint32_t flags = lo & BAR_FLAGS_MASK;
    lo = (lo & ~BAR_FLAGS_MASK & static_cast<uint32_t>(~(sz - 1))) | flags;
    for (unsigned i = 0; i < 4; ++i) cfg_[reg + i] = static_cast<uint8_t>(lo >> (8 * i));
  }
}

void PciFunction::config_write(uint32_t off, uint32_t value, unsigned size) {
  if ((size != 1 && size != 2 && size != 4) || off % size || off + size > kConfigSize) return;
  store_config_write(off, value, size);
  config_write_hook(off, size);
}

void PciFunction::set_config_bytes(uint32_t off, uint32_t value, unsigned size) {
  if (size > 4 || off + size > kConfigSize) return;
  std::lock_guard g(lock_);
  put(off, value, size);
}

uint32_t PciFunction::config_bytes(uint32_t off, unsigned size) const {
  if (size > 4 || off + size > kConfigSize) return 0;
  std::lock_guard g(lock_);
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{cfg_[off + i]} << (8 * i);
  return v;
}

uint8_t PciFunction::add_capability(uint8_t id, std::span<const uint8_t> body) {
  std::lock_guard g(lock_);
  const unsigned len = 2 + static_cast<unsigned>(body.size());
  // Standard capabilities live in 0x40..0xff (PCI Local Bus 3.0 6.7).
  if (body.size() > 254 || next_cap_ + len > EXT_CAP_START) return 0;
  const uint8_t at = add_cap(id, len);
  for (size_t i = 0; i < body.size(); ++i) cfg_[at + 2 + i] = body[i];
  return at;
}

void PciFunction::set_config_writable(uint32_t off, unsigned len) {
  std::lock_guard g(lock_);
  for (uint32_t o = off; o < off + len && o < kConfigSize; ++o) wmask_[o] = 0xff;
}

void PciFunction::set_interrupt_pin(uint8_t pin) { set_config_bytes(INTERRUPT_LINE + 1, pin, 1); }

void PciFunction::set_multifunction(bool on) {
  const uint32_t header = config_bytes(HEADER_TYPE, 1);
  set_config_bytes(HEADER_TYPE, on ? header | HEADER_TYPE_MULTI : header & ~uint32_t{HEADER_TYPE_MULTI}, 1);
}

void PciFunction::set_subsystem(uint16_t vendor, uint16_t device) {
  set_config_bytes(SUBSYSTEM_VENDOR_ID, SUBSYSTEM_ID::prep(device) | vendor, 4);
}

void PciFunction::add_bar(unsigned index, uint64_t size, bool is64) {
  const unsigned nbars = is_bridge() ? kBarsType1 : kBarsType0;
  if (index >= nbars || (is64 && index + 1 >= nbars) || size < 16 || !std::has_single_bit(size)) return;
  bar_size_[index] = size;
  put(BAR0 + 4 * index, is64 ? BAR_MEM_TYPE_64 : 0, 4);
  for (unsigned i = 0; i < 4; ++i) wmask_[BAR0 + 4 * index + i] = i == 0 ? 0xf0 : 0xff;
  if (is64) {
    put(BAR0 + 4 * (index + 1), 0, 4, true);
    // The upper half sizes too when the BAR is 4 GiB or larger.
    bar_size_[index + 1] = 0;
  }
}

uint64_t PciFunction::bar_size(unsigned index) const { return index < 6 ? bar_size_[index] : 0; }

void PciFunction::set_bar_address(unsigned index, uint64_t addr) {
  if (index >= 6 || !bar_size_[index]) return;
  std::lock_guard g(lock_);
  const uint32_t reg = BAR0 + 4 * index;
  const uint32_t flags = cfg_[reg] & BAR_FLAGS_MASK;
  put(reg, static_cast<uint32_t>(addr & BAR_MEM_ADDR_MASK) | flags, 4);
  if (flags & BAR_MEM_TYPE_64) put(reg + 4, static_cast<uint32_t>(addr >> 32), 4);
}

uint64_t PciFunction::bar_address(unsigned index) {
  if (index >= 6 || !bar_size_[index]) return 0;
  const uint32_t lo = config_read(BAR0 + 4 * index, 4);
  uint64_t a = lo & BAR_MEM_ADDR_MASK;
  if (lo & BAR_MEM_TYPE_64) a |= uint64_t{config_read(BAR0 + 4 * (index + 1), 4)} << 32;
  return a;
}

uint8_t PciFunction::add_cap(uint8_t id, unsigned len) {
  const uint8_t at = next_cap_;
  put(at, id, 1);
  put(at + 1, cfg_[CAPABILITY_LIST], 1);  // new capability first in the list
  put(CAPABILITY_LIST, at, 1);
  cfg_[STATUS] |= STATUS_CAP_LIST;
  next_cap_ = static_cast<uint8_t>(at + ((len + 3) & ~3u));
  return at;
}

void PciFunction::add_pcie_cap(PortType type) {
  const uint8_t at = add_cap(CAP_ID_EXP, 0x3c);
  put(at + EXP_FLAGS, EXP_FLAGS_VERS::prep(2) | EXP_FLAGS_TYPE::prep(static_cast<uint8_t>(type)), 2);
}

void PciFunction::add_acs(uint16_t acs) {
  if (!acs) return;
  const uint32_t at = last_ext_cap_ ? (last_ext_cap_ + 0x10) : EXT_CAP_START;
  put(at, EXT_CAP_ID::prep(EXT_CAP_ID_ACS) | EXT_CAP_VER::prep(1), 4);
  if (last_ext_cap_) {
    uint32_t prev = 0;
    for (unsigned i = 0; i < 4; ++i) prev |= uint32_t{cfg_[last_ext_cap_ + i]} << (8 * i);
    put(last_ext_cap_, EXT_CAP_NEXT::insert(prev, at), 4);
  }
  put(at + ACS_CAP, acs, 2);
  put(at + ACS_CTRL, acs, 2, true);  // firmware enabled what exists
  last_ext_cap_ = at;
}

void PciFunction::set_bus_numbers(uint8_t primary, uint8_t secondary, uint8_t subordinate) {
  std::lock_guard g(lock_);
  cfg_[PRIMARY_BUS] = primary;
  cfg_[SECONDARY_BUS] = secondary;
  cfg_[SUBORDINATE_BUS] = subordinate;
}

std::shared_ptr<PciFunction> make_root_port(std::string name, bool acs) {
  // A generic root port (QEMU's pcie-root-port IDs: 1b36:000c), class 0604.
  auto f = std::make_shared<PciFunction>(std::move(name), 0x1b36, 0x000c, 0x060400, HEADER_TYPE_BRIDGE);
  f->add_pcie_cap(PortType::root_port);
  if (acs) f->add_acs(ACS_SV | ACS_TB | ACS_RR | ACS_CR | ACS_UF | ACS_EC | ACS_DT);
  return f;
}

std::shared_ptr<PciFunction> make_pcie_to_pci_bridge(std::string name) {
  // QEMU's pcie-pci-bridge IDs (1b36:000e), class 0604.
  auto f = std::make_shared<PciFunction>(std::move(name), 0x1b36, 0x000e, 0x060400, HEADER_TYPE_BRIDGE);
  f->add_pcie_cap(PortType::pcie_to_pci_bridge);
  return f;
}

std::shared_ptr<PciFunction> make_endpoint(std::string name, uint16_t vendor, uint16_t device, uint32_t class_code,
                                           std::shared_ptr<MmioDevice> regs) {
  auto f = std::make_shared<PciFunction>(std::move(name), vendor, device, class_code, HEADER_TYPE_NORMAL);
  f->add_pcie_cap(PortType::endpoint);
  f->add_bar(0, 0x1000, true);
  f->bar0_device = std::move(regs);
  return f;
}

}  // namespace modiommu::hw::pci
