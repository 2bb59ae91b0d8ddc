// IOMMU kinds by device-tree binding, and what the cells of a consumer's
// `iommus` specifier mean for each (Linux Documentation/devicetree/bindings/
// iommu/*). Known here whether or not modiommu has a driver or a device
// model for the kind: `modiommu check` decodes every board of the corpus.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/api.h"
#include "of/tree.h"

namespace modiommu::report {

struct IommuKind {
  const char* family;        // "arm-smmu-v3", "arm-smmu", "rockchip-iommu", ...
  const char* linux_driver;  // the Linux driver for it, for people reading the report
  const char* cells;         // what one specifier's cells mean, for the legend
};

// By the node's compatible list (most specific first); null for an IOMMU
// kind this table does not know (it is still reported by compatible).
MODIOMMU_API const IommuKind* iommu_kind(const of::Node& iommu);
// Is this node an IOMMU (has #iommu-cells, or is a legacy arm-smmu with
// mmu-masters)?
MODIOMMU_API bool is_iommu_node(const of::Node& n);

// One decoded specifier: the IDs the IOMMU matches the master by, and the
// text a person reads ("stream ID 0x10 mask 0x7f").
struct DecodedSpecifier {
  std::vector<uint32_t> ids;
  uint32_t mask = 0;  // arm-smmu SMR mask (0: exact match)
  std::string text;
  bool ok = true;     // false: the cell count does not fit the binding
};
MODIOMMU_API DecodedSpecifier decode_specifier(const of::Node& iommu, const std::vector<uint32_t>& cells);

}  // namespace modiommu::report
