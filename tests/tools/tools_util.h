// Shared by the tools tests: where things are, running the host binary.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "corpus_dir.h"
#include "kernel/kernel.h"
#include "test_paths.h"

namespace modiommu::tools_test {

using ::modiommu::test_paths::binary_dir;
using ::modiommu::test_paths::source_dir;
inline std::string host() { return binary_dir() + "/modiommu"; }
inline std::string corpus_dir() { return modiommu::test::corpus_dir(); }
using ::modiommu::test_paths::modules_dir;

struct Ran {
  int status = -1;  // exit code
  std::string out;
};

// `sh -c CMD` with stdout captured (stderr too when `merge`).
inline Ran run(const std::string& cmd, bool merge = false) {
  Ran r;
  const std::string full = cmd + (merge ? " 2>&1" : " 2>/dev/null");
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("modiommu-tools-" + name + "-" + std::to_string(getpid()));
  std::filesystem::create_directories(d);
  return d;
}

inline std::string write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p.string();
}

inline KernelOptions options(bool autoload = true, bool generic = true) {
  KernelOptions o;
  o.module_dirs = {modules_dir()};
  o.autoload = autoload;
  o.generic_endpoints = generic;
  return o;
}

inline size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

}  // namespace modiommu::tools_test
