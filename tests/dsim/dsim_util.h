#pragma once

#include <cstdlib>
#include <string>

#include "dsim/world.h"

namespace modiommu::dsim::test {

inline std::string source_dir() {
  const char* s = std::getenv("MODIOMMU_SOURCE_DIR");
  return s ? s : MODIOMMU_TEST_SOURCE_DIR;
}

// The real modules built with this tree, autoloaded as `modiommu run` does.
inline WorldConfig config(const std::string& platform, std::set<std::string> actors = {"modules", "bind", "dma", "clock"}) {
  WorldConfig c;
  c.platform = platform.find('/') == std::string::npos ? source_dir() + "/platforms/" + platform : platform;
  c.kernel.module_dirs = {std::string(MODIOMMU_TEST_BINARY_DIR) + "/modules"};
  c.actors = std::move(actors);
  return c;
}

inline std::string small_platform() { return source_dir() + "/tests/dsim/small.dts"; }

}  // namespace modiommu::dsim::test
