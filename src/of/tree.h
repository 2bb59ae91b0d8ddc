// The in-memory device tree: one shape whether it came from a .dtb (libfdt)
// or a .dts (compiled by dtc first). Immutable after load, so readers on any
// thread need no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/api.h"
#include "base/result.h"

namespace modiommu::of {

using Phandle = uint32_t;

struct MODIOMMU_API Property {
  std::string name;
  std::vector<uint8_t> value;  // raw big-endian bytes as in the blob

  size_t cell_count() const { return value.size() / 4; }
  // Cell i (host order); nullopt if out of range.
  std::optional<uint32_t> cell(size_t i) const;
  // All cells; error if the length is not a multiple of 4.
  Result<std::vector<uint32_t>> cells() const;
  // The NUL-separated string list (compatible, clock-names, ...).
  std::vector<std::string> strings() const;
  // First string, or "" when empty.
  std::string str() const;
};

struct RegEntry {
  uint64_t address = 0;  // as written in the node's reg (child address space)
  uint64_t size = 0;
};

class Tree;

class MODIOMMU_API Node {
 public:
  const std::string& name() const { return name_; }  // "dma@10000000" ("/" for the root)
  std::string path() const;                            // "/soc/dma@10000000"
  Node* parent() const { return parent_; }
  const std::vector<std::unique_ptr<Node>>& children() const { return children_; }
  const std::vector<Property>& properties() const { return props_; }
  const Tree& tree() const { return *tree_; }

  const Property* prop(std::string_view name) const;
  bool has(std::string_view name) const { return prop(name) != nullptr; }
  std::optional<uint32_t> u32(std::string_view name) const;  // first cell

  std::vector<std::string> compatible() const;
  bool is_compatible(std::string_view compat) const;
  // status absent, "okay" or "ok"
  bool available() const;
  Phandle phandle() const { return phandle_; }  // 0 when none

  // #address-cells / #size-cells this node declares for its children
  // (defaults 2 and 1, as the DT specification says).
  uint32_t address_cells() const;
  uint32_t size_cells() const;
  // reg decoded with the parent's cell counts (empty when there is no
  // reg). Error names the node; more than 2 cells per number is an error.
  Result<std::vector<RegEntry>> reg() const;
  // reg[index].address translated through the ancestors' `ranges` to a CPU
  // physical address (empty `ranges` = identity; missing = not translatable).
  Result<uint64_t> translated_address(size_t index = 0) const;

 private:
  friend class Tree;
  friend struct TreeBuilder;
  std::string name_;
  Node* parent_ = nullptr;
  const Tree* tree_ = nullptr;
  Phandle phandle_ = 0;
  std::vector<Property> props_;
  std::vector<std::unique_ptr<Node>> children_;
};

class MODIOMMU_API Tree {
 public:
  // .dtb (by content magic d00dfeed) through libfdt, anything else as .dts
  // through dtc. Errors name the file (and node path where one applies).
  static Result<std::unique_ptr<Tree>> load_file(const std::string& path);
  static Result<std::unique_ptr<Tree>> from_blob(std::span<const uint8_t> blob, std::string source_name);
  static Result<std::unique_ptr<Tree>> from_dts(std::string_view dts_text, std::string source_name);

  const std::string& source() const { return source_; }
  Node* root() const { return root_.get(); }
  Node* find(std::string_view path) const;       // "/soc/dma@10000000"
  Node* by_phandle(Phandle ph) const;
  std::vector<Node*> nodes() const;              // pre-order, root first
  std::vector<Node*> find_compatible(std::string_view compat) const;
  // Nodes carrying a legacy `mmu-masters` list (BEHAVIOUR.md 5), computed
  // once: the tree does not change after loading.
  const std::vector<Node*>& legacy_smmus() const;

 private:
  friend struct TreeBuilder;
  mutable std::once_flag legacy_once_;
  mutable std::vector<Node*> legacy_smmus_;
  std::string source_;
  std::unique_ptr<Node> root_;
  std::vector<std::pair<Phandle, Node*>> phandles_;  // sorted by phandle
};

// --- Bindings ------------------------------------------------------------

// One <&target arg...> element of a phandle list (of_phandle_args).
struct PhandleArgs {
  Node* target = nullptr;
  std::vector<uint32_t> args;
};

// Parses `list_prop` (e.g. "iommus") where each element's argument count is
// the target's `cells_prop` (e.g. "#iommu-cells"). Errors (naming file, node
// and element): bad phandle, missing cells property, truncated list.
MODIOMMU_API Result<std::vector<PhandleArgs>> parse_phandle_list(const Node& node, std::string_view list_prop,
                                                                 std::string_view cells_prop);

// iommus = <&iommu ids...> with #iommu-cells. Empty if the node has none.
MODIOMMU_API Result<std::vector<PhandleArgs>> iommus(const Node& node);

// iommu-map = <rid-base &iommu iommu-base length>... (#iommu-cells must be 1
// for each target), with iommu-map-mask.
struct IommuMapEntry {
  uint32_t rid_base = 0;
  Node* iommu = nullptr;
  uint32_t iommu_base = 0;
  uint32_t length = 0;
};
MODIOMMU_API Result<std::vector<IommuMapEntry>> iommu_map(const Node& bridge);

// of_map_id(): what a requester ID maps to. BEHAVIOUR.md 4: no map => no
// IOMMU; RID outside every entry => not behind any IOMMU; malformed => error.
struct MappedId {
  enum class Kind { no_map, no_match, mapped } kind = Kind::no_map;
  Node* iommu = nullptr;
  uint32_t id = 0;
};
MODIOMMU_API Result<MappedId> map_id(const Node& bridge, uint32_t rid);

// Legacy arm-smmu binding: mmu-masters = <&master sid...> on the SMMU, with
// #stream-id-cells on each master.
struct MmuMaster {
  Node* master = nullptr;
  std::vector<uint32_t> stream_ids;
};
MODIOMMU_API Result<std::vector<MmuMaster>> mmu_masters(const Node& smmu);

// Where firmware puts a device behind IOMMUs: its own `iommus` (the generic
// binding), else every legacy SMMU whose `mmu-masters` names it (args are
// then its stream IDs). A device named both ways is an error, as is a
// malformed list. Empty refs: not behind any IOMMU.
struct IommuRefs {
  std::vector<PhandleArgs> refs;
  bool legacy = false;
};
MODIOMMU_API Result<IommuRefs> iommu_refs(const Node& node);
// The first enabled IOMMU firmware names for the node (null if none, or on
// a malformed binding).
MODIOMMU_API const PhandleArgs* first_enabled(const IommuRefs& r);

}  // namespace modiommu::of
