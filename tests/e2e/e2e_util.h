#pragma once

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "kernel/kernel.h"
#include "module/loader.h"

namespace modiommu::e2e {

inline std::string source_dir() {
  const char* s = std::getenv("MODIOMMU_SOURCE_DIR");
  return s ? s : ".";
}
inline std::string binary_dir() {
  const char* s = std::getenv("MODIOMMU_BINARY_DIR");
  return s ? s : MODIOMMU_TEST_BINARY_DIR;
}
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
