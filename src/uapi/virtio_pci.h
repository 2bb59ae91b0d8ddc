// virtio-pci (modern, non-transitional) wire constants (virtio 1.2 4.1):
// IDs, the vendor-specific capabilities that locate the register regions
// (4.1.4), and the common configuration layout (4.1.4.3). Shared by the
// device model (hw/) and the transport driver (drivers/).
#pragma once

#include <cstdint>

namespace modiommu::uapi::virtio_pci {

// 4.1.2: vendor 0x1af4; modern device ID = 0x1040 + virtio device ID;
// 0x1000..0x103f are transitional (legacy) devices.
inline constexpr uint16_t kVendor = 0x1af4;
inline constexpr uint16_t kDeviceModernBase = 0x1040, kDeviceModernLast = 0x107f;
inline constexpr uint16_t kDeviceLegacyFirst = 0x1000, kDeviceLegacyLast = 0x103f;
inline constexpr uint8_t kRevisionModern = 1;  // 4.1.2.1: non-transitional devices SHOULD use 1
inline constexpr uint16_t kSubsystemDevice = 0x1100;  // as QEMU: "the environment" (4.1.2.1)

// 4.1.4: struct virtio_pci_cap, in a vendor-specific capability (ID 0x09).
inline constexpr uint8_t kCapVendor = 0x09;
inline constexpr uint8_t kCfgCommon = 1, kCfgNotify = 2, kCfgIsr = 3, kCfgDevice = 4, kCfgPci = 5;
// Byte offsets inside the capability.
inline constexpr uint32_t kCapVndr = 0, kCapNext = 1, kCapLen = 2, kCapCfgType = 3, kCapBar = 4, kCapId = 5,
                          kCapOffset = 8, kCapLength = 12;
inline constexpr uint32_t kCapSize = 16;
// struct virtio_pci_notify_cap: + le32 notify_off_multiplier (4.1.4.4).
inline constexpr uint32_t kNotifyCapMultiplier = 16, kNotifyCapSize = 20;
// struct virtio_pci_cfg_cap: + u8 pci_cfg_data[4] (4.1.4.9).
inline constexpr uint32_t kPciCfgData = 16, kPciCfgCapSize = 20;

// 4.1.4.3: struct virtio_pci_common_cfg (all little-endian).
inline constexpr uint32_t kDeviceFeatureSelect = 0x00;  // le32 rw
inline constexpr uint32_t kDeviceFeature = 0x04;        // le32 ro
inline constexpr uint32_t kDriverFeatureSelect = 0x08;  // le32 rw
inline constexpr uint32_t kDriverFeature = 0x0c;        // le32 rw
inline constexpr uint32_t kConfigMsixVector = 0x10;     // le16 rw
inline constexpr uint32_t kNumQueues = 0x12;            // le16 ro
inline constexpr uint32_t kDeviceStatus = 0x14;         // u8 rw
inline constexpr uint32_t kConfigGeneration = 0x15;     // u8 ro
inline constexpr uint32_t kQueueSelect = 0x16;          // le16 rw
inline constexpr uint32_t kQueueSize = 0x18;            // le16 rw
inline constexpr uint32_t kQueueMsixVector = 0x1a;      // le16 rw
inline constexpr uint32_t kQueueEnable = 0x1c;          // le16 rw
inline constexpr uint32_t kQueueNotifyOff = 0x1e;       // le16 ro
inline constexpr uint32_t kQueueDesc = 0x20;            // le64 rw
inline constexpr uint32_t kQueueDriver = 0x28;          // le64 rw
inline constexpr uint32_t kQueueDevice = 0x30;          // le64 rw
inline constexpr uint32_t kQueueNotifyData = 0x38;      // le16 ro (VIRTIO_F_NOTIF_CONFIG_DATA)
inline constexpr uint32_t kQueueReset = 0x3a;           // le16 rw (VIRTIO_F_RING_RESET)
inline constexpr uint32_t kCommonCfgSize = 0x3c;

// 4.1.4.5: ISR status bits (reading the ISR byte clears it).
inline constexpr uint8_t kIsrQueue = 1, kIsrConfig = 2;
// 4.1.5.1.2: no MSI-X vector.
inline constexpr uint16_t kMsiNoVector = 0xffff;

}  // namespace modiommu::uapi::virtio_pci
