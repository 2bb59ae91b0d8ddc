// Every real device tree in the shared corpus loads, and its IOMMU
// bindings parse. Counts are checked against dtc's own decompilation.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "of/dtc.h"
#include "of/tree.h"
#include "test_paths.h"
#include "test_util.h"

namespace modiommu::of {
namespace {

TEST(OfCorpus, CorpusPresent) {
  // A missing corpus is a failure, not a skip.
  ASSERT_TRUE(std::filesystem::is_directory(test::corpus_dir())) << test::corpus_dir();
  // The bundled trees, or the ~220 Linux 6.1 arm64 dtbs of the larger corpus.
  EXPECT_GE(test::corpus_dtbs().size(), modiommu::test::large_corpus() ? 200u : modiommu::test::kBundledTrees - 3)
      << test::corpus_dir();
}

// What dtc's decompiled text says about a blob: one node per "name {" line,
// one property per "...;" line, and the raw cells of every iommus.
struct TextCounts {
  size_t nodes = 0;
  size_t props = 0;
  size_t phandles = 0;
  size_t iommus_props = 0;
  size_t iommus_cells = 0;
  size_t iommu_maps = 0;            // iommu-map properties
  size_t iommu_maps_zero_len = 0;   // ... with some entry's length cell 0
};

std::vector<uint64_t> hex_cells(const std::string& list) {
  std::vector<uint64_t> out;
  std::istringstream in(list);
  std::string tok;
  while (in >> tok) {
    while (!tok.empty() && (tok.back() == '>' || tok.back() == ';' || tok.back() == ',')) tok.pop_back();
    if (tok.rfind("<", 0) == 0) tok.erase(0, 1);
    if (tok.rfind("0x", 0) == 0) out.push_back(std::stoull(tok, nullptr, 16));
  }
  return out;
}

TextCounts count_dts_text(const std::string& text) {
  TextCounts c;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    std::string s = line.substr(b);
    if (s.rfind("/dts-v1/", 0) == 0 || s.rfind("/memreserve/", 0) == 0) continue;
    if (s.size() >= 1 && s.back() == '{') {
      ++c.nodes;
    } else if (s == "};") {
      continue;
    } else if (s.back() == ';') {
      ++c.props;
      if (s.rfind("phandle = ", 0) == 0 || s.rfind("linux,phandle = ", 0) == 0) ++c.phandles;
      if (s.rfind("iommus = <", 0) == 0) {
        ++c.iommus_props;
        c.iommus_cells += hex_cells(s.substr(std::string("iommus = ").size())).size();
      }
      if (s.rfind("iommu-map = <", 0) == 0) {
        ++c.iommu_maps;
        auto cells = hex_cells(s.substr(std::string("iommu-map = ").size()));
        bool zero = false;
        for (size_t i = 3; i < cells.size(); i += 4) zero = zero || cells[i] == 0;
        c.iommu_maps_zero_len += zero;
      }
    }
  }
  return c;
}

TEST(OfCorpus, EveryDtbLoadsAndItsIommusParse) {
  auto files = test::corpus_dtbs();
  ASSERT_FALSE(files.empty()) << "no .dtb under " << test::corpus_dir();
  size_t with_iommus = 0, with_map = 0, with_masters = 0, zero_length_maps = 0, total_zero_len_in_text = 0;
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    auto t = Tree::load_file(f);
    ASSERT_TRUE(t.ok()) << t.error().str();
    EXPECT_EQ((*t)->source(), f);
    size_t nodes = 0, props = 0, phandles = 0, iommus_props = 0, iommus_cells = 0, maps = 0, bad_maps = 0,
           zero_maps = 0;
    for (Node* n : (*t)->nodes()) {
      ++nodes;
      props += n->properties().size();
      if (n->phandle()) {
        ++phandles;
        EXPECT_EQ((*t)->by_phandle(n->phandle()), n);
      }
      if (n->has("iommus")) {
        ++iommus_props;
        auto io = iommus(*n);
        ASSERT_TRUE(io.ok()) << io.error().str();
        EXPECT_FALSE(io->empty()) << n->path();
        for (const auto& e : *io) {
          ASSERT_NE(e.target, nullptr);
          EXPECT_EQ(e.target->u32("#iommu-cells"), e.args.size()) << n->path();
          iommus_cells += 1 + e.args.size();
        }
      }
      if (n->has("iommu-map")) {
        auto m = iommu_map(*n);
        ++maps;
        if (m.ok()) {
          EXPECT_FALSE(m->empty());
          ++with_map;
          // NXP's fsl-mc ships `iommu-map = <0 &smmu 0 0>` for the boot
          // loader to fill in: legal, and it never matches.
          bool zero = false;
          for (const auto& e : *m)
            if (e.length == 0) {
              EXPECT_TRUE(n->is_compatible("fsl,qoriq-mc")) << n->path();
              auto id = map_id(*n, e.rid_base);
              ASSERT_TRUE(id.ok()) << id.error().str();
              EXPECT_EQ(id->kind, MappedId::Kind::no_match) << n->path();
              zero = true;
            }
          if (zero) {
            ++zero_maps;
            ++zero_length_maps;
          }
        } else {
          ADD_FAILURE() << m.error().str();
          ++bad_maps;
        }
      }
      if (n->has("mmu-masters")) {
        auto m = mmu_masters(*n);
        ASSERT_TRUE(m.ok()) << m.error().str();
        ++with_masters;
      }
    }
    if (iommus_props) ++with_iommus;

    // Independent count: dtc's decompilation of the same file.
    auto r = run_dtc({"-I", "dtb", "-O", "dts", "-q", f});
    ASSERT_TRUE(r.ok()) << r.error().str();
    ASSERT_EQ(r->exit_code, 0) << r->err;
    TextCounts c = count_dts_text(std::string(r->out.begin(), r->out.end()));
    EXPECT_GT(c.nodes, 10u) << "decompiled text not parsed";
    EXPECT_EQ(nodes, c.nodes);
    EXPECT_EQ(props, c.props);
    EXPECT_EQ(phandles, c.phandles);
    EXPECT_EQ(iommus_props, c.iommus_props);
    EXPECT_EQ(iommus_cells, c.iommus_cells);
    EXPECT_EQ(maps, c.iommu_maps);
    EXPECT_EQ(bad_maps, 0u);
    EXPECT_EQ(zero_maps, c.iommu_maps_zero_len);
    total_zero_len_in_text += c.iommu_maps_zero_len;
  }
  // The corpus README: most trees have DMA masters behind IOMMUs.
  EXPECT_GT(with_iommus, files.size() / 2);
  EXPECT_GT(with_map, 0u);
  // Some NXP trees carry the placeholder map; the per-file checks above
  // matched them one for one with dtc's text.
  EXPECT_GT(zero_length_maps, 0u);
  EXPECT_EQ(zero_length_maps, total_zero_len_in_text);
  RecordProperty("trees_with_iommus", static_cast<int>(with_iommus));
  RecordProperty("iommu_maps", static_cast<int>(with_map));
  RecordProperty("mmu_masters", static_cast<int>(with_masters));
}

