// virtio wire constants every transport and driver shares (virtio 1.2
// sections 2.1, 2.7, 6): device status bits, reserved feature bits and split
// virtqueue flags. Shared by the device models (hw/) and drivers.
#pragma once

#include <cstdint>

namespace modiommu::uapi::virtio {

// Device status bits (2.1).
inline constexpr uint32_t kStatusAcknowledge = 1;
inline constexpr uint32_t kStatusDriver = 2;
inline constexpr uint32_t kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8;
inline constexpr uint32_t kStatusNeedsReset = 64;
inline constexpr uint32_t kStatusFailed = 128;
// VIRTIO_F_VERSION_1 (6): every non-legacy device offers it.
inline constexpr uint64_t kFVersion1 = uint64_t{1} << 32;

// Split virtqueue descriptor flags (2.7.5) and ring flags (2.7.7, 2.7.8).
inline constexpr uint16_t kDescFNext = 1;
inline constexpr uint16_t kDescFWrite = 2;
inline constexpr uint16_t kDescFIndirect = 4;
inline constexpr uint16_t kAvailFNoInterrupt = 1;
inline constexpr uint16_t kUsedFNoNotify = 1;
// Split queues have power-of-two sizes of at most 32768 (2.7).
inline constexpr uint32_t kMaxQueueSize = 32768;
// Byte sizes of the three areas for a queue of `n` entries (2.7, without
// VIRTIO_F_EVENT_IDX) and their alignments.
inline constexpr uint64_t desc_table_bytes(uint32_t n) { return 16ull * n; }
inline constexpr uint64_t avail_ring_bytes(uint32_t n) { return 4 + 2ull * n; }
inline constexpr uint64_t used_ring_bytes(uint32_t n) { return 4 + 8ull * n; }
inline constexpr uint64_t kDescAlign = 16, kAvailAlign = 2, kUsedAlign = 4;

}  // namespace modiommu::uapi::virtio
