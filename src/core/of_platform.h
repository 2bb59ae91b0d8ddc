// of_platform_populate() and fw_devlink: platform devices for the device
// tree's nodes, and firmware links from `iommus` / `iommu-map`.
#pragma once

#include <memory>
#include <string>

#include "base/api.h"
#include "base/result.h"
#include "core/bus.h"
#include "core/driver_core.h"

namespace modiommu {

namespace of {
class Tree;
class Node;
}  // namespace of

class MODIOMMU_API PlatformDevice : public Device {
 public:
  using Device::Device;
};

// Linux's platform device name for a node: "<translated address>.<node name
// without unit address>", else the node name ("10000000.dma", "timer").
MODIOMMU_API std::string of_device_name(const of::Node& node);

// The node describes a DMA master: its `iommus` (or a legacy SMMU's
// mmu-masters list) names an IOMMU, or its binding is malformed (dma_configure
// then reports it).
MODIOMMU_API bool of_dma_master(const of::Node& node);

// Creates a device for every available node with `compatible` below the
// root, recursing into simple-bus style nodes (of_default_bus_match_table),
// then the firmware links. Probing is held until both are done. Returns the
// number of devices created; problems with single nodes are logged, not
// fatal (a bad `iommus` on one node must not stop the board booting).
MODIOMMU_API Result<size_t> of_platform_populate(DriverCore& core, Bus& platform_bus, const of::Tree& tree, Log& log);

// of_platform_populate() as a bound device's driver calls it for its own
// node (BEHAVIOUR.md 7): every available child node with `compatible` that
// has no device yet becomes a platform device below `parent` (recursing into
// bus-like children), with its firmware links, then probes. A driver that
// makes_firmware_children also gets devices, bound to it through
// driver_override, for compatible-less children that do DMA or hold such a
// node. Returns how many.
MODIOMMU_API size_t of_platform_populate_children(DriverCore& core, Bus& platform_bus, Device& parent, Log& log);
// of_platform_depopulate(): removes the devices populated for `parent`'s
// children, newest first (each takes its own children and consumers first).
MODIOMMU_API void of_platform_depopulate(DriverCore& core, Device& parent);

// fw_devlink for one device: links from `dev` to the devices of the nodes its
// `iommus` and `iommu-map` name. Disabled IOMMU nodes have no device, so no
// link: the device is not behind an IOMMU (BEHAVIOUR.md 4).
MODIOMMU_API void of_firmware_links(DriverCore& core, Device& dev, Log& log);

}  // namespace modiommu
