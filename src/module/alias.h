// Module aliases are Linux modalias strings; a module's alias may hold
// fnmatch-style wildcards ('*', '?') as in modules.alias, and a device's
// modalias is matched against it (kmod's lookup does the same with fnmatch).
//   of:<compatible>                       e.g. "of:arm,smmu-v3"
//   pci:v<vendor 8 hex>d<device 8 hex>    e.g. "pci:v00001AF4d00001057", "pci:v000010DEd*"
//   virtio:d<device 8 hex>v<vendor 8 hex> e.g. "virtio:d00000017v*"
//   platform:<name>
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

// fnmatch without FNM_PATHNAME: '*' any run, '?' one character, no classes.
MODIOMMU_API bool alias_matches(std::string_view pattern, std::string_view modalias);

// A well-formed alias: "<bus>:<rest>", bus one of of/pci/virtio/platform,
// printable ASCII, at most 256 bytes. The error names what is wrong.
MODIOMMU_API Status validate_alias(std::string_view alias);

// Device modaliases, formatted as the buses announce them.
MODIOMMU_API std::string of_modalias(std::string_view compatible);
MODIOMMU_API std::string pci_modalias(uint16_t vendor, uint16_t device);
// Virtio device IDs (virtio 1.2 section 5): 23 = IOMMU. vendor nullopt: any.
MODIOMMU_API std::string virtio_modalias(uint32_t device_id, std::optional<uint32_t> vendor = std::nullopt);

MODIOMMU_API bool alias_matches_of_compatible(std::string_view alias, std::string_view compatible);
MODIOMMU_API bool alias_matches_pci(std::string_view alias, uint16_t vendor, uint16_t device);
MODIOMMU_API bool alias_matches_virtio(std::string_view alias, uint32_t device_id);

}  // namespace modiommu
