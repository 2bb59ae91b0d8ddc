// Board glue for PCI (INTERFACE.md "Emulated devices"): an ECAM host bridge
// model per "pci-host-ecam-generic" node, the functions its child nodes
// describe (bus/device/function from `reg`), BARs assigned by "firmware"
// from the bridge's `ranges`, and each DMA function's upstream port wired
// through the bridge's iommu-map with the requester ID the fabric really
// carries (a PCIe-to-PCI bridge's, for functions below one). A
// virtio-iommu function (a VirtioIommu behind a VirtioPci) is an IOMMU
// model for its own node, so the iommu-map can point at it; its INTx is
// wired through the host bridge's interrupt-map. Hotplug adds and removes
// functions at run time.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "hw/dma.h"
#include "hw/pci/ecam.h"
#include "of/tree.h"

namespace modiommu {

class Platform;

// INTx routing, shared by the board (wiring models) and the kernel
// (request_irq of a PCI device) so both agree:
// pci_swizzle_pin(): the pin a bridge presents upstream for a device's pin
// (PCI-to-PCI Bridge 1.2 9.1: (pin - 1 + device number) mod 4 + 1).
MODIOMMU_API uint8_t pci_swizzle_pin(uint8_t pin, uint8_t devfn);
// The GIC interrupt ID of the INTx of function `rid` with Interrupt Pin
// `pin` (1..4 = INTA..INTD): swizzled across `bridges` (the requester IDs
// of the bridges above it, nearest first), then looked up in the host
// bridge's interrupt-map / interrupt-map-mask (PCI binding: 3 address
// cells + 1 pin cell -> parent phandle, parent unit address, parent
// interrupt specifier; GIC: SPI n is interrupt ID n + 32, PPI n + 16).
MODIOMMU_API Result<unsigned> pci_intx_irq(const of::Node& host, uint16_t rid, uint8_t pin,
                                           const std::vector<uint16_t>& bridges);

class MODIOMMU_API PciHostModel {
 public:
  struct Function {
    uint16_t rid = 0;
    uint16_t dma_rid = 0;  // the requester ID its DMA carries upstream
    const of::Node* node = nullptr;  // null when hotplugged
    std::string kind;                // "dmatest", "root-port", "pcie-to-pci-bridge", "virtio-iommu"
    std::shared_ptr<hw::pci::PciFunction> fn;
    hw::UpstreamPort* port = nullptr;  // DMA functions
    std::optional<uint64_t> bar;  // its memory BAR once assigned (0 is a valid MMIO address)
    unsigned irq = 0;  // INTx: the GIC interrupt ID it is wired to (0: none)
  };

  PciHostModel(const of::Node& host, std::shared_ptr<hw::pci::PciEcam> ecam, Platform& p);
  ~PciHostModel();
  // Stops every DMA function's transfers (teardown: the board's stop hook).
  void stop();
  // Builds the functions below the host node (recursively through bridges).
  Status populate();
  // Points every DMA function's port at its IOMMU (after all models exist).
  void wire_all();
  hw::UpstreamPort* port(uint16_t rid) const;
  const Function* function(uint16_t rid) const;
  // A copy of the function table (by requester ID).
  std::map<uint16_t, Function> functions() const {
    std::lock_guard g(lock_);
    return fns_;
  }
  const of::Node& host() const { return host_; }
  hw::pci::PciEcam& ecam() { return *ecam_; }

  // hotplug add: KIND "dmatest" (the DMA test function) at bus:devfn.
  Status hotplug_add(uint8_t bus, uint8_t devfn, const std::string& kind);
  // hotplug remove: the function leaves the bus (its DMA stopped first).
  Status hotplug_remove(uint16_t rid);
  // DMA counters of functions removed by hotplug, so totals never forget an
  // escape or a transfer.
  struct Retired {
    uint64_t escapes = 0, transfers = 0;
  };
  Retired retired() const {
    std::lock_guard g(lock_);
    return retired_;
  }

 private:
  // `alias`: the requester ID a PCIe-to-PCI bridge above makes the
  // function's DMA carry; none: its own. (RID 0, 00:00.0, is a real ID.)
  Status add_function(uint8_t bus, uint8_t devfn, const of::Node* node, const std::string& kind,
                      std::optional<uint16_t> alias, uint8_t secondary);
  Status walk(const of::Node& parent, uint8_t bus, std::optional<uint16_t> alias);
  // INTx of a function at bus/devfn with `pin`, through the bridges above it.
  Result<unsigned> intx_irq(uint8_t bus, uint8_t devfn, uint8_t pin) const;
  Result<uint64_t> alloc_bar(uint64_t size);
  void wire(Function& f);

  const of::Node& host_;
  std::shared_ptr<hw::pci::PciEcam> ecam_;
  Platform& p_;
  mutable std::mutex lock_;  // guards fns_ and the BAR allocator; docs/architecture.md "Locks"
  std::map<uint16_t, Function> fns_;
  uint64_t mem_next_ = 0, mem_end_ = 0;
  uint8_t next_bus_ = 0;
  Retired retired_;
};

}  // namespace modiommu
