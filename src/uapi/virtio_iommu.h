// virtio-iommu wire format (virtio 1.2 section 5.13): feature bits, config
// layout, requests, status codes, probe properties and fault events. Shared
// by the device model (hw/) and the driver (drivers/), as Linux's
// include/uapi is. All fields little-endian; the host is little-endian.
#pragma once

#include <cstdint>

namespace modiommu::uapi::viommu {

inline constexpr uint32_t kDeviceId = 23;  // 5.13.1
inline constexpr unsigned kRequestQueue = 0, kEventQueue = 1;

// Feature bits (5.13.3).
inline constexpr uint64_t kFInputRange = 1u << 0;
inline constexpr uint64_t kFDomainRange = 1u << 1;
inline constexpr uint64_t kFMapUnmap = 1u << 2;
inline constexpr uint64_t kFBypass = 1u << 3;  // legacy, superseded by BYPASS_CONFIG
inline constexpr uint64_t kFProbe = 1u << 4;
inline constexpr uint64_t kFMmio = 1u << 5;
inline constexpr uint64_t kFBypassConfig = 1u << 6;

// Config layout (5.13.4).
struct Config {
  uint64_t page_size_mask;
  uint64_t input_start, input_end;
  uint32_t domain_start, domain_end;
  uint32_t probe_size;
  uint8_t bypass;
  uint8_t reserved[3];
};
static_assert(sizeof(Config) == 40);

// Request types and status codes (5.13.6).
inline constexpr uint8_t kReqAttach = 1, kReqDetach = 2, kReqMap = 3, kReqUnmap = 4, kReqProbe = 5;
inline constexpr uint8_t kSOk = 0, kSIoErr = 1, kSUnsupp = 2, kSDevErr = 3, kSInval = 4, kSRange = 5, kSNoEnt = 6,
                         kSFault = 7, kSNoMem = 8;

struct ReqHead {
  uint8_t type;
  uint8_t reserved[3];
};
struct ReqTail {
  uint8_t status;
  uint8_t reserved[3];
};

inline constexpr uint32_t kAttachFBypass = 1;  // 5.13.6.3
struct AttachBody {
  uint32_t domain, endpoint, flags;
  uint8_t reserved[4];
};
struct DetachBody {
  uint32_t domain, endpoint;
  uint8_t reserved[8];
};
inline constexpr uint32_t kMapFRead = 1, kMapFWrite = 2, kMapFMmio = 4;  // 5.13.6.5
struct MapBody {
  uint32_t domain;
  uint64_t virt_start, virt_end, phys_start;  // virt_end inclusive
  uint32_t flags;
} __attribute__((packed));
struct UnmapBody {
  uint32_t domain;
  uint64_t virt_start, virt_end;
  uint8_t reserved[4];
} __attribute__((packed));
struct ProbeBody {
  uint32_t endpoint;
  uint8_t reserved[64];
};
static_assert(sizeof(AttachBody) == 16 && sizeof(DetachBody) == 16 && sizeof(MapBody) == 32 &&
              sizeof(UnmapBody) == 24 && sizeof(ProbeBody) == 68);

// Probe properties (5.13.6.8): a 4-byte header, `length` bytes of value.
inline constexpr uint16_t kProbeTNone = 0, kProbeTResvMem = 1;
inline constexpr uint8_t kResvMemTReserved = 0, kResvMemTMsi = 1;
struct ProbeResvMem {
  uint16_t type, length;  // length = 20
  uint8_t subtype;
  uint8_t reserved[3];
  uint64_t start, end;  // end inclusive
} __attribute__((packed));
static_assert(sizeof(ProbeResvMem) == 24);

// Fault events on the event queue (5.13.6.9).
inline constexpr uint8_t kFaultRUnknown = 0, kFaultRDomain = 1, kFaultRMapping = 2;
inline constexpr uint32_t kFaultFRead = 1, kFaultFWrite = 2, kFaultFExec = 4, kFaultFAddress = 0x100;
struct Fault {
  uint8_t reason;
  uint8_t reserved[3];
  uint32_t flags, endpoint;
  uint8_t reserved2[4];
  uint64_t address;
};
static_assert(sizeof(Fault) == 24);

}  // namespace modiommu::uapi::viommu
