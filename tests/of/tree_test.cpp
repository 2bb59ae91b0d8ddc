// Tree structure, lookups, properties, phandles, and dts/dtb equivalence.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "of/dtc.h"
#include "of/tree.h"
#include "test_util.h"

namespace modiommu::of {
namespace {

using test::data_path;

std::unique_ptr<Tree> load_basic() {
  auto t = Tree::load_file(data_path("basic.dts"));
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(OfTree, PathsAndFind) {
  auto t = load_basic();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->root()->name(), "/");
  EXPECT_EQ(t->root()->path(), "/");
  EXPECT_EQ(t->root()->parent(), nullptr);
  Node* leaf = t->find("/soc/bridge@8000000/leaf@8001000");
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(leaf->name(), "leaf@8001000");
  EXPECT_EQ(leaf->path(), "/soc/bridge@8000000/leaf@8001000");
  EXPECT_EQ(leaf->parent()->path(), "/soc/bridge@8000000");
  EXPECT_EQ(&leaf->tree(), t.get());
  EXPECT_EQ(t->find("/"), t->root());
  // Unit address may be left out, as in Linux.
  EXPECT_EQ(t->find("/soc/bridge/leaf"), leaf);
  EXPECT_EQ(t->find("/soc/nothere"), nullptr);
  EXPECT_EQ(t->find("/soc/serial@1001"), nullptr);
  EXPECT_EQ(t->find(""), nullptr);
  // Aliases (DT spec 3.3), including a label reference dtc turned into a path.
  EXPECT_EQ(t->find("serial0"), t->find("/soc/serial@1000"));
  EXPECT_EQ(t->find("dma"), t->find("/soc/dma@2000"));
  EXPECT_EQ(t->find("nosuchalias"), nullptr);
}

TEST(OfTree, NodesPreOrderAndCompatible) {
  auto t = load_basic();
  ASSERT_TRUE(t);
  auto all = t->nodes();
  // basic.dts declares 12 nodes (root included).
  ASSERT_EQ(all.size(), 12u);
  EXPECT_EQ(all[0], t->root());
  EXPECT_EQ(all[1]->path(), "/aliases");
  EXPECT_EQ(all[2]->path(), "/soc");
  EXPECT_EQ(all[3]->path(), "/soc/serial@1000");
  // Every parent comes before its children.
  for (size_t i = 1; i < all.size(); ++i) {
    auto pos = std::find(all.begin(), all.end(), all[i]->parent());
    EXPECT_LT(pos - all.begin(), static_cast<ptrdiff_t>(i)) << all[i]->path();
  }
  auto buses = t->find_compatible("simple-bus");
  ASSERT_EQ(buses.size(), 2u);
  EXPECT_EQ(buses[0]->path(), "/soc");
  EXPECT_EQ(buses[1]->path(), "/soc/bridge@8000000");
  Node* serial = t->find("/soc/serial@1000");
  EXPECT_EQ(serial->compatible(), (std::vector<std::string>{"arm,pl011", "arm,primecell"}));
  EXPECT_TRUE(serial->is_compatible("arm,primecell"));
  EXPECT_FALSE(serial->is_compatible("arm,pl01"));
  EXPECT_TRUE(t->root()->is_compatible("modiommu,board"));
}

TEST(OfTree, Status) {
  auto t = load_basic();
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->find("/soc/serial@1000")->available());  // "okay"
  EXPECT_TRUE(t->find("/soc/dma@2000")->available());     // "ok"
  EXPECT_FALSE(t->find("/soc/off@4000")->available());    // "disabled"
  EXPECT_TRUE(t->find("/soc/bridge@8000000")->available());  // absent
}

TEST(OfTree, Properties) {
  auto t = load_basic();
  ASSERT_TRUE(t);
  const Node* legacy = t->find("/legacy");
  ASSERT_NE(legacy, nullptr);
  const Property* empty = legacy->prop("empty-prop");
  ASSERT_NE(empty, nullptr);
  EXPECT_TRUE(empty->value.empty());
  EXPECT_EQ(empty->str(), "");
  EXPECT_TRUE(empty->strings().empty());
  const Property* bytes = legacy->prop("bytes");
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(bytes->value, (std::vector<uint8_t>{1, 2, 3}));
  auto bad = bytes->cells();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("bytes"), std::string::npos);
  EXPECT_EQ(bytes->cell(0), std::nullopt);
  EXPECT_EQ(legacy->u32("bytes"), std::nullopt);
  EXPECT_FALSE(legacy->has("nope"));

