// PCI configuration-space layout (PCI Local Bus 3.0 ch. 6, PCI-to-PCI Bridge
// 1.2 ch. 3, PCI Express Base 4.0 7.5.3 and 7.7.8 for ACS): offsets and
// fields the models and the PCI core share.
#pragma once

#include <cstdint>

namespace modiommu::pci {

inline constexpr uint32_t kConfigSize = 4096;  // PCIe extended configuration space

// Common header.
inline constexpr uint32_t VENDOR_ID = 0x00, DEVICE_ID = 0x02, COMMAND = 0x04, STATUS = 0x06, REVISION = 0x08,
                          CLASS_PROG = 0x09, CLASS_DEVICE = 0x0a, HEADER_TYPE = 0x0e, BAR0 = 0x10,
                          CAPABILITY_LIST = 0x34, INTERRUPT_LINE = 0x3c;
inline constexpr uint16_t COMMAND_MEMORY = 1u << 1, COMMAND_MASTER = 1u << 2;
inline constexpr uint16_t STATUS_CAP_LIST = 1u << 4;
inline constexpr uint8_t HEADER_TYPE_NORMAL = 0, HEADER_TYPE_BRIDGE = 1, HEADER_TYPE_MULTI = 0x80;
// Type 1 (bridge) header.
inline constexpr uint32_t PRIMARY_BUS = 0x18, SECONDARY_BUS = 0x19, SUBORDINATE_BUS = 0x1a, MEMORY_BASE = 0x20,
                          MEMORY_LIMIT = 0x22;
inline constexpr unsigned kBarsType0 = 6, kBarsType1 = 2;
inline constexpr uint32_t BAR_MEM_TYPE_64 = 0x4;

// Capabilities.
inline constexpr uint8_t CAP_ID_EXP = 0x10;
inline constexpr uint32_t EXP_FLAGS = 0x02;  // PCIe Capabilities register, in the capability
enum class PortType : uint8_t {
  endpoint = 0x0, legacy_endpoint = 0x1, root_port = 0x4, upstream = 0x5, downstream = 0x6,
  pcie_to_pci_bridge = 0x7, pci_to_pcie_bridge = 0x8, rc_integrated = 0x9, rc_event_collector = 0xa,
};
// Extended capabilities (from 0x100): header = ID[15:0] VER[19:16] NEXT[31:20].
inline constexpr uint32_t EXT_CAP_START = 0x100;
inline constexpr uint16_t EXT_CAP_ID_ACS = 0x000d;
inline constexpr uint32_t ACS_CAP = 0x04, ACS_CTRL = 0x06;  // 16-bit registers in the ACS capability
// ACS capability/control bits: source validation, translation blocking, P2P
// request redirect, P2P completion redirect, upstream forwarding, egress
// control, direct translated P2P (PCIe 4.0 7.7.8.2/7.7.8.3).
inline constexpr uint16_t ACS_SV = 1u << 0, ACS_TB = 1u << 1, ACS_RR = 1u << 2, ACS_CR = 1u << 3, ACS_UF = 1u << 4,
                          ACS_EC = 1u << 5, ACS_DT = 1u << 6;
// What Linux requires of every port on the path for isolation (REQ_ACS_FLAGS).
inline constexpr uint16_t ACS_REQUIRED = ACS_SV | ACS_RR | ACS_CR | ACS_UF;

// Requester / routing IDs.
inline constexpr uint16_t devid(unsigned bus, unsigned devfn) { return static_cast<uint16_t>(bus << 8 | devfn); }
inline constexpr unsigned devfn(unsigned dev, unsigned fn) { return (dev & 0x1f) << 3 | (fn & 7); }

}  // namespace modiommu::pci
