// depmod: the module index of one directory, computed from the ELF files
// alone (no module code runs: descriptors are read from the image, see
// module/info.h), and stored as DIR/modules.dep.json:
//
//   { "format": "modiommu-modules.dep", "version": 1, "abi": <kModuleAbiVersion>,
//     "modules": [ { "name", "file" (basename), "version", "license",
//                    "description", "author", "aliases": [..],
//                    "params": [ {"name", "type", "default", "description"} ],
//                    "exports": [..], "depends": [module names],
//                    "unresolved": [symbols], "size", "mtime_ns" } ],
//     "errors": [ {"file", "error", "size", "mtime_ns"} ] }
//
// Dependencies as Linux depmod computes them: each undefined (non-weak)
// symbol the host does not provide and another module in the directory
// exports is a dependency on that module; one nobody provides is listed in
// "unresolved" so insmod can name it. The index is stale when the set of
// *.so files, any size/mtime, or the ABI version differs; loaders rebuild a
// stale or missing index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "module/host.h"
#include "module/info.h"

namespace modiommu {

inline constexpr const char kModuleIndexFile[] = "modules.dep.json";

struct MODIOMMU_API IndexEntry {
  ModuleInfo info;  // info.file is the full path
  std::string file;  // basename
  std::vector<std::string> exports, depends, unresolved;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

struct MODIOMMU_API IndexError {
  std::string file;  // basename
  std::string error;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

struct MODIOMMU_API ModuleIndex {
  std::string dir;
  std::vector<IndexEntry> modules;  // sorted by name
  std::vector<IndexError> errors;   // files that are not valid modules
  std::vector<std::string> notes;   // duplicate names/exports, ...

  // By module name ('-' and '_' are the same, as in kmod), else by file stem.
  const IndexEntry* find(std::string_view name) const;
  const IndexError* find_error(std::string_view name_or_stem) const;
  std::string to_json() const;
  static Result<ModuleIndex> from_json(std::string_view dir, std::string_view text);
};

// Module names compare with '-' == '_'.
MODIOMMU_API bool module_name_eq(std::string_view a, std::string_view b);

// Scans DIR/*.so and computes the index (does not write it).
MODIOMMU_API Result<ModuleIndex> depmod_scan(const std::string& dir, const HostSymbols& host);
// Writes DIR/modules.dep.json atomically (temp file + rename).
MODIOMMU_API Status write_index(const ModuleIndex& idx);
MODIOMMU_API Result<ModuleIndex> read_index(const std::string& dir);
MODIOMMU_API bool index_is_stale(const ModuleIndex& idx);
// depmod DIR: scan and write.
MODIOMMU_API Result<ModuleIndex> depmod(const std::string& dir, const HostSymbols& host = HostSymbols::self());
// The index, read if fresh, else rebuilt (and written if the directory is
// writable; a read-only directory still gets an in-memory index).
MODIOMMU_API Result<ModuleIndex> load_index(const std::string& dir, const HostSymbols& host, bool* rebuilt = nullptr);

}  // namespace modiommu
