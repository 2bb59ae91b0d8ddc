// PCI configuration-space layout (as Linux's include/uapi/linux/pci_regs.h):
// offsets, header fields, capability IDs and the PCIe port type, shared by
// the PCI core (core/pci), the PCI models (hw/pci) and drivers. From PCI
// Local Bus 3.0 ch. 6, PCI-to-PCI Bridge 1.2 ch. 3, PCI Express Base 4.0
// 7.5.3 (PCIe capability) and 7.7.8 (ACS).
#pragma once

#include <cstdint>

#include "base/bitfield.h"

namespace modiommu::uapi::pci {

inline constexpr uint32_t kConfigSize = 4096;  // PCIe extended configuration space

// Common header (6.1).
inline constexpr uint32_t VENDOR_ID = 0x00, DEVICE_ID = 0x02, COMMAND = 0x04, STATUS = 0x06, REVISION = 0x08,
                          CLASS_PROG = 0x09, CLASS_DEVICE = 0x0a, HEADER_TYPE = 0x0e, BAR0 = 0x10,
                          CAPABILITY_LIST = 0x34, INTERRUPT_LINE = 0x3c, INTERRUPT_PIN = 0x3d;
// The dword at REVISION: revision ID [7:0], class code [31:8].
using CLASS_REVISION_CLASS = Bits32<31, 8>;
// 6.2.2 Command, 6.2.3 Status.
inline constexpr uint16_t COMMAND_MEMORY = Bit<1, uint16_t>::mask, COMMAND_MASTER = Bit<2, uint16_t>::mask,
                          COMMAND_INTX_DISABLE = Bit<10, uint16_t>::mask;
inline constexpr uint16_t STATUS_INTERRUPT = Bit<3, uint16_t>::mask, STATUS_CAP_LIST = Bit<4, uint16_t>::mask;
// 6.2.1 Header Type: layout [6:0], multi-function [7].
using HEADER_TYPE_LAYOUT = Bits<6, 0, uint8_t>;
inline constexpr uint8_t HEADER_TYPE_NORMAL = 0, HEADER_TYPE_BRIDGE = 1, HEADER_TYPE_MULTI = Bit<7, uint8_t>::mask;
// Type 0 header: subsystem vendor [15:0] and device [31:16] at 0x2c (6.2.4).
inline constexpr uint32_t SUBSYSTEM_VENDOR_ID = 0x2c;
using SUBSYSTEM_ID = Bits32<31, 16>;
// Type 1 (bridge) header (bridge spec 3.2): primary, secondary and
// subordinate bus numbers in the bytes of the dword at PRIMARY_BUS.
inline constexpr uint32_t PRIMARY_BUS = 0x18, SECONDARY_BUS = 0x19, SUBORDINATE_BUS = 0x1a, MEMORY_BASE = 0x20,
                          MEMORY_LIMIT = 0x22;
using BUSES_SECONDARY = Bits32<15, 8>;
using BUSES_SUBORDINATE = Bits32<23, 16>;
inline constexpr unsigned kBarsType0 = 6, kBarsType1 = 2;
// 6.2.5.1 BARs: I/O space [0]; memory type [2:1] (0b10: 64-bit, two
// slots); memory address from bit 4.
inline constexpr uint32_t BAR_SPACE_IO = 0x1, BAR_MEM_TYPE_MASK = 0x6, BAR_MEM_TYPE_64 = 0x4;
inline constexpr uint64_t BAR_MEM_ADDR_MASK = ~uint64_t{0xf};
inline constexpr uint32_t BAR_FLAGS_MASK = 0xf;

// Capability list (6.7): ID [7:0], next pointer [15:8] (dword aligned), from
// 0x40 on.
using CAP_ID = Bits32<7, 0>;
using CAP_NEXT = Bits32<15, 8>;  // its low two bits are reserved: mask with ~3
inline constexpr uint32_t CAP_LIST_START = 0x40;
inline constexpr uint8_t CAP_ID_EXP = 0x10;
// PCIe Capabilities register (PCIe 4.0 7.5.3.2), 16 bits at EXP_FLAGS in the
// capability: version [3:0], device/port type [7:4].
inline constexpr uint32_t EXP_FLAGS = 0x02;
using EXP_FLAGS_VERS = Bits<3, 0, uint16_t>;
using EXP_FLAGS_TYPE = Bits<7, 4, uint16_t>;
// The device/port type, defined here only.
enum class PortType : uint8_t {
  endpoint = 0x0, legacy_endpoint = 0x1, root_port = 0x4, upstream = 0x5, downstream = 0x6,
  pcie_to_pci_bridge = 0x7, pci_to_pcie_bridge = 0x8, rc_integrated = 0x9, rc_event_collector = 0xa,
};

// Extended capabilities (PCIe 4.0 7.6.3) from 0x100: ID [15:0], version
// [19:16], next offset [31:20] (dword aligned).
inline constexpr uint32_t EXT_CAP_START = 0x100;
using EXT_CAP_ID = Bits32<15, 0>;
using EXT_CAP_VER = Bits32<19, 16>;
using EXT_CAP_NEXT = Bits32<31, 20>;  // its low two bits are reserved: mask with ~3
inline constexpr uint16_t EXT_CAP_ID_ACS = 0x000d;
inline constexpr uint32_t ACS_CAP = 0x04, ACS_CTRL = 0x06;  // 16-bit registers in the ACS capability
// ACS capability/control bits: source validation, translation blocking, P2P
// request redirect, P2P completion redirect, upstream forwarding, egress
// control, direct translated P2P (PCIe 4.0 7.7.8.2/7.7.8.3).
inline constexpr uint16_t ACS_SV = 1u << 0, ACS_TB = 1u << 1, ACS_RR = 1u << 2, ACS_CR = 1u << 3, ACS_UF = 1u << 4,
                          ACS_EC = 1u << 5, ACS_DT = 1u << 6;
// What Linux requires of every port on the path for isolation (REQ_ACS_FLAGS).
inline constexpr uint16_t ACS_REQUIRED = ACS_SV | ACS_RR | ACS_CR | ACS_UF;

// Requester / routing IDs: bus [15:8], device [7:3], function [2:0].
using DEVFN_SLOT = Bits<7, 3, uint8_t>;
using DEVFN_FUNC = Bits<2, 0, uint8_t>;
inline constexpr uint16_t devid(unsigned bus, unsigned devfn) { return static_cast<uint16_t>(bus << 8 | devfn); }
inline constexpr unsigned devfn(unsigned dev, unsigned fn) { return (dev & 0x1f) << 3 | (fn & 7); }

}  // namespace modiommu::uapi::pci
