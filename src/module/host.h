// What the host provides to modules: the host executable's exported dynamic
// symbols (read with the ELF reader from /proc/self/exe, the "vmlinux"
// export table), plus the shared libraries the host started with (libc,
// libstdc++, sanitizer runtimes), found through the dynamic linker. Symbols
// of modules are never host symbols: those make dependencies.
#pragma once

#include <string>
#include <unordered_set>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

class MODIOMMU_API HostSymbols {
 public:
  // The running executable's table and its startup libraries, recorded once
  // (thread-safe), before any module is loaded: ModuleLoader's constructor
  // makes sure of that.
  static const HostSymbols& self();
  // From any executable (tests, tools); libraries: none.
  static Result<HostSymbols> from_file(const std::string& path);

  size_t exe_export_count() const { return exe_.size(); }
  bool exe_exports(const std::string& sym) const { return exe_.count(sym) != 0; }
  // Exported by the executable, or defined (per the dynamic linker) in one
  // of the shared objects the process started with. A symbol found in an
  // object loaded later (a module) is not the host's; deciding by the
  // startup set, not by a registry of modules, leaves no window in which a
  // module being unloaded could pass for the host.
  bool provides(const std::string& sym) const;

 private:
  std::unordered_set<std::string> exe_;
  std::unordered_set<std::string> startup_objects_;  // dl_iterate_phdr names
};

}  // namespace modiommu
