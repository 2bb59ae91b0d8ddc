// The DMA test device's programming interface ("modiommu,dmatest" and the
// PCI function 1234:11e5): what its model (hw/dmatest.h, which documents
// each register) implements and what drivers program, in tree or out of
// it, as Linux's uapi headers are shared by the kernel and its users.
#pragma once

#include <cstddef>
#include <cstdint>

namespace modiommu::uapi::dmatest {

inline constexpr uint32_t kId = 0x444d4154;  // "DMAT" in ID
inline constexpr uint64_t kRegionSize = 0x1000;

// Register offsets.
inline constexpr uint64_t kRegId = 0x00, kRegVersion = 0x04, kRegCtrl = 0x08, kRegStatus = 0x0c, kRegSrc = 0x10,
                          kRegDst = 0x18, kRegLen = 0x20, kRegDir = 0x24, kRegPattern = 0x28, kRegChecksum = 0x30,
                          kRegFaultAddr = 0x38, kRegXferCount = 0x40, kRegFaultCount = 0x48, kRegBufSize = 0x50,
                          kRegFaultInfo = 0x54;

// CTRL.
inline constexpr uint32_t kCtrlGo = 1u << 0, kCtrlContinuous = 1u << 1, kCtrlIrqEn = 1u << 2;
// STATUS: BUSY read-only, the rest write-one-to-clear.
inline constexpr uint32_t kStatusBusy = 1u << 0, kStatusDone = 1u << 1, kStatusFault = 1u << 2,
                          kStatusBadProg = 1u << 3;
// DIRECTION.
inline constexpr uint32_t kDirMemToBuf = 0, kDirBufToMem = 1, kDirMemToMem = 2;

// CHECKSUM: 64-bit FNV-1a over the bytes the device moved.
inline uint64_t checksum(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

}  // namespace modiommu::uapi::dmatest