// The project's own platforms/*.dts: they load through dtc, and every
// binding in them parses and every reg translates.
TEST(OfCorpus, ProjectPlatformsLoad) {
  std::filesystem::path dir = std::filesystem::path(::modiommu::test_paths::source_dir()) / "platforms";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".dts") continue;
    SCOPED_TRACE(e.path().string());
    ++files;
    auto t = Tree::load_file(e.path().string());
    ASSERT_TRUE(t.ok()) << t.error().str();
    for (Node* n : (*t)->nodes()) {
      auto io = iommus(*n);
      EXPECT_TRUE(io.ok()) << io.error().str();
      auto map = iommu_map(*n);
      EXPECT_TRUE(map.ok()) << map.error().str();
      auto mm = mmu_masters(*n);
      EXPECT_TRUE(mm.ok()) << mm.error().str();
    }
  }
  EXPECT_GT(files, 0u);
}

TEST(OfCorpus, QemuVirtSmmuv3CoversWholeRootComplex) {
  auto t = Tree::load_file(modiommu::test::bundled_corpus_dir() + "/qemu-virt/virt-smmuv3.dts");
  ASSERT_TRUE(t.ok()) << t.error().str();
  auto hosts = (*t)->find_compatible("pci-host-ecam-generic");
  ASSERT_EQ(hosts.size(), 1u);
  auto smmus = (*t)->find_compatible("arm,smmu-v3");
  ASSERT_EQ(smmus.size(), 1u);
  auto addr = smmus[0]->translated_address();
  ASSERT_TRUE(addr.ok()) << addr.error().str();
  EXPECT_EQ(*addr, 0x9050000u);
  for (uint32_t rid : {0x0u, 0x10u, 0x30u, 0x100u, 0xffffu}) {
    auto m = map_id(*hosts[0], rid);
    ASSERT_TRUE(m.ok()) << m.error().str();
    EXPECT_EQ(m->kind, MappedId::Kind::mapped);
    EXPECT_EQ(m->iommu, smmus[0]);
    EXPECT_EQ(m->id, rid);
  }
}

TEST(OfCorpus, QemuVirtVirtioIommuLeavesItselfOut) {
  auto t = Tree::load_file(modiommu::test::bundled_corpus_dir() + "/qemu-virt/virt-virtio-iommu.dts");
  ASSERT_TRUE(t.ok()) << t.error().str();
  Node* viommu = (*t)->find("/pcie@10000000/virtio_iommu@6,0");
  ASSERT_NE(viommu, nullptr);
  Node* host = (*t)->find("/pcie@10000000");
  // 00:06.0 is RID 0x30: outside every entry.
  auto self = map_id(*host, 0x30);
  ASSERT_TRUE(self.ok()) << self.error().str();
  EXPECT_EQ(self->kind, MappedId::Kind::no_match);
  for (uint32_t rid : {0x10u, 0x18u, 0x20u, 0x100u}) {
    auto m = map_id(*host, rid);
    ASSERT_TRUE(m.ok()) << m.error().str();
    EXPECT_EQ(m->kind, MappedId::Kind::mapped) << rid;
    EXPECT_EQ(m->iommu, viommu);
    EXPECT_EQ(m->id, rid);
  }
  auto none = Tree::load_file(modiommu::test::bundled_corpus_dir() + "/qemu-virt/virt-noiommu.dts");
  ASSERT_TRUE(none.ok());
  auto nomap = map_id(*(*none)->find("/pcie@10000000"), 0x10);
  ASSERT_TRUE(nomap.ok());
  EXPECT_EQ(nomap->kind, MappedId::Kind::no_map);
}

}  // namespace
}  // namespace modiommu::of
