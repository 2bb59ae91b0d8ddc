// Board glue for the MediaTek M4U and its SMI larbs (hw/mtk): which
// compatibles get a model, the per-SoC choices Linux's mtk_iommu.c plat_data
// implies, and the wiring of larbs (mediatek,larbs, mediatek,larb-id) in
// front of the M4U (INTERFACE.md "Emulated devices in a device tree").
#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "board/models.h"
#include "hw/mtk/m4u.h"
#include "hw/mtk/smi_larb.h"

namespace modiommu {
namespace {

// Linux 6.12 mtk_iommu_of_ids.
const std::vector<std::string> kM4uCompatibles = {
    "mediatek,mt2712-m4u",         "mediatek,mt6779-m4u",         "mediatek,mt6795-m4u",
    "mediatek,mt8167-m4u",         "mediatek,mt8173-m4u",         "mediatek,mt8183-m4u",
    "mediatek,mt8186-iommu-mm",    "mediatek,mt8188-iommu-infra", "mediatek,mt8188-iommu-vdo",
    "mediatek,mt8188-iommu-vpp",   "mediatek,mt8192-m4u",         "mediatek,mt8195-iommu-infra",
    "mediatek,mt8195-iommu-vdo",   "mediatek,mt8195-iommu-vpp",   "mediatek,mt8365-m4u",
};

// mediatek,smi-larb.yaml (SoCs with an arm64 M4U); mt8365 larbs carry an
// mt8186 fallback.
const std::vector<std::string> kLarbCompatibles = {
    "mediatek,mt2712-smi-larb", "mediatek,mt6779-smi-larb", "mediatek,mt6795-smi-larb", "mediatek,mt8167-smi-larb",
    "mediatek,mt8173-smi-larb", "mediatek,mt8183-smi-larb", "mediatek,mt8186-smi-larb", "mediatek,mt8188-smi-larb",
    "mediatek,mt8192-smi-larb", "mediatek,mt8195-smi-larb",
};

bool is_m4u(const of::Node& n) {
  return std::any_of(kM4uCompatibles.begin(), kM4uCompatibles.end(), [&](const std::string& c) { return n.is_compatible(c); });
}

// Linux mtk-smi.c: which register holds a larb's per-port M4U enables.
hw::mtk::SmiLarb::Layout larb_layout(const of::Node& n) {
  using L = hw::mtk::SmiLarb::Layout;
  if (n.is_compatible("mediatek,mt8173-smi-larb") || n.is_compatible("mediatek,mt6795-smi-larb")) return L::mmu_en_f00;
  if (n.is_compatible("mediatek,mt8167-smi-larb")) return L::mmu_en_fc0;
  return L::nonsec_con;
}

// A larb's ID: mediatek,larb-id, else its index in an M4U's mediatek,larbs
// (Linux mtk_iommu_mm_dts_parse: "the id is consecutive if there is no
// this property").
unsigned larb_id(const of::Node& larb) {
  if (auto id = larb.u32("mediatek,larb-id")) return *id;
  for (const of::Node* n : larb.tree().nodes()) {
    if (!is_m4u(*n)) continue;
    const of::Property* p = n->prop("mediatek,larbs");
    if (!p) continue;
    for (size_t i = 0; i < p->cell_count(); ++i)
      if (n->tree().by_phandle(*p->cell(i)) == &larb) return static_cast<unsigned>(i);
  }
  return 0;
}

// One larb model per (platform, node), whichever of the larb's own factory
// and its M4U's runs first creates it. The platform keeps it alive through
// the models holding it; the map only remembers it.
std::shared_ptr<hw::mtk::SmiLarb> larb_for(Platform& p, const of::Node& n) {
  static std::mutex lock;
  static std::map<std::pair<const Platform*, const of::Node*>, std::weak_ptr<hw::mtk::SmiLarb>> larbs;
  std::lock_guard g(lock);
  std::erase_if(larbs, [](const auto& kv) { return kv.second.expired(); });
  auto& w = larbs[{&p, &n}];
  if (auto l = w.lock()) return l;
  auto l = std::make_shared<hw::mtk::SmiLarb>(n.path(), larb_id(n), larb_layout(n));
  w = l;
  return l;
}

hw::mtk::Features features_of(const of::Node& n) {
  hw::mtk::Features f;
  auto is = [&](const char* c) { return n.is_compatible(c); };
  // Linux plat_data: inv_sel_reg GEN1 on the older SoCs.
  if (is("mediatek,mt2712-m4u") || is("mediatek,mt6795-m4u") || is("mediatek,mt8167-m4u") ||
      is("mediatek,mt8173-m4u") || is("mediatek,mt8183-m4u") || is("mediatek,mt8365-m4u"))
    f.inv_sel = hw::mtk::MMU_INV_SEL_GEN1;
  // IOVA_34_EN.
  if (is("mediatek,mt8186-iommu-mm") || is("mediatek,mt8188-iommu-vdo") || is("mediatek,mt8188-iommu-vpp") ||
      is("mediatek,mt8192-m4u") || is("mediatek,mt8195-iommu-vdo") || is("mediatek,mt8195-iommu-vpp"))
    f.iova_bits = 34;
  // PGTABLE_PA_35_EN.
  if (is("mediatek,mt6779-m4u") || is("mediatek,mt8188-iommu-infra") || is("mediatek,mt8188-iommu-vdo") ||
      is("mediatek,mt8188-iommu-vpp"))
    f.pgtable_pa_35 = true;
  if (is("mediatek,mt8195-iommu-infra")) {
    // banks_enable {0, 4}: PCIe ports [19:16] on bank 0, USB [31:20] on bank 4.
    f.banks = 5;
    f.bank_portmsk[4] = 0xfff00000u;
  }
  if (is("mediatek,mt8183-m4u")) {
    // Linux mt8183 larbid_remap {0, 4, 5, 6, 7, 2, 3, 1}, inverted: the
    // MMU0_INT_ID field each larb reports.
    f.int_id_of_larb = {0, 7, 5, 6, 1, 2, 3, 4};
  }
  return f;
}

Result<PlatformModel> create_m4u(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  const uint64_t base = TRY(n.translated_address(0));
  hw::Machine& m = p.machine();
  hw::mtk::Features f = features_of(n);
  // Linux: bank i takes interrupt i.
  std::vector<hw::IrqLine*> irqs;
  for (unsigned i = 0; i < f.banks; ++i) {
    auto num = p.irq_number(n, i);
    irqs.push_back(num.ok() ? &m.irq(*num) : nullptr);
  }
  auto m4u = std::make_shared<hw::mtk::M4u>(n.path(), m.memory(), f, irqs);
  if (const of::Property* lp = n.prop("mediatek,larbs")) {
    for (size_t i = 0; i < lp->cell_count(); ++i) {
      const of::Node* larb = n.tree().by_phandle(*lp->cell(i));
      if (!larb) {
        p.log().warn("", "{}: mediatek,larbs entry {} names no node", n.path(), i);
        continue;
      }
      if (!larb->available()) continue;
      auto l = larb_for(p, *larb);
      m4u->attach_larb(l->id(), l);
    }
  }
  if (n.has("clocks") || n.has("power-domains"))
    p.log().debug("", "{}: clocks and power domains are not modelled (always on)", n.path());
  PlatformModel pm;
  pm.kind = "mtk-iommu";
  pm.base = base;
  pm.size = std::max<uint64_t>(reg[0].size, m4u->region_size());
  pm.mmio = m4u;
  pm.translator = m4u;
  return pm;
}

Result<PlatformModel> create_larb(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  PlatformModel pm;
  pm.kind = "mtk-smi-larb";
  pm.base = TRY(n.translated_address(0));
  pm.size = std::max<uint64_t>(reg[0].size, hw::mtk::SmiLarb::kRegionSize);
  pm.mmio = larb_for(p, n);
  return pm;
}

}  // namespace

ModelFactory mtk_iommu_model() { return {"mtk-iommu", kM4uCompatibles, create_m4u}; }
ModelFactory mtk_smi_larb_model() { return {"mtk-smi-larb", kLarbCompatibles, create_larb}; }

}  // namespace modiommu
