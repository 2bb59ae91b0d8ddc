// Where a test finds the source tree (platforms/, tests/ data) and the build
// (the host binary, build/<preset>/modules). CTest passes the source tree in
// $MODIOMMU_SOURCE_DIR; modiommu_test() compiles both in as defaults, so a
// test binary also runs by hand. $MODIOMMU_BINARY_DIR overrides the build.
#pragma once

#include <cstdlib>
#include <string>

namespace modiommu::test_paths {

inline std::string env_or(const char* name, const char* fallback) {
  const char* s = std::getenv(name);
  return s && *s ? s : fallback;
}

inline std::string source_dir() { return env_or("MODIOMMU_SOURCE_DIR", MODIOMMU_TEST_SOURCE_DIR); }
inline std::string binary_dir() { return env_or("MODIOMMU_BINARY_DIR", MODIOMMU_TEST_BINARY_DIR); }
inline std::string modules_dir() { return binary_dir() + "/modules"; }

}  // namespace modiommu::test_paths
