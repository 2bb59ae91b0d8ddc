// Every device tree of the shared corpus loads and boots without error.
#include <filesystem>

#include "corpus_dir.h"
#include "test_util.h"

using namespace modiommu;
namespace fs = std::filesystem;

namespace {

fs::path corpus_dir() { return test::corpus_dir(); }

TEST(Corpus, EveryTreeBootsWithoutError) {
  const fs::path dir = corpus_dir();
  ASSERT_TRUE(fs::is_directory(dir)) << "corpus missing at " << dir;
  size_t trees = 0, devices = 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    const auto ext = e.path().extension();
    if (ext != ".dtb" && ext != ".dts") continue;
    Kernel k;
    Status s = k.boot(e.path().string());
    ASSERT_TRUE(s.ok()) << e.path() << ": " << s.error().str();
    k.boot_complete();
    for (auto& l : k.log().entries()) EXPECT_NE(l.level, LogLevel::err) << e.path() << ": " << l.format();
    // Nothing may be left deferred once module sources are final: every
    // firmware link to an IOMMU without a driver is decided.
    EXPECT_TRUE(k.core().deferred().empty()) << e.path();
    devices += k.core().devices().size();
    ++trees;
  }
  EXPECT_GE(trees, test::large_corpus() ? 220u : test::kBundledTrees);
  EXPECT_GT(devices, trees * 10);
}

}  // namespace
