// Firmware bindings the IOMMU core needs: phandle lists (iommus,
// mmu-masters) and the PCI iommu-map.
#include "of/diag.h"
#include "of/tree.h"

namespace modiommu::of {

namespace {
using detail::node_error;

// Linux's MAX_PHANDLE_ARGS: no binding we parse needs more arguments.
constexpr uint32_t kMaxArgs = 16;

std::string elem(std::string_view prop, size_t i) {
  return std::string(prop) + "[" + std::to_string(i) + "]";
}

// Resolves a phandle cell; 0 and unknown values are errors.
Result<Node*> resolve(const Node& node, std::string_view prop, size_t index, uint32_t ph) {
  if (ph == 0) return node_error(Errc::inval, node, elem(prop, index), "phandle 0 (no node)");
  Node* target = node.tree().by_phandle(ph);
  if (!target)
    return node_error(Errc::noent, node, elem(prop, index), "unknown phandle " + detail::hex(ph));
  return target;
}
}  // namespace

// Like Linux of_parse_phandle_with_args() applied to every element.
Result<std::vector<PhandleArgs>> parse_phandle_list(const Node& node, std::string_view list_prop,
                                                    std::string_view cells_prop) {
  std::vector<PhandleArgs> out;
  const Property* p = node.prop(list_prop);
  if (!p) return out;
  if (p->value.size() % 4 != 0)
    return node_error(Errc::inval, node, list_prop,
                      "length " + std::to_string(p->value.size()) + " is not a multiple of 4");
  auto cells = TRY(p->cells());
  size_t i = 0;
  for (size_t index = 0; i < cells.size(); ++index) {
    Node* target = TRY(resolve(node, list_prop, index, cells[i]));
    const Property* cp = target->prop(cells_prop);
    if (!cp)
      return node_error(Errc::inval, node, elem(list_prop, index),
                        "target " + target->path() + " has no " + std::string(cells_prop));
    uint32_t count = TRY(detail::cells_prop(*target, cells_prop, 0));
    if (count > kMaxArgs)
      return node_error(Errc::inval, node, elem(list_prop, index),
                        "target " + target->path() + " " + std::string(cells_prop) + " = " +
                            std::to_string(count) + " exceeds " + std::to_string(kMaxArgs));
    if (cells.size() - i - 1 < count)
      return node_error(Errc::inval, node, elem(list_prop, index),
                        "truncated: " + std::string(cells_prop) + " of " + target->path() + " is " +
                            std::to_string(count) + " but only " + std::to_string(cells.size() - i - 1) +
                            " cells remain");
    PhandleArgs a;
    a.target = target;
    a.args.assign(cells.begin() + static_cast<ptrdiff_t>(i + 1),
                  cells.begin() + static_cast<ptrdiff_t>(i + 1 + count));
    out.push_back(std::move(a));
    i += 1 + count;
  }
  return out;
}

// Documentation/devicetree/bindings/iommu/iommu.txt: iommus.
Result<std::vector<PhandleArgs>> iommus(const Node& node) {
  auto list = TRY(parse_phandle_list(node, "iommus", "#iommu-cells"));
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i].target == &node)
      return node_error(Errc::loop, node, elem("iommus", i), "node references itself as its IOMMU");
  return list;
}

