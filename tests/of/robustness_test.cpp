// Hostile blobs: truncated, garbled, absurd headers, deep nesting. Every
// one must give an error naming the file (or load cleanly) — never crash.
#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "of/tree.h"
#include "test_util.h"

namespace modiommu::of {
namespace {

// Runs every accessor and binding helper on every node; returns how many
// calls reported an error (the result itself must never crash).
size_t exercise(const Tree& t) {
  size_t errors = 0;
  for (Node* n : t.nodes()) {
    (void)n->path();
    (void)n->available();
    (void)n->compatible();
    for (const auto& p : n->properties()) {
      (void)p.strings();
      errors += !p.cells().ok();
    }
    auto reg = n->reg();
    errors += !reg.ok();
    if (reg.ok())
      for (size_t i = 0; i < reg->size(); ++i) errors += !n->translated_address(i).ok();
    errors += !iommus(*n).ok();
    errors += !iommu_map(*n).ok();
    errors += !map_id(*n, 0x10).ok();
    errors += !mmu_masters(*n).ok();
    errors += !parse_phandle_list(*n, "clocks", "#clock-cells").ok();
    if (n->phandle()) {
      EXPECT_EQ(t.by_phandle(n->phandle()), n);
    }
  }
  return errors;
}

// The smallest corpus dtb that has iommus, so the mutations hit them.
std::string small_dtb_with_iommus() {
  std::string best;
  uintmax_t best_size = UINTMAX_MAX;
  for (const auto& f : test::corpus_dtbs()) {
    auto size = std::filesystem::file_size(f);
    if (size >= best_size) continue;
    auto t = Tree::load_file(f);
    if (!t.ok()) continue;
    bool has = false;
    for (Node* n : (*t)->nodes()) has = has || n->has("iommus");
    if (has) {
      best = f;
      best_size = size;
    }
  }
  return best;
}

TEST(OfRobustness, TruncatedAtManyOffsets) {
  std::string f = small_dtb_with_iommus();
  ASSERT_FALSE(f.empty());
  auto blob = test::read_bytes(f);
  ASSERT_GT(blob.size(), 1000u);
  auto full = Tree::from_blob(blob, "whole.dtb");
  ASSERT_TRUE(full.ok()) << full.error().str();
  EXPECT_EQ(exercise(**full) > 0, true) << "a real tree has nodes without parsable reg/ranges";
  // Every prefix shorter than totalsize is truncated: all of the header's
  // bytes, then a stride through the rest.
  size_t tested = 0;
  for (size_t len = 0; len < blob.size(); len += (len < 256 ? 1 : 37)) {
    auto t = Tree::from_blob(std::span(blob.data(), len), "cut.dtb");
    ASSERT_FALSE(t.ok()) << "prefix " << len << " loaded";
    EXPECT_NE(t.error().message.find("cut.dtb"), std::string::npos) << t.error().message;
    ++tested;
  }
  EXPECT_GT(tested, 300u);
}

TEST(OfRobustness, FlippedBytesNeverCrash) {
  std::string f = small_dtb_with_iommus();
  ASSERT_FALSE(f.empty());
  auto orig = test::read_bytes(f);
  std::mt19937 rng(12345);  // fixed seed: reproducible
  size_t failed = 0, loaded = 0;
  for (int round = 0; round < 3000; ++round) {
    auto blob = orig;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      // Bias half the flips into the header and structure start, where
      // they matter most.
      size_t pos = (rng() & 1) ? rng() % 256 : rng() % blob.size();
      blob[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
    }
    auto t = Tree::from_blob(blob, "flip.dtb");
    if (t.ok()) {
      ++loaded;
      exercise(**t);
    } else {
      ++failed;
      EXPECT_NE(t.error().message.find("flip.dtb"), std::string::npos) << t.error().message;
    }
  }
  // Both outcomes occur: header damage is caught, property-value damage loads.
  EXPECT_GT(failed, 100u);
  EXPECT_GT(loaded, 100u);
}

TEST(OfRobustness, BadHeaders) {
  auto good = test::BlobWriter().begin("").begin("a").prop("x", {1}).end().end().finish();
  ASSERT_TRUE(Tree::from_blob(good, "good.dtb").ok());
  auto expect_bad = [](std::vector<uint8_t> blob, const char* what) {
    auto t = Tree::from_blob(blob, "hdr.dtb");
    ASSERT_FALSE(t.ok()) << what;
    EXPECT_NE(t.error().message.find("hdr.dtb: bad device tree blob"), std::string::npos)
        << what << ": " << t.error().message;
  };
  auto set32 = [](std::vector<uint8_t>& b, size_t off, uint32_t v) {
    b[off] = v >> 24, b[off + 1] = v >> 16, b[off + 2] = v >> 8, b[off + 3] = v;
  };
  expect_bad({}, "empty");
  expect_bad(std::vector<uint8_t>(good.begin(), good.begin() + 39), "shorter than header");
  auto b = good;
  b[0] = 0xde;
  expect_bad(b, "magic");
  b = good;
  set32(b, 4, 0xffffffff);  // totalsize
  expect_bad(b, "absurd totalsize");
  b = good;
  set32(b, 4, 0x7fffffff);  // totalsize over the 64 MiB cap
  {
    auto t = Tree::from_blob(b, "huge.dtb");
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().message.find("huge.dtb: bad device tree blob: totalsize 2147483647 exceeds"), std::string::npos)
        << t.error().message;
  }
  b = good;
  set32(b, 8, 0x7ffffff0);  // off_dt_struct
  expect_bad(b, "struct offset outside");
  b = good;
  set32(b, 12, static_cast<uint32_t>(good.size()) + 100);  // off_dt_strings
  expect_bad(b, "strings offset outside");
  b = good;
  set32(b, 32, 0xffffff00);  // size_dt_strings
  expect_bad(b, "absurd strings size");
  b = good;
  set32(b, 36, 0xffffff00);  // size_dt_struct
  expect_bad(b, "absurd struct size");
  b = good;
  set32(b, 20, 1);  // version 1
  expect_bad(b, "version");
}

TEST(OfRobustness, BytesPastTotalsizeIgnored) {
  auto good = test::BlobWriter().begin("").begin("a").prop("x", {9}).end().end().finish();
  auto padded = good;
  padded.resize(good.size() + 4096, 0xee);
  auto t = Tree::from_blob(padded, "padded.dtb");
  ASSERT_TRUE(t.ok()) << t.error().str();
  EXPECT_EQ((*t)->find("/a")->u32("x"), 9u);
}

TEST(OfRobustness, BadStringTableOffset) {
  auto blob = test::BlobWriter().begin("").begin("a").prop("x", {1}).end().end().finish();
  // Point the first property's name offset past the strings block.
  uint32_t off_struct = fdt32_to_cpu(reinterpret_cast<const fdt_header*>(blob.data())->off_dt_struct);
  bool patched = false;
  for (size_t i = off_struct; i + 12 <= blob.size(); i += 4) {
    if (fdt32_to_cpu(*reinterpret_cast<const uint32_t*>(&blob[i])) == FDT_PROP) {
      uint32_t bad = cpu_to_fdt32(0x10000);
      std::memcpy(&blob[i + 8], &bad, 4);
      patched = true;
      break;
    }
  }
  ASSERT_TRUE(patched);
  auto t = Tree::from_blob(blob, "str.dtb");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("str.dtb"), std::string::npos);
}

