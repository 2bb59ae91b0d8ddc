// One PCI function's configuration space (PCI Local Bus 3.0 ch. 6): a 4 KiB
// register file with per-byte writable and write-1-to-clear masks, BAR
// sizing, a capability list and extended capabilities. Endpoints, bridges
// and ports are configured through the factory functions below; a function
// may own a device model behind BAR 0 (e.g. the DMA test master).
//
// Locking: lock_ guards the configuration bytes; accesses from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "base/api.h"
#include "hw/mmio.h"
#include "uapi/pci_regs.h"

namespace modiommu::hw::pci {

using uapi::pci::PortType;

class MODIOMMU_API PciFunction {
 public:
  PciFunction(std::string name, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t header_type);
  virtual ~PciFunction() = default;

  // Naturally aligned 1/2/4-byte accesses (ECAM also allows these only);
  // anything else reads all ones / is ignored.
  uint32_t config_read(uint32_t off, unsigned size);
  void config_write(uint32_t off, uint32_t value, unsigned size);

  const std::string& name() const { return name_; }
  bool is_bridge() const {
    return uapi::pci::HEADER_TYPE_LAYOUT::get(raw8(uapi::pci::HEADER_TYPE)) == uapi::pci::HEADER_TYPE_BRIDGE;
  }

  // Construction-time setup (before the function is visible on a bus).
  // A memory BAR of `size` bytes (a power of two >= 16); 64-bit uses two slots.
  void add_bar(unsigned index, uint64_t size, bool is64);
  uint64_t bar_size(unsigned index) const;
  // Firmware's assignment (what a probe-only OS finds in place).
  void set_bar_address(unsigned index, uint64_t addr);
  uint64_t bar_address(unsigned index);
  // PCI Express capability with this port type; ACS extended capability
  // advertising and enabling `acs` bits (0: no ACS capability).
  void add_pcie_cap(PortType type);
  void add_acs(uint16_t acs);
  // Bridges: bus numbers (type 1 header).
  void set_bus_numbers(uint8_t primary, uint8_t secondary, uint8_t subordinate);
  // The model behind BAR 0, mapped by the platform at the BAR's address.
  std::shared_ptr<MmioDevice> bar0_device;

  // Construction-time helpers for device models (additive):
  // A capability with ID `id`; `body` is its content after the ID/next
  // bytes (at most 254 bytes). Returns its offset, 0 if config space below
  // 0x100 has no room left.
  uint8_t add_capability(uint8_t id, std::span<const uint8_t> body);
  // Makes [off, off+len) writable by software (e.g. a window register).
  void set_config_writable(uint32_t off, unsigned len);
  // Interrupt Pin (0x3d, read-only): 0 none, 1..4 INTA..INTD.
  void set_interrupt_pin(uint8_t pin);
  // Subsystem Vendor ID / Subsystem ID (0x2c/0x2e, read-only).
  void set_subsystem(uint16_t vendor, uint16_t device);
  // Header Type bit 7: one function of a multi-function device (software
  // scans functions 1-7 of a slot only when function 0 says so).
  void set_multifunction(bool on);

 protected:
  // Hooks for models with registers in configuration space (e.g. virtio's
  // PCI configuration access capability). Called for valid accesses only,
  // without lock_ held: before a read returns the bytes, after a write
  // stored them. Default: nothing.
  virtual void config_read_hook(uint32_t off, unsigned size) { (void)off, (void)size; }
  virtual void config_write_hook(uint32_t off, unsigned size) { (void)off, (void)size; }
  // Device-side store of configuration bytes (ignores the write masks and
  // calls no hook).
  void set_config_bytes(uint32_t off, uint32_t value, unsigned size);
  // Device-side read of configuration bytes (calls no hook).
  uint32_t config_bytes(uint32_t off, unsigned size) const;

 private:
  uint8_t raw8(uint32_t off) const { return cfg_[off]; }
  void store_config_write(uint32_t off, uint32_t value, unsigned size);  // takes lock_
  void put(uint32_t off, uint32_t v, unsigned size, bool writable = false);
  uint8_t add_cap(uint8_t id, unsigned len);

  const std::string name_;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::array<uint8_t, uapi::pci::kConfigSize> cfg_{};
  std::array<uint8_t, uapi::pci::kConfigSize> wmask_{};
  std::array<uint8_t, uapi::pci::kConfigSize> w1c_{};
  std::array<uint64_t, 6> bar_size_{};
  uint8_t next_cap_ = uapi::pci::CAP_LIST_START;
  uint32_t last_ext_cap_ = 0;
};

// The function kinds of INTERFACE.md "Emulated devices in a device tree".
MODIOMMU_API std::shared_ptr<PciFunction> make_root_port(std::string name, bool acs);
MODIOMMU_API std::shared_ptr<PciFunction> make_pcie_to_pci_bridge(std::string name);
// A PCIe endpoint with one 4 KiB BAR 0 in front of `regs`.
MODIOMMU_API std::shared_ptr<PciFunction> make_endpoint(std::string name, uint16_t vendor, uint16_t device,
                                                        uint32_t class_code, std::shared_ptr<MmioDevice> regs);

// The DMA test function's IDs (a QEMU-style test vendor, as edu/pci-testdev use).
inline constexpr uint16_t kDmaTestVendor = 0x1234, kDmaTestDevice = 0x11e5;
inline constexpr uint32_t kDmaTestClass = 0xff0000;  // unclassified

}  // namespace modiommu::hw::pci
