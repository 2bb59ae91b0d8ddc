// Board glue shared by every virtio-iommu model (behind virtio-mmio or as a
// PCI function): what its device-tree node says about the device.
#pragma once

#include "hw/virtio/virtio_iommu.h"
#include "of/tree.h"

namespace modiommu {

// Boolean `modiommu,boot-bypass`: unattached endpoints pass until a driver
// programs the device (QEMU's boot-bypass, default on there); without it
// they abort, before the driver and again after it resets the device.
hw::virtio::VirtioIommuOptions virtio_iommu_options(const of::Node& node);

}  // namespace modiommu
