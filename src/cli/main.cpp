// The modiommu command (INTERFACE.md). Each subcommand lives in its own
// cmd_*.cpp and registers itself (cli/common.h).
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/common.h"

int main(int argc, char** argv) {
  using namespace modiommu::cli;
  CLI::App app{"modiommu: modular IOMMU drivers on an emulated machine"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, const Subcommand*>> given;
  for (const auto& s : subcommands()) given.emplace_back(s.setup(app), &s);
  if (argc < 2) {  // a usage error, not a request for help
    std::cerr << app.help() << "modiommu: a command is required\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  for (auto& [sub, s] : given)
    if (*sub) return s->run();
  return 2;
}
