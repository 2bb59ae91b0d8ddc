// Per-SoC data (Linux mtk_iommu.c mt*_data): register layout choices and
// larb remapping. Multi-region IOVA layouts (mt8186/8188/8192/8195 iova
// regions) are not used here: every domain spans region 0.
#include <array>

#include "drivers/iommu/mtk_iommu/mtk_iommu.h"
#include "drivers/iommu/mtk_iommu/regs.h"

namespace modiommu::mtk_iommu {

namespace {

PlatData mm(const char* compat, uint64_t inv_sel) {
  PlatData p;
  p.compatible = compat;
  p.inv_sel_reg = inv_sel;
  return p;
}

std::vector<PlatData> make_table() {
  std::vector<PlatData> t;
  {
    PlatData p = mm("mediatek,mt2712-m4u", REG_MMU_INV_SEL_GEN1);
    p.has_4gb_mode = true;
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt6779-m4u", REG_MMU_INV_SEL_GEN2);
    p.out_order_wr = p.wr_throt = p.pgtable_pa_35 = true;
    p.larbid_remap = {0, 1, 2, 3, 5, 7, 10, 9};
    t.push_back(p);
  }
  for (const char* c : {"mediatek,mt6795-m4u", "mediatek,mt8173-m4u"}) {
    PlatData p = mm(c, REG_MMU_INV_SEL_GEN1);
    p.has_4gb_mode = p.reset_axi = p.legacy_ivrp = p.tf_port_mt8173 = true;
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8167-m4u", REG_MMU_INV_SEL_GEN1);
    p.reset_axi = p.legacy_ivrp = true;
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8183-m4u", REG_MMU_INV_SEL_GEN1);
    p.reset_axi = true;
    p.larbid_remap = {0, 4, 5, 6, 7, 2, 3, 1};
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8186-iommu-mm", REG_MMU_INV_SEL_GEN2);
    p.out_order_wr = p.wr_throt = p.iova_34 = true;
    p.larbid_remap = {0, 1, 4, 7, 2, 9, kLarbMax, kLarbMax};
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8188-iommu-infra", REG_MMU_INV_SEL_GEN2);
    p.mm = false;
    p.wr_throt = p.dcm_disable = p.std_axi_mode = p.pgtable_pa_35 = true;
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8188-iommu-vdo", REG_MMU_INV_SEL_GEN2);
    p.out_order_wr = p.wr_throt = p.iova_34 = p.pgtable_pa_35 = true;
    p.larbid_remap = {2, 0, 21, 0, 19, 9, 13, 5};
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8188-iommu-vpp", REG_MMU_INV_SEL_GEN2);
    p.out_order_wr = p.wr_throt = p.iova_34 = p.pgtable_pa_35 = true;
    p.larbid_remap = {1, 3, 23, 7, kLarbMax, 12, 14, 4};
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8192-m4u", REG_MMU_INV_SEL_GEN2);
    p.out_order_wr = p.wr_throt = p.iova_34 = true;
    p.larbid_remap = {0, 1, 4, 7, 2, 9, 0, 0};
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8195-iommu-infra", REG_MMU_INV_SEL_GEN2);
    p.mm = false;
    p.wr_throt = p.dcm_disable = p.std_axi_mode = true;
    p.banks = 5;
    p.bank_enable = {true, false, false, false, true};
    p.bank_portmsk = {0x000f0000u, 0, 0, 0, 0xfff00000u};  // PCIe on bank 0, USB on bank 4
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8195-iommu-vdo", REG_MMU_INV_SEL_GEN2);
    p.out_order_wr = p.wr_throt = p.iova_34 = true;
    p.larbid_remap = {2, 21, 24, 7, 19, 9, 13, 5};
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8195-iommu-vpp", REG_MMU_INV_SEL_GEN2);
    p.out_order_wr = p.wr_throt = p.iova_34 = true;
    p.larbid_remap = {1, 3, 22, 8, 20, 12, 14, 4};
    t.push_back(p);
  }
  {
    PlatData p = mm("mediatek,mt8365-m4u", REG_MMU_INV_SEL_GEN1);
    p.reset_axi = true;
    t.push_back(p);
  }
  return t;
}

}  // namespace

const PlatData* plat_data_for(const std::string& compatible) {
  static const std::vector<PlatData> table = make_table();
  for (const auto& p : table)
    if (p.compatible == compatible) return &p;
  return nullptr;
}

}  // namespace modiommu::mtk_iommu
