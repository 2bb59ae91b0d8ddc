// What every `modiommu` subcommand shares: the common options of
// INTERFACE.md, turning them into KernelOptions, the log sink, the final
// print; and the registry each subcommand file adds itself to.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/result.h"
#include "kernel/kernel.h"

namespace modiommu::cli {

struct CommonOpts {
  std::string platform;
  bool json = false;
  bool verbose = false;
  std::string deferred_probe = "targeted";
  double deferred_timeout = 10;
  bool await_modules = false;
  std::string missing_iommu = "bypass";
  std::string default_domain = "dma";
  std::vector<std::string> domains;
  std::string modules_dir;
  std::vector<std::string> preload;
  bool no_autoload = false;
  std::vector<std::string> blacklist;
  bool generic_endpoints = false;
  std::string populate;  // "" = the default for the command
};

// For unsigned count options: decimal digits that fit in 64 bits (CLI11
// alone reads "-1" as 2^64-1 and clamps 2^64 to 2^64-1).
CLI::Validator count_check();

// The modules built alongside this binary.
std::string default_modules_dir();
// The options of boot/run/shell/check except PLATFORM (commands differ in
// how many platforms they take).
void add_common_options(CLI::App* app, CommonOpts& o);
// add_common_options() plus a required PLATFORM positional.
void add_common(CLI::App* app, CommonOpts& o);
Result<KernelOptions> kernel_options(const CommonOpts& o);
// k.boot(platform), then the options that name devices (--domain) are
// checked against the devices the boot made.
Status boot_platform(Kernel& k, const CommonOpts& o);
// The human log goes to stdout, or to stderr when stdout carries JSON.
void attach_log(Kernel& k, const CommonOpts& o);
// Print the final state (JSON or the summary table).
int finish(Kernel& k, const CommonOpts& o);
int bad_options(const Error& e);

// A subcommand: `setup` adds it to the app (keeping its parsed options in
// state it owns), `run` is called when it was the one given.
struct Subcommand {
  std::function<CLI::App*(CLI::App&)> setup;
  std::function<int()> run;
};
std::vector<Subcommand>& subcommands();
struct SubcommandRegistrar {
  explicit SubcommandRegistrar(Subcommand s) { subcommands().push_back(std::move(s)); }
};

}  // namespace modiommu::cli