  const Node* soc = t->find("/soc");
  const Property* ranges = soc->prop("ranges");
  ASSERT_NE(ranges, nullptr);
  EXPECT_EQ(ranges->cell_count(), 4u);
  auto cells = ranges->cells();
  ASSERT_TRUE(cells.ok());
  EXPECT_EQ(*cells, (std::vector<uint32_t>{0x0, 0x1, 0x0, 0x10000000}));
  EXPECT_EQ(ranges->cell(3), 0x10000000u);
  EXPECT_EQ(ranges->cell(4), std::nullopt);
  EXPECT_EQ(soc->u32("#address-cells"), 1u);
  EXPECT_EQ(soc->address_cells(), 1u);
  EXPECT_EQ(t->root()->address_cells(), 2u);
  EXPECT_EQ(t->root()->size_cells(), 2u);
  // Defaults when absent (DT spec 2.3.5).
  EXPECT_EQ(legacy->address_cells(), 2u);
  EXPECT_EQ(legacy->size_cells(), 1u);
  EXPECT_EQ(t->root()->prop("model")->str(), "basic");
}

TEST(OfTree, Phandles) {
  auto t = load_basic();
  ASSERT_TRUE(t);
  Node* dma = t->find("/soc/dma@2000");
  Node* legacy = t->find("/legacy");
  EXPECT_EQ(dma->phandle(), 0x42u);
  EXPECT_EQ(legacy->phandle(), 0x77u);  // linux,phandle
  EXPECT_EQ(t->by_phandle(0x42), dma);
  EXPECT_EQ(t->by_phandle(0x77), legacy);
  EXPECT_EQ(t->by_phandle(0), nullptr);
  EXPECT_EQ(t->by_phandle(0x43), nullptr);
  EXPECT_EQ(t->find("/soc")->phandle(), 0u);
}

TEST(OfTree, ManyPhandlesBinarySearch) {
  // Labels get phandles from dtc in node order; look every one up.
  std::string src = "/dts-v1/;\n/ {\n";
  for (int i = 0; i < 300; ++i) src += "  n" + std::to_string(i) + ": node" + std::to_string(i) + " { };\n";
  src += "  user { refs = <";
  for (int i = 0; i < 300; ++i) src += " &n" + std::to_string(i);
  src += ">; };\n};\n";
  auto t = test::dts(src);
  ASSERT_TRUE(t);
  auto refs = t->find("/user")->prop("refs")->cells();
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 300u);
  for (int i = 0; i < 300; ++i) {
    Node* n = t->by_phandle((*refs)[i]);
    ASSERT_NE(n, nullptr) << i;
    EXPECT_EQ(n->name(), "node" + std::to_string(i));
  }
}

TEST(OfTree, DuplicatePhandleNamesBothNodes) {
  auto blob = test::BlobWriter()
                  .begin("")
                  .begin("a").prop("phandle", {5}).end()
                  .begin("b").begin("c").prop("linux,phandle", {5}).end().end()
                  .end()
                  .finish();
  auto t = Tree::from_blob(blob, "dup.dtb");
  ASSERT_FALSE(t.ok());
  const std::string& m = t.error().message;
  EXPECT_NE(m.find("dup.dtb"), std::string::npos) << m;
  EXPECT_NE(m.find("duplicate phandle 0x5"), std::string::npos) << m;
  EXPECT_NE(m.find("/a"), std::string::npos) << m;
  EXPECT_NE(m.find("/b/c"), std::string::npos) << m;
}

TEST(OfTree, BadPhandleValues) {
  auto mismatch = test::BlobWriter()
                      .begin("")
                      .begin("a").prop("phandle", {5}).prop("linux,phandle", {6}).end()
                      .end()
                      .finish();
  auto t = Tree::from_blob(mismatch, "mm.dtb");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("mm.dtb: /a"), std::string::npos) << t.error().message;

  for (uint32_t v : {0u, 0xffffffffu}) {
    auto blob = test::BlobWriter().begin("").begin("a").prop("phandle", {v}).end().end().finish();
    auto r = Tree::from_blob(blob, "bad.dtb");
    ASSERT_FALSE(r.ok()) << v;
    EXPECT_NE(r.error().message.find("bad.dtb: /a: phandle"), std::string::npos) << r.error().message;
  }
  auto wide = test::BlobWriter().begin("").begin("a").prop("phandle", {1, 2}).end().end().finish();
  auto w = Tree::from_blob(wide, "wide.dtb");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().message.find("wide.dtb: /a: phandle"), std::string::npos) << w.error().message;
}

TEST(OfTree, DtsSyntaxErrorNamesFileAndLine) {
  std::string m = test::load_error("/dts-v1/;\n/ {\n  a = <1>\n  b;\n};\n", "board.dts");
  EXPECT_NE(m.find("board.dts:4"), std::string::npos) << m;
  EXPECT_NE(m.find("dtc failed"), std::string::npos) << m;
  EXPECT_EQ(m.find("modiommu-dtc-"), std::string::npos) << "temp path leaked: " << m;
}

