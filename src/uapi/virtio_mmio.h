// virtio-mmio register layout, version 2 (virtio 1.2 4.2.2, table "MMIO
// Device Register Layout"). Shared by the model (hw/) and the driver.
#pragma once

#include <cstdint>

namespace modiommu::uapi::virtio_mmio {

inline constexpr uint64_t kMagicValue = 0x000, kVersion = 0x004, kDeviceId = 0x008, kVendorId = 0x00c,
                          kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014, kDriverFeatures = 0x020,
                          kDriverFeaturesSel = 0x024, kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038,
                          kQueueReady = 0x044, kQueueNotify = 0x050, kInterruptStatus = 0x060,
                          kInterruptAck = 0x064, kStatus = 0x070, kQueueDescLow = 0x080, kQueueDescHigh = 0x084,
                          kQueueDriverLow = 0x090, kQueueDriverHigh = 0x094, kQueueDeviceLow = 0x0a0,
                          kQueueDeviceHigh = 0x0a4, kConfigGeneration = 0x0fc, kConfig = 0x100;
inline constexpr uint32_t kMagic = 0x74726976;  // "virt"
inline constexpr uint32_t kVersionModern = 2;
inline constexpr uint32_t kIntUsedBuffer = 1, kIntConfigChange = 2;
inline constexpr uint64_t kRegionSize = 0x200;  // registers + up to 256 bytes of config

}  // namespace modiommu::uapi::virtio_mmio
