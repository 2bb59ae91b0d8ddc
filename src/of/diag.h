// Internal to of/: error messages that name where the problem is, always as
// "FILE: /node/path: property: what", and small cell-reading helpers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "of/tree.h"

namespace modiommu::of::detail {

// "FILE: /node/path"
std::string where(const Node& node);

// "FILE: /node/path: prop: msg" (prop omitted when empty).
Error node_error(Errc code, const Node& node, std::string_view prop, std::string_view msg);

// A cell-count property such as #address-cells: the node's value, or
// `fallback` when absent; error if present but not exactly one cell.
Result<uint32_t> cells_prop(const Node& node, std::string_view name, uint32_t fallback);

// Joins `n` (1 or 2) big-endian cells into one number; callers have
// checked n <= 2.
uint64_t join_cells(std::span<const uint32_t> cells);

std::string hex(uint64_t v);

}  // namespace modiommu::of::detail
