// Where the device-tree corpus the tests read is. The repository carries a
// small curated one (tests/corpus: one or two trees per vendor and IOMMU
// family, QEMU's virt trees), so a fresh clone's tests need nothing beside
// it. The larger corpus is optional: configured with -DMODIOMMU_CORPUS_DIR,
// CTest runs the tests that walk whole corpora a second time over it (label
// `corpus`), passing it in $MODIOMMU_CORPUS_DIR.
#pragma once

#include <cstdlib>
#include <string>

namespace modiommu::test {

// The corpus bundled with the sources.
inline std::string bundled_corpus_dir() {
  const char* src = std::getenv("MODIOMMU_SOURCE_DIR");
#ifdef MODIOMMU_TEST_SOURCE_DIR
  const std::string root = src && *src ? src : MODIOMMU_TEST_SOURCE_DIR;
#else
  const std::string root = src && *src ? src : ".";
#endif
  return root + "/tests/corpus";
}

// True when this run walks the larger corpus (the `corpus` label).
inline bool large_corpus() {
  const char* env = std::getenv("MODIOMMU_CORPUS_DIR");
  return env && *env;
}

// The corpus a whole-corpus test walks: the larger one when given, else the
// bundled one. Tests that need one named tree use bundled_corpus_dir().
inline std::string corpus_dir() { return large_corpus() ? std::getenv("MODIOMMU_CORPUS_DIR") : bundled_corpus_dir(); }

// Trees in tests/corpus (21 .dtb + 3 QEMU .dts): whole-corpus tests assert
// they saw at least these.
constexpr size_t kBundledTrees = 24;

}  // namespace modiommu::test
