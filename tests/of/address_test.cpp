// reg decoding and translation through ranges (DT spec 2.3.6, 2.3.8).
#include <gtest/gtest.h>

#include "of/tree.h"
#include "test_util.h"

namespace modiommu::of {
namespace {

void expect_error_names(const std::string& msg, const std::string& where) {
  EXPECT_NE(msg.find(where), std::string::npos) << "message '" << msg << "' does not name '" << where << "'";
}

TEST(OfAddress, RegUsesParentCells) {
  auto t = Tree::load_file(test::data_path("basic.dts"));
  ASSERT_TRUE(t.ok()) << t.error().str();
  auto dma = (*t)->find("/soc/dma@2000")->reg();
  ASSERT_TRUE(dma.ok()) << dma.error().str();
  ASSERT_EQ(dma->size(), 2u);
  EXPECT_EQ((*dma)[0].address, 0x2000u);
  EXPECT_EQ((*dma)[0].size, 0x100u);
  EXPECT_EQ((*dma)[1].address, 0x3000u);
  EXPECT_EQ((*dma)[1].size, 0x80u);
  // Root bus: 2 + 2 cells.
  auto mem = (*t)->find("/memory@80000000")->reg();
  ASSERT_TRUE(mem.ok());
  ASSERT_EQ(mem->size(), 1u);
  EXPECT_EQ((*mem)[0].address, 0x80000000u);
  EXPECT_EQ((*mem)[0].size, 0x40000000u);
  // #size-cells 0.
  auto child = (*t)->find("/soc/isolated@9000000/child@7")->reg();
  ASSERT_TRUE(child.ok());
  ASSERT_EQ(child->size(), 1u);
  EXPECT_EQ((*child)[0].address, 7u);
  EXPECT_EQ((*child)[0].size, 0u);
  // No reg: no entries.
  auto none = (*t)->find("/soc")->reg();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(OfAddress, Translation) {
  auto t = Tree::load_file(test::data_path("basic.dts"));
  ASSERT_TRUE(t.ok());
  // /soc maps child 0x0.. to 0x1_0000_0000.
  auto serial = (*t)->find("/soc/serial@1000")->translated_address();
  ASSERT_TRUE(serial.ok()) << serial.error().str();
  EXPECT_EQ(*serial, 0x100001000ull);
  auto dma1 = (*t)->find("/soc/dma@2000")->translated_address(1);
  ASSERT_TRUE(dma1.ok());
  EXPECT_EQ(*dma1, 0x100003000ull);
  // Through an empty (identity) ranges, then /soc's.
  auto leaf = (*t)->find("/soc/bridge@8000000/leaf@8001000")->translated_address();
  ASSERT_TRUE(leaf.ok()) << leaf.error().str();
  EXPECT_EQ(*leaf, 0x108001000ull);
  // Directly under the root: no translation.
  auto mem = (*t)->find("/memory@80000000")->translated_address();
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(*mem, 0x80000000ull);
}

TEST(OfAddress, TranslationErrors) {
  auto t = Tree::load_file(test::data_path("basic.dts"));
  ASSERT_TRUE(t.ok());
  auto iso = (*t)->find("/soc/isolated@9000000/child@7")->translated_address();
  ASSERT_FALSE(iso.ok());
  expect_error_names(iso.error().message, "/soc/isolated@9000000/child@7");
  expect_error_names(iso.error().message, "bus /soc/isolated@9000000 has no ranges");
  auto idx = (*t)->find("/soc/serial@1000")->translated_address(1);
  ASSERT_FALSE(idx.ok());
  expect_error_names(idx.error().message, "/soc/serial@1000: reg");
  auto noreg = (*t)->find("/soc")->translated_address();
  ASSERT_FALSE(noreg.ok());
  expect_error_names(noreg.error().message, "/soc");

  auto out = test::dts(R"(/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>;
  bus { #address-cells = <1>; #size-cells = <1>; ranges = <0x0 0x1000 0x100>;
    dev@200 { reg = <0x200 0x10>; };
    dev@ff { reg = <0xff 0x1>; };
  };
  bad { #address-cells = <1>; #size-cells = <1>; ranges = <0x0 0x1000>;
    dev@0 { reg = <0x0 0x10>; };
  };
};)");
  ASSERT_TRUE(out);
  auto inside = out->find("/bus/dev@ff")->translated_address();
  ASSERT_TRUE(inside.ok());
  EXPECT_EQ(*inside, 0x10ffu);
  auto outside = out->find("/bus/dev@200")->translated_address();
  ASSERT_FALSE(outside.ok());
  expect_error_names(outside.error().message, "snippet.dts: /bus/dev@200");
  expect_error_names(outside.error().message, "outside every ranges entry of /bus");
  auto short_ranges = out->find("/bad/dev@0")->translated_address();
  ASSERT_FALSE(short_ranges.ok());
  expect_error_names(short_ranges.error().message, "snippet.dts: /bad: ranges");
}

// A ranges window reaching past 2^64 must not wrap its children round to
// address 0 (where they would look like RAM or another device).
TEST(OfAddress, RangesWindowPast2To64IsRefused) {
  auto t = test::dts(R"(/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
  bus { #address-cells = <1>; #size-cells = <1>;
    ranges = <0x0 0xffffffff 0xfffff000 0x2000>;
    dma@1000 { reg = <0x1000 0x100>; };
    dma@0 { reg = <0x0 0x100>; };
  };
  top { #address-cells = <1>; #size-cells = <1>;
    ranges = <0x0 0xffffffff 0xfffff000 0x1000>;
    dev@0 { reg = <0x0 0x1000>; };
  };
};)");
  ASSERT_TRUE(t);
  for (const char* path : {"/bus/dma@1000", "/bus/dma@0"}) {
    auto a = t->find(path)->translated_address();
    ASSERT_FALSE(a.ok()) << path << " translated to " << (a.ok() ? *a : 0);
    expect_error_names(a.error().message, std::string("snippet.dts: ") + path);
    expect_error_names(a.error().message, "ranges entry of /bus");
    expect_error_names(a.error().message, "wraps past 2^64");
  }
  // A window that ends exactly at 2^64 - 1 does not wrap.
  auto top = t->find("/top/dev@0")->translated_address();
  ASSERT_TRUE(top.ok()) << top.error().str();
  EXPECT_EQ(*top, 0xfffffffffffff000ull);
}

TEST(OfAddress, RegWrongLength) {
  auto t = test::dts(R"(/dts-v1/;
/ { #address-cells = <2>; #size-cells = <1>;
  dev@0 { reg = <0x0 0x1000 0x10 0x0>; };
};)");
  ASSERT_TRUE(t);
  auto r = t->find("/dev@0")->reg();
  ASSERT_FALSE(r.ok());
  expect_error_names(r.error().message, "snippet.dts: /dev@0: reg");
  expect_error_names(r.error().message, "not a multiple of the 12-byte entry");
}

TEST(OfAddress, RegNotCells) {
  auto t = test::dts(R"(/dts-v1/;
/ { #address-cells = <1>; #size-cells = <0>;
  dev@0 { reg = [00 00 01]; };
};)");
  ASSERT_TRUE(t);
  auto r = t->find("/dev@0")->reg();
  ASSERT_FALSE(r.ok());
  expect_error_names(r.error().message, "snippet.dts: /dev@0: reg");
}

TEST(OfAddress, TooManyCells) {
  auto t = test::dts(R"(/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>;
  pci { #address-cells = <3>; #size-cells = <2>;
    ep@0 { reg = <0x0 0x0 0x0 0x0 0x0>; };
  };
  zero { #address-cells = <0>; #size-cells = <0>;
    x { reg = <1>; };
  };
  badcells { #address-cells = <1 2>;
    y { reg = <1 2>; };
  };
};)");
  ASSERT_TRUE(t);
  auto r = t->find("/pci/ep@0")->reg();
  ASSERT_FALSE(r.ok());
  expect_error_names(r.error().message, "snippet.dts: /pci/ep@0: reg");
  expect_error_names(r.error().message, "#address-cells 3");
  auto z = t->find("/zero/x")->reg();
  ASSERT_FALSE(z.ok());
  expect_error_names(z.error().message, "/zero/x: reg");
  auto b = t->find("/badcells/y")->reg();
  ASSERT_FALSE(b.ok());
  expect_error_names(b.error().message, "/badcells: #address-cells");
}

TEST(OfAddress, DefaultCellsUnderRootWithout) {
  // Root without #address-cells/#size-cells: 2 and 1.
  auto t = test::dts("/dts-v1/;\n/ { dev@0 { reg = <0x1 0x2 0x3>, <0x0 0x4 0x5>; }; };");
  ASSERT_TRUE(t);
  auto r = t->find("/dev@0")->reg();
  ASSERT_TRUE(r.ok()) << r.error().str();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].address, 0x100000002ull);
  EXPECT_EQ((*r)[0].size, 3u);
  EXPECT_EQ((*r)[1].address, 4u);
  EXPECT_EQ((*r)[1].size, 5u);
}

}  // namespace
}  // namespace modiommu::of
