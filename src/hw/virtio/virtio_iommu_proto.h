// The virtio-iommu wire format lives in uapi/ (shared with the driver).
#pragma once

#include "uapi/virtio_iommu.h"

namespace modiommu::hw::virtio {
namespace viommu = uapi::viommu;
}  // namespace modiommu::hw::virtio
