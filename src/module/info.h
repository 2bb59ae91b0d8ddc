// A module's descriptor as host-side data (modinfo): read either from a live
// descriptor in memory or from the .so's ELF image without running any of
// its code, and checked the same way in both cases.
#pragma once

#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "module/elf.h"
#include "module/module.h"

namespace modiommu {

struct MODIOMMU_API ParamInfo {
  std::string name;
  ModuleParamType type = ModuleParamType::none_;
  std::string default_value;
  std::string description;
};

struct MODIOMMU_API ModuleInfo {
  std::string name;
  std::string file;  // path of the .so; empty for built-in
  uint32_t abi_version = 0;
  std::string version, license, description, author;
  std::vector<ParamInfo> params;
  std::vector<std::string> aliases;
  std::vector<std::string> softdeps;  // pre: modules (module.h)
  bool has_init = false, has_exit = false;
  // modinfo text: "name: ...", one "alias: ..." / "parm: ..." line each.
  std::string to_text() const;
};

MODIOMMU_API const char* param_type_name(ModuleParamType t);

// Parses a parameter value by its type: bool y/n/1/0/true/false/on/off
// (empty = true, as Linux param_set_bool), int/uint decimal or 0x hex in
// 64-bit range, string up to 1024 bytes. The error names module, parameter,
// type and the text.
MODIOMMU_API Result<ParamValue> parse_param(std::string_view module, const ParamInfo& p, std::string_view text);

// Checks magic, size and ABI version first (the message names expected and
// found values), then every string, parameter (names unique, defaults
// parse) and alias. `where` names the module in messages.
MODIOMMU_API Result<ModuleInfo> module_info_from_descriptor(const ModuleDescriptor& d, std::string_view where);
// The same from the ELF image: locates `modiommu_module_descriptor` in
// .dynsym and reads it with relocations applied. ENOENT if the symbol is
// missing ("no module descriptor").
MODIOMMU_API Result<ModuleInfo> module_info_from_elf(const ElfFile& elf);

}  // namespace modiommu
