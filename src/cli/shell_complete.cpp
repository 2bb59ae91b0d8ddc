#include "cli/shell_complete.h"

#include <algorithm>
#include <set>

#include "module/loader.h"

namespace modiommu::cli {

std::vector<std::string> shell_completions(sim::Scenario& sc, const std::string& command, size_t word,
                                           const std::string& prefix) {
  std::set<std::string> all;
  if (word == 0) {
    for (const auto& [name, c] : sc.commands())
      if (!c.expectation) all.insert(name);
    all.insert("quit");
  } else {
    Kernel& k = sc.kernel();
    const bool modules_only = command == "insmod" || command == "modprobe" || command == "rmmod";
    if (!modules_only)
      for (Device* d : k.core().devices()) all.insert(d->name());
    for (const auto& m : k.modules().lsmod()) all.insert(m.name);
    for (const auto& dir : k.modules().module_dirs())
      if (auto idx = k.modules().index(dir); idx.ok())
        for (const auto& e : idx->modules) all.insert(e.info.name);
    if (command == "help")
      for (const auto& [name, c] : sc.commands()) all.insert(name);
  }
  // Module names treat '-' and '_' alike, as kmod does.
  auto norm = [](std::string s) {
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
  };
  const std::string want = norm(prefix);
  std::vector<std::string> out;
  for (const auto& s : all)
    if (s.size() >= want.size() && norm(s.substr(0, want.size())) == want) out.push_back(s);
  return out;
}

}  // namespace modiommu::cli