// Documentation/devicetree/bindings/pci/pci-iommu.txt: iommu-map is
// (rid-base, iommu phandle, iommu-base, length) quadruples.
Result<std::vector<IommuMapEntry>> iommu_map(const Node& bridge) {
  std::vector<IommuMapEntry> out;
  const Property* p = bridge.prop("iommu-map");
  if (!p) return out;
  if (p->value.size() == 0 || p->value.size() % 16 != 0)
    return node_error(Errc::inval, bridge, "iommu-map",
                      "length " + std::to_string(p->value.size()) + " bytes is not a non-zero multiple of 4 cells");
  auto cells = TRY(p->cells());
  uint32_t mask = TRY(detail::cells_prop(bridge, "iommu-map-mask", 0xffffffffu));
  for (size_t i = 0; i < cells.size(); i += 4) {
    size_t index = i / 4;
    IommuMapEntry e;
    e.rid_base = cells[i];
    e.iommu = TRY(resolve(bridge, "iommu-map", index, cells[i + 1]));
    e.iommu_base = cells[i + 2];
    e.length = cells[i + 3];
    if (e.iommu == &bridge)
      return node_error(Errc::loop, bridge, elem("iommu-map", index), "node references itself as its IOMMU");
    auto ic = e.iommu->u32("#iommu-cells");
    const Property* icp = e.iommu->prop("#iommu-cells");
    if (!icp || icp->value.size() != 4 || *ic != 1)
      return node_error(Errc::inval, bridge, elem("iommu-map", index),
                        "target " + e.iommu->path() + " must have #iommu-cells = <1>" +
                            (icp ? "" : " (it has none)"));
    // A zero length is legal and never matches: NXP's fsl-mc ships
    // `<0 &smmu 0 0>` for the boot loader to fill in, and Linux of_map_id()
    // simply finds no match in it.
    // As Linux of_map_id(): a rid-base the mask can never produce is a
    // broken map, not an entry that silently never matches.
    if (e.rid_base & ~mask)
      return node_error(Errc::inval, bridge, elem("iommu-map", index),
                        "rid-base " + detail::hex(e.rid_base) + " has bits outside iommu-map-mask " +
                            detail::hex(mask));
    out.push_back(e);
  }
  return out;
}

// Linux of_map_id(): mask the RID, then find the entry that covers it.
Result<MappedId> map_id(const Node& bridge, uint32_t rid) {
  MappedId m;
  if (!bridge.has("iommu-map")) return m;  // Kind::no_map: no IOMMU
  auto map = TRY(iommu_map(bridge));  // also validates iommu-map-mask
  uint32_t mask = TRY(detail::cells_prop(bridge, "iommu-map-mask", 0xffffffffu));
  uint32_t masked = rid & mask;
  for (const auto& e : map) {
    // 64-bit: rid_base + length may pass 2^32.
    if (masked >= e.rid_base && uint64_t{masked} < uint64_t{e.rid_base} + e.length) {
      m.kind = MappedId::Kind::mapped;
      m.iommu = e.iommu;
      m.id = e.iommu_base + (masked - e.rid_base);
      return m;
    }
  }
  m.kind = MappedId::Kind::no_match;
  return m;
}

// Documentation/devicetree/bindings/iommu/arm,smmu.yaml (deprecated
// mmu-masters): each element is <&master sid...>, with #stream-id-cells
// on the master giving the SID count.
Result<std::vector<MmuMaster>> mmu_masters(const Node& smmu) {
  auto list = TRY(parse_phandle_list(smmu, "mmu-masters", "#stream-id-cells"));
  std::vector<MmuMaster> out;
  out.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].target == &smmu)
      return node_error(Errc::loop, smmu, elem("mmu-masters", i), "SMMU lists itself as a master");
    out.push_back(MmuMaster{list[i].target, std::move(list[i].args)});
  }
  return out;
}

const std::vector<Node*>& Tree::legacy_smmus() const {
  std::call_once(legacy_once_, [this] {
    for (Node* n : nodes())
      if (n->has("mmu-masters")) legacy_smmus_.push_back(n);
  });
  return legacy_smmus_;
}

Result<IommuRefs> iommu_refs(const Node& node) {
  IommuRefs out;
  if (node.has("iommus")) out.refs = TRY(iommus(node));
  for (Node* smmu : node.tree().legacy_smmus()) {
    auto masters = mmu_masters(*smmu);
    // A malformed list on some other SMMU is that SMMU's problem (its probe
    // reports it); it can only matter here if it might name this node.
    if (!masters.ok()) continue;
    for (auto& m : *masters) {
      if (m.master != &node) continue;
      if (!out.refs.empty() && !out.legacy)
        return node_error(Errc::inval, node, "iommus",
                          "also named in the legacy mmu-masters of " + smmu->path() +
                              ": a master uses one arm-smmu binding, not both");
      out.legacy = true;
      out.refs.push_back(PhandleArgs{smmu, m.stream_ids});
    }
  }
  return out;
}

const PhandleArgs* first_enabled(const IommuRefs& r) {
  for (const auto& pa : r.refs)
    if (pa.target->available()) return &pa;
  return nullptr;
}

}  // namespace modiommu::of
