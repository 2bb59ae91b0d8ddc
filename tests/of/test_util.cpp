#include "test_util.h"

#include <gtest/gtest.h>
#include <libfdt.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "corpus_dir.h"

namespace modiommu::of::test {

std::string corpus_dir() { return modiommu::test::corpus_dir(); }

std::vector<std::string> corpus_dtbs() {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(corpus_dir(), ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file() && it->path().extension() == ".dtb") out.push_back(it->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string data_path(std::string_view name) { return std::string(OF_TEST_DATA) + "/" + std::string(name); }

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::unique_ptr<Tree> dts(std::string_view text, std::string name) {
  auto t = Tree::from_dts(text, std::move(name));
  if (!t.ok()) {
    ADD_FAILURE() << "dts did not load: " << t.error().str();
    return nullptr;
  }
  return std::move(t).value();
}

std::string load_error(std::string_view text, std::string name) {
  auto t = Tree::from_dts(text, std::move(name));
  if (t.ok()) {
    ADD_FAILURE() << "expected a load error";
    return "";
  }
  return t.error().message;
}

BlobWriter::BlobWriter() : buf_(64 * 1024) {
  fdt_create(buf_.data(), static_cast<int>(buf_.size()));
  fdt_finish_reservemap(buf_.data());
}
BlobWriter& BlobWriter::begin(const char* name) {
  EXPECT_EQ(fdt_begin_node(buf_.data(), name), 0);
  return *this;
}
BlobWriter& BlobWriter::prop(const char* name, std::vector<uint32_t> cells) {
  for (auto& c : cells) c = cpu_to_fdt32(c);
  EXPECT_EQ(fdt_property(buf_.data(), name, cells.data(), static_cast<int>(cells.size() * 4)), 0);
  return *this;
}
BlobWriter& BlobWriter::prop_str(const char* name, const std::string& s) {
  EXPECT_EQ(fdt_property_string(buf_.data(), name, s.c_str()), 0);
  return *this;
}
BlobWriter& BlobWriter::end() {
  EXPECT_EQ(fdt_end_node(buf_.data()), 0);
  return *this;
}
std::vector<uint8_t> BlobWriter::finish() {
  EXPECT_EQ(fdt_finish(buf_.data()), 0);
  std::vector<uint8_t> out(buf_.begin(), buf_.begin() + fdt_totalsize(buf_.data()));
  return out;
}

}  // namespace modiommu::of::test
