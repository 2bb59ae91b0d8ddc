#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/result.h"

namespace modtest {

inline std::string mods_dir() { return MODTEST_MODS_DIR; }
inline std::string cycle_dir() { return MODTEST_CYCLE_DIR; }
inline std::string mod(const std::string& name) { return mods_dir() + "/" + name + ".so"; }

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A fresh temporary directory, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "modtest-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string copy_in(const std::string& src, const std::string& as) const {
    std::string dst = path_ + "/" + as;
    std::filesystem::copy_file(src, dst, std::filesystem::copy_options::overwrite_existing);
    return dst;
  }

 private:
  std::string path_;
};

}  // namespace modtest

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    auto&& modtest_r_ = (expr);                                          \
    ASSERT_TRUE(modtest_r_.ok()) << modtest_r_.error().str();            \
  } while (0)
#define EXPECT_OK(expr)                                                  \
  do {                                                                   \
    auto&& modtest_r_ = (expr);                                          \
    EXPECT_TRUE(modtest_r_.ok()) << modtest_r_.error().str();            \
  } while (0)
