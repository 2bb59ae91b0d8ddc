#pragma once

#include <cstdlib>
#include <string>

#include "dsim/world.h"
#include "test_paths.h"

namespace modiommu::dsim::test {

using ::modiommu::test_paths::source_dir;

// The real modules built with this tree, autoloaded as `modiommu run` does.
inline WorldConfig config(const std::string& platform, std::set<std::string> actors = {"modules", "bind", "dma", "clock"}) {
  WorldConfig c;
  c.platform = platform.find('/') == std::string::npos ? source_dir() + "/platforms/" + platform : platform;
  c.kernel.module_dirs = {::modiommu::test_paths::modules_dir()};
  c.actors = std::move(actors);
  return c;
}

inline std::string small_platform() { return source_dir() + "/tests/dsim/small.dts"; }

}  // namespace modiommu::dsim::test
