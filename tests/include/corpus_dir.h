// Where the shared device-tree corpus is: $MODIOMMU_CORPUS_DIR (CTest sets
// it from the CMake cache variable of the same name), else the location
// CMake found at configure time. One lookup for every test.
#pragma once

#include <cstdlib>
#include <string>

namespace modiommu::test {

inline std::string corpus_dir() {
  const char* env = std::getenv("MODIOMMU_CORPUS_DIR");
  if (env && *env) return env;
#ifdef MODIOMMU_TEST_CORPUS_DIR
  return MODIOMMU_TEST_CORPUS_DIR;
#else
  return "/work/shared/corpus";
#endif
}

}  // namespace modiommu::test
