// IOMMU kinds by compatible and specifier decoding, on small hand-written
// trees (the corpus test covers the real ones).
#include <gtest/gtest.h>

#include "report/iommu_kinds.h"

using namespace modiommu;

namespace {

std::unique_ptr<of::Tree> tree(const std::string& body) {
  auto t = of::Tree::from_dts("/dts-v1/;\n/ {\n#address-cells = <1>;\n#size-cells = <1>;\n" + body + "};\n", "t.dts");
  EXPECT_TRUE(t.ok()) << t.error().str();
  return std::move(t).value();
}

TEST(IommuKinds, ByCompatibleIncludingSocSpecificFallbacks) {
  auto t = tree(R"(
    a { compatible = "qcom,sc7180-smmu-500", "arm,mmu-500"; #iommu-cells = <2>; };
    b { compatible = "renesas,ipmmu-r8a774a1"; #iommu-cells = <1>; };
    c { compatible = "qcom,sm9999-smmu-500"; #iommu-cells = <1>; };
    d { compatible = "acme,mystery-iommu"; #iommu-cells = <1>; };
    e { compatible = "mediatek,mt8173-m4u"; #iommu-cells = <1>; };
  )");
  ASSERT_NE(report::iommu_kind(*t->find("/a")), nullptr);
  EXPECT_STREQ(report::iommu_kind(*t->find("/a"))->family, "arm-smmu");
  EXPECT_STREQ(report::iommu_kind(*t->find("/b"))->family, "ipmmu-vmsa");
  EXPECT_STREQ(report::iommu_kind(*t->find("/c"))->family, "arm-smmu");
  EXPECT_EQ(report::iommu_kind(*t->find("/d")), nullptr);
  EXPECT_STREQ(report::iommu_kind(*t->find("/e"))->family, "mtk-iommu");
  EXPECT_TRUE(report::is_iommu_node(*t->find("/d")));
}

TEST(IommuKinds, ArmSmmuSpecifiers) {
  auto t = tree(R"(smmu { compatible = "arm,mmu-500"; #iommu-cells = <1>; };)");
  const of::Node& n = *t->find("/smmu");
  auto one = report::decode_specifier(n, {0x7f0400});  // mask 0x7f in [31:16], ID 0x400
  EXPECT_TRUE(one.ok);
  EXPECT_EQ(one.ids, std::vector<uint32_t>{0x400});
  EXPECT_EQ(one.mask, 0x7fu);
  EXPECT_EQ(one.text, "stream ID 0x400 mask 0x7f");
  auto two = report::decode_specifier(n, {0x10, 0x3});
  EXPECT_EQ(two.text, "stream ID 0x10 mask 0x3");
  auto bad = report::decode_specifier(n, {1, 2, 3});
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.text.find("3 cell(s)"), std::string::npos) << bad.text;
}

TEST(IommuKinds, OtherBindings) {
  auto t = tree(R"(
    rk { compatible = "rockchip,iommu"; #iommu-cells = <0>; };
    sun { compatible = "allwinner,sun50i-h6-iommu"; #iommu-cells = <1>; };
    mtk { compatible = "mediatek,mt8173-m4u"; #iommu-cells = <1>; };
    unk { compatible = "acme,mystery-iommu"; #iommu-cells = <2>; };
  )");
  EXPECT_EQ(report::decode_specifier(*t->find("/rk"), {}).text, "no cells: the IOMMU serves this one master");
  EXPECT_FALSE(report::decode_specifier(*t->find("/rk"), {1}).ok);
  EXPECT_EQ(report::decode_specifier(*t->find("/sun"), {3}).text, "master ID 0x3");
  EXPECT_EQ(report::decode_specifier(*t->find("/mtk"), {(2u << 5) | 7}).text, "larb 2 port 7");
  EXPECT_EQ(report::decode_specifier(*t->find("/unk"), {1, 0x20}).text, "cells <0x1 0x20>");
}

}  // namespace