TEST(OfRobustness, DeepNestingRefused) {
  test::BlobWriter w;
  w.begin("");
  for (int i = 0; i < 100; ++i) w.begin("n");
  for (int i = 0; i < 100; ++i) w.end();
  w.end();
  auto t = Tree::from_blob(w.finish(), "deep.dtb");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("deep.dtb"), std::string::npos);
  EXPECT_NE(t.error().message.find("deeper than 64"), std::string::npos) << t.error().message;

  test::BlobWriter ok;
  ok.begin("");
  for (int i = 0; i < 60; ++i) ok.begin("n");
  for (int i = 0; i < 60; ++i) ok.end();
  ok.end();
  auto fine = Tree::from_blob(ok.finish(), "ok.dtb");
  ASSERT_TRUE(fine.ok()) << fine.error().str();
  EXPECT_EQ((*fine)->nodes().size(), 61u);
}

TEST(OfRobustness, MalformedNodeName) {
  auto blob = test::BlobWriter().begin("").begin("a/b").end().end().finish();
  auto t = Tree::from_blob(blob, "name.dtb");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("name.dtb"), std::string::npos);
}

TEST(OfRobustness, DuplicateSiblingNames) {
  auto blob = test::BlobWriter().begin("").begin("soc").begin("x@1").end().begin("x@1").end().end().end().finish();
  auto t = Tree::from_blob(blob, "dupname.dtb");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("dupname.dtb"), std::string::npos);
  EXPECT_NE(t.error().message.find("duplicate node /soc/x@1"), std::string::npos) << t.error().message;
}

TEST(OfRobustness, UnalignedInput) {
  auto good = test::BlobWriter().begin("").begin("a").prop("x", {7}).end().end().finish();
  std::vector<uint8_t> shifted(good.size() + 1);
  std::copy(good.begin(), good.end(), shifted.begin() + 1);
  auto t = Tree::from_blob(std::span(shifted).subspan(1), "odd.dtb");
  ASSERT_TRUE(t.ok()) << t.error().str();
  EXPECT_EQ((*t)->find("/a")->u32("x"), 7u);
}

// Inputs the fuzzer found (or that once broke a check): each must load or
// fail cleanly.
TEST(OfRobustness, FuzzRegressions) {
  std::string dir = test::data_path("fuzz-regressions");
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    auto blob = test::read_bytes(e.path().string());
    auto t = Tree::from_blob(blob, e.path().filename().string());
    if (t.ok())
      exercise(**t);
    else
      EXPECT_NE(t.error().message.find(e.path().filename().string()), std::string::npos);
    ++n;
  }
  EXPECT_GT(n, 0u);
}

}  // namespace
}  // namespace modiommu::of
