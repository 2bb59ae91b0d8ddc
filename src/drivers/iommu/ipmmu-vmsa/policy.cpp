// Which ipmmu_of_ids entry a node matches, and Linux's allowlist policy
// (ipmmu_device_is_allowed in drivers/iommu/ipmmu-vmsa.c, 6.1 and 6.12).
#include <string_view>

#include "core/device.h"
#include "drivers/iommu/ipmmu-vmsa/ipmmu-vmsa.h"
#include "of/tree.h"

namespace modiommu::ipmmu {

namespace {

// Linux ipmmu_features_default / _rcar_gen3 / _rcar_gen4, plus the block
// context: Gen2 drives only context 0, so context 1 blocks; Gen3/Gen4
// reserve context 0, which blocks.
constexpr Features kGen2{"gen2", true, false, 1, 32, true, false, false, true, 0, 0x40, 0, 1};
constexpr Features kGen3{"gen3", false, true, 8, 48, false, true, true, false, 0, 0x40, 0, 0};
constexpr Features kGen4{"gen4", false, true, 16, 64, false, true, true, false, 0x10000, 0x1040, 0x3000, 0};

struct OfId {
  const char* compatible;
  const Features* features;
};
// Linux ipmmu_of_ids, in its order.
constexpr OfId kOfIds[] = {
    {"renesas,ipmmu-vmsa", &kGen2},          {"renesas,ipmmu-r8a774a1", &kGen3},
    {"renesas,ipmmu-r8a774b1", &kGen3},      {"renesas,ipmmu-r8a774c0", &kGen3},
    {"renesas,ipmmu-r8a774e1", &kGen3},      {"renesas,ipmmu-r8a7795", &kGen3},
    {"renesas,ipmmu-r8a7796", &kGen3},       {"renesas,ipmmu-r8a77961", &kGen3},
    {"renesas,ipmmu-r8a77965", &kGen3},      {"renesas,ipmmu-r8a77970", &kGen3},
    {"renesas,ipmmu-r8a77980", &kGen3},      {"renesas,ipmmu-r8a77990", &kGen3},
    {"renesas,ipmmu-r8a77995", &kGen3},      {"renesas,ipmmu-r8a779a0", &kGen4},
    {"renesas,rcar-gen4-ipmmu-vmsa", &kGen4},
};

// The SoC families soc_needs_opt_in names, per SoC (drivers/soc/renesas/
// renesas-soc.c): R-Car Gen3, R-Car Gen4 and RZ/G2.
struct Soc {
  std::string_view id;
  bool needs_opt_in;
  bool denied;  // soc_denylist
};
constexpr Soc kSocs[] = {
    {"r8a774a1", true, true},  {"r8a774b1", true, false}, {"r8a774c0", true, false}, {"r8a774e1", true, false},
    // r8a7795 is denied for ES1.x/ES2.x only; a tree does not say the
    // revision (the PRR register does), so the current ES3.x is assumed.
    {"r8a7795", true, false},  {"r8a7796", true, true},   {"r8a77961", true, false}, {"r8a77965", true, false},
    {"r8a77970", true, false}, {"r8a77980", true, false}, {"r8a77990", true, false}, {"r8a77995", true, false},
    {"r8a779a0", true, false}, {"r8a779f0", true, false}, {"r8a779g0", true, false}, {"r8a779h0", true, false},
};

// Linux devices_allowlist.
constexpr std::string_view kAllowlist[] = {"ee100000.mmc", "ee120000.mmc", "ee140000.mmc", "ee160000.mmc"};

// soc_device_match() reads the SoC the kernel runs on; here the tree's
// root compatible ("renesas,r8a7795") names it.
const Soc* this_soc(const of::Tree& tree) {
  for (const auto& c : tree.root()->compatible()) {
    if (!c.starts_with("renesas,")) continue;
    const std::string_view id = std::string_view(c).substr(8);
    for (const auto& s : kSocs)
      if (s.id == id) return &s;
  }
  return nullptr;
}

}  // namespace

const Features* match_features(const of::Node& node) {
  for (const auto& id : kOfIds)
    if (node.is_compatible(id.compatible)) return id.features;
  return nullptr;
}

const std::vector<std::string>& of_match_compatibles() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> out;
    for (const auto& id : kOfIds) out.emplace_back(id.compatible);
    return out;
  }();
  return v;
}

std::string policy_refusal(const of::Tree& tree, const Device& dev, bool is_pci, bool attach_all) {
  if (attach_all) return "";
  const Soc* soc = this_soc(tree);
  if (!soc || !soc->needs_opt_in) return "";  // other SoCs: every device
  if (soc->denied) return std::string(soc->id) + " is on the SoC denylist";
  if (is_pci) return "";
  for (auto name : kAllowlist)
    if (dev.name() == name) return "";
  return std::string(soc->id) + " device not in the allowlist";
}

}  // namespace modiommu::ipmmu
