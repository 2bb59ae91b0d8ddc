// The PCI subsystem's core (drivers/pci/ in Linux): the pci bus type, PCI
// devices with what enumeration read from their configuration space, the
// host bridges that enumerate them, and the helpers the seed's second patch
// exports to IOMMU modules: requester IDs, DMA aliases (a PCIe-to-PCI
// bridge takes over the requester ID of everything below it) and the ACS
// isolation that decides IOMMU groups.
//
// Locking: PCI devices are created and removed under the driver core's lock
// (host bridge probe/remove, hotplug); their PciInfo never changes after
// creation. PciCore::lock_ guards the host list.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "core/bus.h"
#include "core/device.h"
#include "of/tree.h"
#include "uapi/pci_regs.h"

namespace modiommu {

class DriverCore;

// PCIe capability port types (PCI Express Base 4.0 7.5.3.2).
using PciPortType = uapi::pci::PortType;

struct PciInfo {
  uint16_t domain = 0;
  uint8_t bus = 0, devfn = 0;
  uint16_t vendor = 0, device = 0;
  uint32_t class_code = 0;
  bool bridge = false;
  std::optional<PciPortType> port;  // none: conventional PCI, no PCIe capability
  uint8_t secondary = 0, subordinate = 0;  // bridges
  // ACS controls enabled on this port (PCIe 4.0 7.7.8.3), 0 when none.
  uint16_t acs_ctrl = 0;
  // Interrupt Pin (0: none, 1..4: INTA..INTD) and, for type 0 headers, the
  // subsystem IDs (PCI Local Bus 3.0 6.2.4).
  uint8_t irq_pin = 0;
  uint16_t subsystem_vendor = 0, subsystem_device = 0;
  struct Bar {
    uint64_t addr = 0, size = 0;
  };
  Bar bars[6];
  uint16_t rid() const { return static_cast<uint16_t>(bus << 8 | devfn); }
};

class MODIOMMU_API PciDevice : public Device {
 public:
  // `host` is the host bridge device (its node carries iommu-map); `upstream`
  // the bridge above this function, null on the root bus.
  PciDevice(PciInfo info, Bus* bus, const of::Node* fwnode, Device* host, PciDevice* upstream);
  const PciInfo& info() const { return info_; }
  Device* host() const { return host_; }
  PciDevice* upstream() const { return upstream_; }
  // "0000:01:00.0" (INTERFACE.md: a PCI device's path is its BDF).
  std::string path() const override;
  // "pciVVVV,DDDD", "pciclass,CCCCCC", "pciclass,CCCC" (the PCI DT binding's
  // compatible forms), so drivers match them as they would a DT node.
  std::vector<std::string> compatible() const override;

 private:
  PciInfo info_;
  Device* host_;
  PciDevice* upstream_;
};

MODIOMMU_API std::string pci_bdf(uint16_t domain, uint8_t bus, uint8_t devfn);

class MODIOMMU_API PciBus : public Bus {
 public:
  PciBus() : Bus("pci") {}
  // "pci:vVVVVVVVVdDDDDDDDDsvSSSSSSSSsdSSSSSSSSbcCCscSSiII" (Linux's PCI modalias; no subsystem IDs here).
  std::vector<std::string> modaliases(const Device& dev) const override;
};

// --- helpers exported to modules -------------------------------------------------

MODIOMMU_API PciDevice* to_pci(Device* dev);
MODIOMMU_API const PciDevice* to_pci(const Device* dev);
// pci_for_each_dma_alias(): the requester IDs the device's DMA may carry
// upstream: its own, and that of each PCIe-to-PCI bridge above it (which
// forwards conventional PCI transactions under its secondary bus number,
// devfn 0).
MODIOMMU_API void pci_for_each_dma_alias(const PciDevice& dev, const std::function<void(uint16_t rid)>& fn);
// pci_acs_path_enabled() from dev's upstream port to the root: every port on
// the way isolates peers (SV, RR, CR, UF).
MODIOMMU_API bool pci_acs_path_isolated(const PciDevice& dev);
// ACS on the function itself (Linux REQ_ACS_FLAGS: SV, RR, CR, UF): a
// function of a multi-function device without it can reach its siblings.
MODIOMMU_API bool pci_function_acs_isolated(const PciDevice& dev);
// The device whose group dev joins (Linux pci_device_group()): the topmost
// PCIe-to-PCI bridge above it if any (aliases share a group), else the
// highest port on the path without ACS isolation (everything below it can
// talk peer to peer), else dev itself.
MODIOMMU_API const Device* pci_group_anchor(const PciDevice& dev);

// What firmware says about any device's IOMMUs (the IOMMU core's probe
// policy and checkers share it): `iommus` or legacy mmu-masters for
// device-tree devices; for PCI, each requester ID the function may carry
// (pci_for_each_dma_alias) through its host bridge's iommu-map.
MODIOMMU_API Result<of::IommuRefs> firmware_iommu_refs(const Device& dev);

// A host bridge driver's handle: rescan for new functions (hotplug).
class MODIOMMU_API PciHost {
 public:
  virtual ~PciHost() = default;
  virtual Device& device() = 0;
  virtual Status rescan() = 0;
  // Orderly hot removal (pciehp's slot power-off): the device and those
  // below it are removed (drivers unbound, DMA stopped) before the slot
  // goes dark.
  virtual Status remove_function(uint16_t rid) = 0;
  // Configuration space access for drivers (pci_read_config_*): naturally
  // aligned 1/2/4 bytes below 4 KiB. Default: not supported.
  virtual Result<uint32_t> config_read(uint16_t rid, uint32_t off, unsigned size) {
    (void)rid, (void)off, (void)size;
    return make_error(Errc::notsup, "this PCI host bridge gives no configuration access");
  }
  virtual Status config_write(uint16_t rid, uint32_t off, uint32_t value, unsigned size) {
    (void)rid, (void)off, (void)value, (void)size;
    return make_error(Errc::notsup, "this PCI host bridge gives no configuration access");
  }
};

class MODIOMMU_API PciCore {
 public:
  PciBus& bus() { return bus_; }
  void register_host(PciHost* h);
  void unregister_host(PciHost* h);
  std::vector<PciHost*> hosts() const;
  // The host bridge driver that enumerated dev (null if none is registered).
  // Valid while dev exists: a host removes its devices before it goes.
  PciHost* host_of(const PciDevice& dev) const;
  // pci_read_config_*() / pci_write_config_*() through dev's host bridge.
  Result<uint32_t> read_config(const PciDevice& dev, uint32_t off, unsigned size) const;
  Status write_config(const PciDevice& dev, uint32_t off, uint32_t value, unsigned size) const;

 private:
  PciBus bus_;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<PciHost*> hosts_;
};

}  // namespace modiommu
