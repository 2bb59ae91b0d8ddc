// What the host provides to modules: the host executable's exported dynamic
// symbols (read with the ELF reader from /proc/self/exe, the "vmlinux"
// export table), plus the shared libraries the host runs with (libc,
// libstdc++, sanitizer runtimes), found through the dynamic linker. Symbols
// of loaded modules are NOT host symbols: those make dependencies.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <unordered_set>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

class MODIOMMU_API HostSymbols {
 public:
  // The running executable's table, read once (thread-safe).
  static const HostSymbols& self();
  // From any executable (tests, tools).
  static Result<HostSymbols> from_file(const std::string& path);

  size_t exe_export_count() const { return exe_.size(); }
  bool exe_exports(const std::string& sym) const { return exe_.count(sym) != 0; }
  // Exported by the executable, or by a shared object in the process that
  // is not a module (see register_module_object).
  bool provides(const std::string& sym) const;

  // Loaded module objects, process-wide: a symbol found in one of them is
  // not the host's. `path` must be the canonical path given to dlopen (so
  // it is what dladdr reports).
  static void register_module_object(const std::string& path);
  static void unregister_module_object(const std::string& path);

 private:
  std::unordered_set<std::string> exe_;
};

}  // namespace modiommu
