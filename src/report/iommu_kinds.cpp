#include "report/iommu_kinds.h"

#include <string_view>

#include <fmt/format.h>

namespace modiommu::report {
namespace {

// Most specific match first; `prefix` entries catch SoC-specific names
// (renesas,ipmmu-r8a774a1, qcom,sc7180-smmu-500, ...).
struct KindMatch {
  std::string_view compat;
  bool prefix;
  IommuKind kind;
};

constexpr IommuKind kSmmuV3{"arm-smmu-v3", "arm-smmu-v3", "1 cell: StreamID (arm,smmu-v3.yaml)"};
constexpr IommuKind kSmmu{"arm-smmu", "arm-smmu",
                          "1 cell: stream ID [15:0], SMR mask [31:16]; or 2 cells: stream ID, SMR mask (arm,smmu.yaml)"};
constexpr IommuKind kQcomIommu{"qcom-iommu", "qcom_iommu", "1 cell: context bank index (qcom,iommu.yaml)"};
constexpr IommuKind kMsmIommu{"msm-iommu", "msm_iommu", "1 cell: stream ID (qcom,apq8064-iommu.yaml)"};
constexpr IommuKind kRockchip{"rockchip-iommu", "rockchip-iommu", "0 cells: one IOMMU per master (rockchip,iommu.yaml)"};
constexpr IommuKind kIpmmu{"ipmmu-vmsa", "ipmmu-vmsa", "1 cell: micro-TLB number (renesas,ipmmu-vmsa.yaml)"};
constexpr IommuKind kSun50i{"sun50i-iommu", "sun50i-iommu", "1 cell: master ID (allwinner,sun50i-h6-iommu.yaml)"};
constexpr IommuKind kVirtio{"virtio-iommu", "virtio-iommu", "1 cell: endpoint ID (virtio-iommu.yaml)"};
constexpr IommuKind kMtk{"mtk-iommu", "mtk_iommu", "1 cell: larb << 5 | port (mediatek,iommu.yaml)"};
constexpr IommuKind kExynos{"exynos-iommu", "exynos-iommu", "0 cells: one SysMMU per master (samsung,sysmmu.yaml)"};
constexpr IommuKind kTegra{"tegra-smmu", "tegra-smmu", "1 cell: SWGROUP (nvidia,tegra30-smmu.yaml)"};
constexpr IommuKind kDart{"apple-dart", "apple-dart", "1 cell: stream index (apple,dart.yaml)"};

constexpr KindMatch kTable[] = {
    {"arm,smmu-v3", false, kSmmuV3},
    {"arm,mmu-500", false, kSmmu},
    {"arm,smmu-v2", false, kSmmu},
    {"arm,smmu-v1", false, kSmmu},
    {"arm,mmu-400", false, kSmmu},
    {"arm,mmu-401", false, kSmmu},
    {"qcom,smmu-v2", false, kSmmu},
    {"qcom,adreno-smmu", false, kSmmu},
    {"cavium,smmu-v2", false, kSmmu},
    {"nvidia,smmu-500", false, kSmmu},
    {"qcom,msm-iommu-v1", false, kQcomIommu},
    {"qcom,msm-iommu-v2", false, kQcomIommu},
    {"qcom,apq8064-iommu", false, kMsmIommu},
    {"rockchip,iommu", false, kRockchip},
    {"rockchip,rk3568-iommu", false, kRockchip},
    {"renesas,ipmmu-", true, kIpmmu},
    {"allwinner,sun50i-h6-iommu", false, kSun50i},
    {"allwinner,sun50i-h616-iommu", false, kSun50i},
    {"virtio,pci-iommu", false, kVirtio},
    {"pci1af4,1057", false, kVirtio},
    {"samsung,exynos-sysmmu", false, kExynos},
    {"apple,t8103-dart", false, kDart},
    {"apple,t6000-dart", false, kDart},
    {"mediatek,mt", true, kMtk},  // mediatek,mt8173-m4u etc.: checked for "-m4u"/"-iommu" below
    {"nvidia,tegra", true, kTegra},  // nvidia,tegra*-smmu / -mc: checked below
};

bool ends_with(std::string_view s, std::string_view suf) {
  return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf;
}

bool matches(const KindMatch& m, std::string_view c) {
  if (!m.prefix) return c == m.compat;
  if (c.substr(0, m.compat.size()) != m.compat) return false;
  if (m.kind.family == kMtk.family)
    return ends_with(c, "-m4u") || ends_with(c, "-iommu") || c.find("-iommu-") != std::string_view::npos;  // mt8195-iommu-vdo
  // nvidia,tegra30-smmu (old binding), or the memory controller that is the
  // SMMU (nvidia,tegra210-mc; the node's #iommu-cells makes it an IOMMU).
  if (m.kind.family == kTegra.family) return ends_with(c, "-smmu") || ends_with(c, "-mc");
  return true;
}

std::string hex(uint32_t v) { return fmt::format("{:#x}", v); }

}  // namespace

const IommuKind* iommu_kind(const of::Node& iommu) {
  for (const auto& c : iommu.compatible())
    for (const auto& m : kTable)
      if (matches(m, c)) return &m.kind;
  // qcom,<soc>-smmu-500 / -smmu-v2 are arm-smmu implementations whose
  // generic fallback is sometimes the only other string.
  for (const auto& c : iommu.compatible())
    if (c.starts_with("qcom,") && (ends_with(c, "-smmu-500") || ends_with(c, "-smmu-v2"))) return &kSmmu;
  // A virtio-mmio slot holding a virtio-iommu (INTERFACE.md: the device is
  // named by modiommu,virtio-device).
  if (iommu.is_compatible("virtio,mmio"))
    if (const of::Property* p = iommu.prop("modiommu,virtio-device"); p && p->str() == "iommu") return &kVirtio;
  return nullptr;
}

bool is_iommu_node(const of::Node& n) { return n.has("#iommu-cells") || n.has("mmu-masters"); }

DecodedSpecifier decode_specifier(const of::Node& iommu, const std::vector<uint32_t>& cells) {
  DecodedSpecifier d;
  const IommuKind* k = iommu_kind(iommu);
  const std::string family = k ? k->family : "";
  auto bad = [&](const char* want) {
    d.ok = false;
    d.text = fmt::format("{} cell(s) where the {} binding wants {}", cells.size(), family, want);
    return d;
  };
  if (family == "arm-smmu") {
    // arm,smmu.yaml: with one cell, bits [31:16] may carry the SMR mask.
    // A legacy mmu-masters entry lists plain stream IDs, one per cell.
    if (iommu.has("mmu-masters") && !iommu.has("#iommu-cells")) {
      d.ids = cells;
      std::vector<std::string> s;
      for (uint32_t c : cells) s.push_back(hex(c));
      d.text = "stream IDs " + fmt::format("{}", fmt::join(s, ",")) + " (legacy mmu-masters)";
      return d;
    }
    if (cells.size() == 1) {
      d.ids = {cells[0] & 0xffff};
      d.mask = cells[0] >> 16;
    } else if (cells.size() == 2) {
      d.ids = {cells[0] & 0xffff};
      d.mask = cells[1];
    } else {
      return bad("1 or 2");
    }
    d.text = "stream ID " + hex(d.ids[0]) + (d.mask ? " mask " + hex(d.mask) : "");
    return d;
  }
  if (family == "rockchip-iommu" || family == "exynos-iommu") {
    if (!cells.empty()) return bad("0");
    d.text = "no cells: the IOMMU serves this one master";
    return d;
  }
  const char* what = family == "arm-smmu-v3"     ? "StreamID"
                     : family == "qcom-iommu"    ? "context bank"
                     : family == "msm-iommu"     ? "stream ID"
                     : family == "ipmmu-vmsa"    ? "micro-TLB"
                     : family == "sun50i-iommu"  ? "master ID"
                     : family == "virtio-iommu"  ? "endpoint ID"
                     : family == "tegra-smmu"    ? "SWGROUP"
                     : family == "apple-dart"    ? "stream index"
                                                 : nullptr;
  if (family == "mtk-iommu") {
    if (cells.size() != 1) return bad("1");
    d.ids = {cells[0]};
    d.text = fmt::format("larb {} port {}", cells[0] >> 5, cells[0] & 0x1f);
    return d;
  }
  if (what) {
    if (cells.size() != 1) return bad("1");
    d.ids = {cells[0]};
    d.text = std::string(what) + " " + hex(cells[0]);
    return d;
  }
  // Unknown kind: show the raw cells.
  d.ids = cells;
  std::vector<std::string> s;
  for (uint32_t c : cells) s.push_back(hex(c));
  d.text = cells.empty() ? "no cells" : "cells <" + fmt::format("{}", fmt::join(s, " ")) + ">";
  return d;
}

}  // namespace modiommu::report
