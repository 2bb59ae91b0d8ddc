// Shared helpers for the of/ tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "corpus_dir.h"
#include "of/tree.h"

namespace modiommu::of::test {

// The shared device-tree corpus (tests/include/corpus_dir.h).
std::string corpus_dir();
// Every *.dtb under the corpus, sorted.
std::vector<std::string> corpus_dtbs();
std::string data_path(std::string_view name);
std::vector<uint8_t> read_bytes(const std::string& path);

// Compiles a .dts snippet; on failure records a test failure and returns
// nullptr.
std::unique_ptr<Tree> dts(std::string_view text, std::string name = "snippet.dts");
// The error message of a load that must fail ("" plus a failure if it
// loaded).
std::string load_error(std::string_view text, std::string name = "snippet.dts");

// Hand-assembled blobs (libfdt sequential-write API) for trees dtc refuses
// to produce, such as duplicate phandles.
class BlobWriter {
 public:
  BlobWriter();
  BlobWriter& begin(const char* name);
  BlobWriter& prop(const char* name, std::vector<uint32_t> cells);
  BlobWriter& prop_str(const char* name, const std::string& s);
  BlobWriter& end();
  std::vector<uint8_t> finish();

 private:
  std::vector<uint8_t> buf_;
};

}  // namespace modiommu::of::test
