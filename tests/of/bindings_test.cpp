// iommus, parse_phandle_list, iommu-map / map_id, mmu-masters: good input
// from data/iommu.dts, and every error case on small snippets.
#include <gtest/gtest.h>

#include "of/tree.h"
#include "test_util.h"

namespace modiommu::of {
namespace {

void expect_names(const std::string& msg, std::initializer_list<std::string> parts) {
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' does not name '" << p << "'";
}

class OfBindings : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = Tree::load_file(test::data_path("iommu.dts"));
    ASSERT_TRUE(t.ok()) << t.error().str();
    tree_ = std::move(t).value();
  }
  Node* n(const char* path) {
    Node* node = tree_->find(path);
    EXPECT_NE(node, nullptr) << path;
    return node;
  }
  std::unique_ptr<Tree> tree_;
};

TEST_F(OfBindings, Iommus) {
  auto one = iommus(*n("/dma@10000000"));
  ASSERT_TRUE(one.ok()) << one.error().str();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].target, n("/iommu@9050000"));
  EXPECT_EQ((*one)[0].args, (std::vector<uint32_t>{0x10}));

  auto multi = iommus(*n("/multi@10001000"));
  ASSERT_TRUE(multi.ok()) << multi.error().str();
  ASSERT_EQ(multi->size(), 3u);
  EXPECT_EQ((*multi)[0].target, n("/iommu@9060000"));
  EXPECT_EQ((*multi)[0].args, (std::vector<uint32_t>{0x20, 0x7f00}));
  EXPECT_EQ((*multi)[1].target, n("/iommu@9070000"));
  EXPECT_TRUE((*multi)[1].args.empty());
  EXPECT_EQ((*multi)[2].target, n("/iommu@9050000"));
  EXPECT_EQ((*multi)[2].args, (std::vector<uint32_t>{0x11}));

  auto none = iommus(*n("/plain@10002000"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(OfBindings, IommuMapAndMapId) {
  Node* pcie = n("/pcie@20000000");
  Node* smmu = n("/iommu@9050000");
  auto map = iommu_map(*pcie);
  ASSERT_TRUE(map.ok()) << map.error().str();
  ASSERT_EQ(map->size(), 2u);
  EXPECT_EQ((*map)[0].rid_base, 0x000u);
  EXPECT_EQ((*map)[0].iommu, smmu);
  EXPECT_EQ((*map)[0].iommu_base, 0x1000u);
  EXPECT_EQ((*map)[0].length, 0x100u);
  EXPECT_EQ((*map)[1].rid_base, 0x200u);
  EXPECT_EQ((*map)[1].iommu_base, 0x0u);

  struct Case {
    uint32_t rid;
    MappedId::Kind kind;
    uint32_t id;
  };
  for (Case c : {Case{0x000, MappedId::Kind::mapped, 0x1000}, Case{0x010, MappedId::Kind::mapped, 0x1010},
                 Case{0x0ff, MappedId::Kind::mapped, 0x10ff}, Case{0x100, MappedId::Kind::no_match, 0},
                 Case{0x1ff, MappedId::Kind::no_match, 0}, Case{0x200, MappedId::Kind::mapped, 0x0},
                 Case{0x2ff, MappedId::Kind::mapped, 0xff}, Case{0x300, MappedId::Kind::no_match, 0},
                 // iommu-map-mask 0xfff drops the high bits first.
                 Case{0x1210, MappedId::Kind::mapped, 0x10}, Case{0xf010, MappedId::Kind::mapped, 0x1010}}) {
    auto m = map_id(*pcie, c.rid);
    ASSERT_TRUE(m.ok()) << m.error().str();
    EXPECT_EQ(m->kind, c.kind) << std::hex << c.rid;
    if (c.kind == MappedId::Kind::mapped) {
      EXPECT_EQ(m->iommu, smmu) << std::hex << c.rid;
      EXPECT_EQ(m->id, c.id) << std::hex << c.rid;
    } else {
      EXPECT_EQ(m->iommu, nullptr);
    }
  }
  auto nomap = map_id(*n("/pcie@30000000"), 0x10);
  ASSERT_TRUE(nomap.ok());
  EXPECT_EQ(nomap->kind, MappedId::Kind::no_map);
  auto empty = iommu_map(*n("/pcie@30000000"));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(OfBindings, MmuMasters) {
  auto mm = mmu_masters(*n("/iommu@9080000"));
  ASSERT_TRUE(mm.ok()) << mm.error().str();
  ASSERT_EQ(mm->size(), 2u);
  EXPECT_EQ((*mm)[0].master, n("/master@11000000"));
  EXPECT_EQ((*mm)[0].stream_ids, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ((*mm)[1].master, n("/master@11001000"));
  EXPECT_EQ((*mm)[1].stream_ids, (std::vector<uint32_t>{5}));
  auto none = mmu_masters(*n("/iommu@9050000"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// A snippet with one IOMMU of each #iommu-cells count, plus `body`.
std::unique_ptr<Tree> with_iommus(const std::string& body) {
  return test::dts(R"(/dts-v1/;
/ {
  s1: smmu1 { #iommu-cells = <1>; };
  s2: smmu2 { #iommu-cells = <2>; };
  nc: nocells { };
  big: big { #iommu-cells = <17>; };
  wide: wide { #iommu-cells = <1 1>; };
  clk: clk { #clock-cells = <1>; };
)" + body + "\n};\n");
}

std::string iommus_error(const std::string& body, const char* node) {
  auto t = with_iommus(body);
  if (!t) return "";
  Node* d = t->find(node);
  if (!d) {
    ADD_FAILURE() << "no node " << node;
    return "";
  }
  auto r = iommus(*d);
  if (r.ok()) {
    ADD_FAILURE() << "iommus() of " << node << " succeeded";
    return "";
  }
  return r.error().message;
}

TEST(OfBindingErrors, IommusPhandleZero) {
  expect_names(iommus_error("dev { iommus = <0 1>; };", "/dev"), {"snippet.dts", "/dev", "iommus[0]", "phandle 0"});
}

TEST(OfBindingErrors, IommusUnknownPhandleInSecondElement) {
  expect_names(iommus_error("dev { iommus = <&s1 1>, <0x999 2>; };", "/dev"),
               {"snippet.dts", "/dev", "iommus[1]", "unknown phandle 0x999"});
}

TEST(OfBindingErrors, IommusTargetWithoutCells) {
  expect_names(iommus_error("dev { iommus = <&s1 1>, <&s2 1 2>, <&nc 5>; };", "/dev"),
               {"snippet.dts", "/dev", "iommus[2]", "/nocells", "#iommu-cells"});
}

TEST(OfBindingErrors, IommusTruncated) {
  expect_names(iommus_error("dev { iommus = <&s2 7>; };", "/dev"),
               {"snippet.dts", "/dev", "iommus[0]", "truncated", "/smmu2"});
  expect_names(iommus_error("dev { iommus = <&s1 7>, <&s1>; };", "/dev"), {"/dev", "iommus[1]", "truncated"});
}

TEST(OfBindingErrors, IommusNotCells) {
  expect_names(iommus_error("dev { iommus = [00 00 00 01 02]; };", "/dev"),
               {"snippet.dts", "/dev", "iommus", "not a multiple of 4"});
}

TEST(OfBindingErrors, IommusAbsurdOrMalformedCellCount) {
  expect_names(iommus_error("dev { iommus = <&big 1>; };", "/dev"), {"/dev", "iommus[0]", "/big", "exceeds"});
  expect_names(iommus_error("dev { iommus = <&wide 1>; };", "/dev"), {"/wide", "#iommu-cells"});
}

TEST(OfBindingErrors, IommusSelfReference) {
  expect_names(iommus_error("me: dev { #iommu-cells = <1>; iommus = <&s1 3>, <&me 4>; };", "/dev"),
               {"snippet.dts", "/dev", "iommus[1]", "itself"});
}

TEST(OfBindingErrors, ReferenceCycleIsNotAnError) {
  // Two IOMMUs translating each other: odd, but not a parse error.
  auto t = with_iommus("a: a { #iommu-cells = <1>; iommus = <&b 1>; }; b: b { #iommu-cells = <1>; iommus = <&a 2>; };");
  ASSERT_TRUE(t);
  auto a = iommus(*t->find("/a"));
  auto b = iommus(*t->find("/b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)[0].target, t->find("/b"));
  EXPECT_EQ((*b)[0].target, t->find("/a"));
}

TEST(OfBindingErrors, GenericPhandleList) {
  auto t = with_iommus("dev { clocks = <&clk 3>, <&clk 4>; bad-clocks = <&clk>; };");
  ASSERT_TRUE(t);
  auto ok = parse_phandle_list(*t->find("/dev"), "clocks", "#clock-cells");
  ASSERT_TRUE(ok.ok()) << ok.error().str();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].target, t->find("/clk"));
  EXPECT_EQ((*ok)[1].args, (std::vector<uint32_t>{4}));
  auto bad = parse_phandle_list(*t->find("/dev"), "bad-clocks", "#clock-cells");
  ASSERT_FALSE(bad.ok());
  expect_names(bad.error().message, {"/dev", "bad-clocks[0]", "truncated"});
  auto wrong_cells = parse_phandle_list(*t->find("/dev"), "clocks", "#iommu-cells");
  ASSERT_FALSE(wrong_cells.ok());
  expect_names(wrong_cells.error().message, {"/dev", "clocks[0]", "/clk", "#iommu-cells"});
}

std::string map_error(const std::string& body) {
  auto t = with_iommus(body);
  if (!t) return "";
  Node* pci = t->find("/pci");
  if (!pci) {
    ADD_FAILURE() << "no /pci";
    return "";
  }
  auto r = iommu_map(*pci);
  if (r.ok()) {
    ADD_FAILURE() << "iommu_map() succeeded";
    return "";
  }
  // map_id sees the same malformed map as an error, never as "no match".
  auto m = map_id(*pci, 0);
  EXPECT_FALSE(m.ok());
  return r.error().message;
}

TEST(OfBindingErrors, IommuMapTargetCellsNotOne) {
  expect_names(map_error("pci { iommu-map = <0 &s1 0 0x10>, <0x10 &s2 0 0x10>; };"),
               {"snippet.dts", "/pci", "iommu-map[1]", "/smmu2", "#iommu-cells = <1>"});
  expect_names(map_error("pci { iommu-map = <0 &nc 0 0x10>; };"), {"/pci", "iommu-map[0]", "/nocells"});
}

TEST(OfBindingErrors, IommuMapLength) {
  expect_names(map_error("pci { iommu-map = <0 &s1 0 0x10 0x20>; };"), {"snippet.dts", "/pci", "iommu-map", "4 cells"});
  expect_names(map_error("pci { iommu-map; };"), {"/pci", "iommu-map"});
}

TEST(OfIommuMap, ZeroLengthEntryNeverMatches) {
  // As Linux of_map_id(): a placeholder entry a boot loader fills in.
  auto t = of::Tree::from_dts(R"(/dts-v1/; / { s1: smmu1 { #iommu-cells = <1>; };
    pci { iommu-map = <0 &s1 0 0x10>, <0x10 &s1 0x100 0>; }; };)", "zero.dts");
  ASSERT_TRUE(t.ok()) << t.error().str();
  const of::Node* pci = (*t)->find("/pci");
  auto map = of::iommu_map(*pci);
  ASSERT_TRUE(map.ok()) << map.error().str();
  ASSERT_EQ(map->size(), 2u);
  EXPECT_EQ((*map)[1].length, 0u);
  auto in = of::map_id(*pci, 0x5);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->kind, of::MappedId::Kind::mapped);
  auto out = of::map_id(*pci, 0x10);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->kind, of::MappedId::Kind::no_match);
}

TEST(OfBindingErrors, IommuMapBadPhandle) {
  expect_names(map_error("pci { iommu-map = <0 0x4444 0 0x10>; };"), {"/pci", "iommu-map[0]", "unknown phandle"});
  expect_names(map_error("pci { iommu-map = <0 0 0 0x10>; };"), {"/pci", "iommu-map[0]", "phandle 0"});
}

TEST(OfBindingErrors, IommuMapRidBaseOutsideMask) {
  expect_names(map_error("pci { iommu-map = <0 &s1 0 0x10>, <0x1000 &s1 0 0x10>; iommu-map-mask = <0xff>; };"),
               {"snippet.dts", "/pci", "iommu-map[1]", "rid-base 0x1000", "iommu-map-mask 0xff"});
}

TEST(OfBindingErrors, IommuMapMaskMalformed) {
  auto t = with_iommus("pci { iommu-map = <0 &s1 0 0x10>; iommu-map-mask = <0xff 0xff>; };");
  ASSERT_TRUE(t);
  auto m = map_id(*t->find("/pci"), 1);
  ASSERT_FALSE(m.ok());
  expect_names(m.error().message, {"/pci", "iommu-map-mask"});
}

TEST(OfBindingErrors, MapIdAtTopOfIdSpace) {
  // rid_base + length passes 2^32: must still match without wrapping.
  auto t = with_iommus("pci { iommu-map = <0xfffffff0 &s1 0x100 0x20>; };");
  ASSERT_TRUE(t);
  auto hi = map_id(*t->find("/pci"), 0xffffffff);
  ASSERT_TRUE(hi.ok());
  EXPECT_EQ(hi->kind, MappedId::Kind::mapped);
  EXPECT_EQ(hi->id, 0x10fu);
  auto lo = map_id(*t->find("/pci"), 0x5);
  ASSERT_TRUE(lo.ok());
  EXPECT_EQ(lo->kind, MappedId::Kind::no_match);
}

std::string masters_error(const std::string& body) {
  auto t = test::dts("/dts-v1/;\n/ {\n" + body + "\n};\n");
  if (!t) return "";
  auto r = mmu_masters(*t->find("/smmu"));
  if (r.ok()) {
    ADD_FAILURE() << "mmu_masters() succeeded";
    return "";
  }
  return r.error().message;
}

TEST(OfBindingErrors, MmuMasters) {
  expect_names(masters_error("m: m { }; smmu { mmu-masters = <&m 1>; };"),
               {"snippet.dts", "/smmu", "mmu-masters[0]", "/m", "#stream-id-cells"});
  expect_names(masters_error("m: m { #stream-id-cells = <2>; }; smmu { mmu-masters = <&m 1>; };"),
               {"/smmu", "mmu-masters[0]", "truncated"});
  expect_names(masters_error("m: m { #stream-id-cells = <1>; }; smmu { mmu-masters = <&m 1>, <0x77 1>; };"),
               {"/smmu", "mmu-masters[1]", "unknown phandle"});
  expect_names(masters_error("s: smmu { #stream-id-cells = <1>; mmu-masters = <&s 1>; };"),
               {"snippet.dts", "/smmu", "mmu-masters[0]", "itself"});
}

}  // namespace
}  // namespace modiommu::of