TEST(OfTree, LoadFileErrors) {
  auto missing = Tree::load_file("/nonexistent/x.dtb");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/x.dtb"), std::string::npos);

  // A .dts with an error is reported under its real path by dtc.
  std::string path = ::testing::TempDir() + "/of_bad_syntax.dts";
  {
    std::ofstream(path) << "/dts-v1/;\n/ {\n  oops\n};\n";
  }
  auto bad = Tree::load_file(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(path + ":"), std::string::npos) << bad.error().message;
  std::filesystem::remove(path);
}

// Structural equality: same names, same properties in the same order, same
// children, same phandles.
void expect_same(const Node& a, const Node& b) {
  ASSERT_EQ(a.path(), b.path());
  EXPECT_EQ(a.phandle(), b.phandle()) << a.path();
  ASSERT_EQ(a.properties().size(), b.properties().size()) << a.path();
  for (size_t i = 0; i < a.properties().size(); ++i) {
    EXPECT_EQ(a.properties()[i].name, b.properties()[i].name) << a.path();
    EXPECT_EQ(a.properties()[i].value, b.properties()[i].value) << a.path() << " " << a.properties()[i].name;
  }
  ASSERT_EQ(a.children().size(), b.children().size()) << a.path();
  for (size_t i = 0; i < a.children().size(); ++i) expect_same(*a.children()[i], *b.children()[i]);
}

// The tree is immutable after load: many readers need no lock, and loads
// (each with its own dtc temp directory) may run side by side.
TEST(OfTree, ConcurrentLoadsAndReads) {
  auto shared = Tree::load_file(test::data_path("iommu.dts"));
  ASSERT_TRUE(shared.ok());
  const Tree& t = **shared;
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        auto mine = Tree::from_dts("/dts-v1/;\n/ { n" + std::to_string(i) + " { x = <" + std::to_string(round) + ">; }; };",
                                   "t" + std::to_string(i) + ".dts");
        bool good = mine.ok() && (*mine)->find("/n" + std::to_string(i))->u32("x") == static_cast<uint32_t>(round);
        auto io = iommus(*t.find("/multi@10001000"));
        good = good && io.ok() && io->size() == 3 && t.by_phandle((*io)[0].target->phandle()) == (*io)[0].target;
        ok[i] += good;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ok[i], 5) << "thread " << i;
}

class DtsVsDtb : public ::testing::TestWithParam<std::string> {};

TEST_P(DtsVsDtb, SameTreeEitherWay) {
  std::string dts_path = GetParam();
  std::string dtb_path = ::testing::TempDir() + "/of_equiv_" + std::filesystem::path(dts_path).stem().string() + ".dtb";
  // Compile with dtc directly, independently of Tree::from_dts.
  auto r = run_dtc({"-I", "dts", "-O", "dtb", "-q", "-o", dtb_path, dts_path});
  ASSERT_TRUE(r.ok()) << r.error().str();
  ASSERT_EQ(r->exit_code, 0) << r->err;

  auto from_source = Tree::load_file(dts_path);
  ASSERT_TRUE(from_source.ok()) << from_source.error().str();
  auto from_binary = Tree::load_file(dtb_path);  // sniffed by magic
  ASSERT_TRUE(from_binary.ok()) << from_binary.error().str();
  auto bytes = test::read_bytes(dtb_path);
  auto from_span = Tree::from_blob(bytes, dtb_path);
  ASSERT_TRUE(from_span.ok()) << from_span.error().str();
  std::ifstream in(dts_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto from_text = Tree::from_dts(text, dts_path);
  ASSERT_TRUE(from_text.ok()) << from_text.error().str();

  EXPECT_EQ((*from_source)->source(), dts_path);
  EXPECT_EQ((*from_binary)->source(), dtb_path);
  EXPECT_GT((*from_source)->nodes().size(), 1u);
  expect_same(*(*from_source)->root(), *(*from_binary)->root());
  expect_same(*(*from_source)->root(), *(*from_span)->root());
  expect_same(*(*from_source)->root(), *(*from_text)->root());
  std::filesystem::remove(dtb_path);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DtsVsDtb,
                         ::testing::Values(test::data_path("basic.dts"), test::data_path("iommu.dts"),
                                           modiommu::test::bundled_corpus_dir() + "/qemu-virt/virt-smmuv3.dts",
                                           modiommu::test::bundled_corpus_dir() + "/qemu-virt/virt-virtio-iommu.dts",
                                           modiommu::test::bundled_corpus_dir() + "/qemu-virt/virt-noiommu.dts"));

}  // namespace
}  // namespace modiommu::of
