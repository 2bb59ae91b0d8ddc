#pragma once

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "kernel/kernel.h"
#include "module/loader.h"
#include "test_paths.h"

namespace modiommu::e2e {

using ::modiommu::test_paths::binary_dir;
using ::modiommu::test_paths::source_dir;
inline std::string platform(const std::string& name) { return source_dir() + "/platforms/" + name; }

// Options for the real modules built with this tree.
inline KernelOptions module_options(std::vector<std::string> preload = {}, bool autoload = false) {
  KernelOptions o;
  o.module_dirs = {binary_dir() + "/modules"};
  o.preload = std::move(preload);
  o.autoload = autoload;
  return o;
}

}  // namespace modiommu::e2e
