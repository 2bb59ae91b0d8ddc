// `modiommu modinfo` and `modiommu depmod` (INTERFACE.md "Commands").
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/common.h"
#include "module/depmod.h"
#include "module/loader.h"

namespace modiommu::cli {
namespace {

int cmd_modinfo(const std::string& what, const std::string& dir) {
  Kernel k;
  Status s = k.modules().announce_module_dir(dir.empty() ? default_modules_dir() : dir);
  if (!s.ok() && what.find('/') == std::string::npos) {
    std::cerr << "modiommu: " << s.error().message << "\n";
    return 2;
  }
  auto info = k.modules().modinfo(what);
  if (!info.ok()) {
    std::cerr << "modiommu: " << info.error().message << "\n";
    return 1;
  }
  std::cout << info->to_text();
  return 0;
}

int cmd_depmod(const std::string& dir_arg) {
  const std::string dir = dir_arg.empty() ? default_modules_dir() : dir_arg;
  auto idx = depmod(dir);
  if (!idx.ok()) {
    std::cerr << "modiommu: " << idx.error().message << "\n";
    return 1;
  }
  for (const auto& e : idx->modules) {
    std::cout << e.info.name << ": " << e.file;
    if (!e.depends.empty()) std::cout << " depends: " << fmt::format("{}", fmt::join(e.depends, ","));
    for (const auto& u : e.unresolved) std::cout << " unresolved: " << u;
    std::cout << "\n";
    for (const auto& a : e.info.aliases) std::cout << "  alias: " << a << "\n";
  }
  for (const auto& err : idx->errors) std::cout << err.file << ": not a module: " << err.error << "\n";
  for (const auto& n : idx->notes) std::cout << "note: " << n << "\n";
  std::cout << "wrote " << (std::filesystem::path(dir) / kModuleIndexFile).string() << " (" << idx->modules.size()
            << " modules)\n";
  return 0;
}

std::string modinfo_what, modinfo_dir, depmod_dir;

SubcommandRegistrar modinfo_reg({
    [](CLI::App& app) {
      auto* c = app.add_subcommand("modinfo", "show a module's descriptor (a name in the module directory, or a .so)");
      c->add_option("MODULE", modinfo_what, "module name or path to a .so")->required();
      c->add_option("--modules", modinfo_dir, "module directory");
      return c;
    },
    [] { return cmd_modinfo(modinfo_what, modinfo_dir); },
});

SubcommandRegistrar depmod_reg({
    [](CLI::App& app) {
      auto* c = app.add_subcommand("depmod", "rebuild a module directory's index (modules.dep.json)");
      c->add_option("DIR", depmod_dir, "module directory (default: the one built alongside the binary)");
      return c;
    },
    [] { return cmd_depmod(depmod_dir); },
});

}  // namespace
}  // namespace modiommu::cli
