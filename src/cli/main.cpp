// The modiommu command (INTERFACE.md).
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include <filesystem>
#include <unistd.h>

#include "kernel/kernel.h"
#include "module/depmod.h"
#include "module/loader.h"
#include "sim/scenario.h"
#include "sim/state.h"

using namespace modiommu;

namespace {

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
};

// The modules built alongside this binary: <build>/modules next to the
// executable's folder (build/release/src/cli/modiommu -> build/release/modules).
std::string default_modules_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "modules";
  std::filesystem::path dir = std::filesystem::path(std::string(buf, static_cast<size_t>(n))).parent_path();
  for (int up = 0; up < 4; ++up) {
    if (std::filesystem::is_directory(dir / "modules")) return (dir / "modules").string();
    dir = dir.parent_path();
  }
  return "modules";
}

void add_common(CLI::App* app, CommonOpts& o) {
  app->add_option("PLATFORM", o.platform, "platform device tree (.dts or .dtb)")->required();
  app->add_flag("--json", o.json, "print the final state as one JSON document on stdout (the log goes to stderr)");
  app->add_flag("-v,--verbose", o.verbose, "debug lines in the log (every deferral)");
  app->add_option("--deferred-probe", o.deferred_probe,
                  "targeted: retry only the affected devices; linux: retry every deferred device on every bind")
      ->check(CLI::IsMember({"targeted", "linux"}));
  app->add_option("--deferred-timeout", o.deferred_timeout,
                  "backstop timeout on the virtual clock while module sources are not final (-1 = wait forever)");
  app->add_option("--missing-iommu", o.missing_iommu,
                  "what a device gets when its IOMMU can never arrive: bypass (with a warning) or fail")
      ->check(CLI::IsMember({"bypass", "fail"}));
  app->add_option("--default-domain", o.default_domain, "default domain type: dma, dma-lazy, identity or blocked")
      ->check(CLI::IsMember({"dma", "dma-lazy", "identity", "blocked"}));
  app->add_option("--domain", o.domains, "DEVICE=TYPE: default domain type for one device's group (repeatable)");
  app->add_option("--modules", o.modules_dir, "where loadable modules are (default: the ones built alongside the binary)");
  app->add_option("--preload", o.preload, "load these modules during the initcall phase, as an initramfs would")
      ->delimiter(',');
  app->add_flag("--no-autoload", o.no_autoload, "never load a module because a device needs it");
  app->add_option("--blacklist", o.blacklist, "never autoload these modules (modprobe still loads them)")->delimiter(',');
  app->add_flag("--await-module-sources", o.await_modules,
                "a later module directory will be announced: boot-complete does not make module sources final");
}

Result<KernelOptions> kernel_options(const CommonOpts& o) {
  KernelOptions k;
  k.iommu.missing = o.missing_iommu == "fail" ? iommu::MissingIommu::fail : iommu::MissingIommu::bypass;
  k.iommu.default_domain = *iommu::parse_domain_type(o.default_domain);
  k.module_dirs = {o.modules_dir.empty() ? default_modules_dir() : o.modules_dir};
  k.preload = o.preload;
  k.autoload = !o.no_autoload;
  k.blacklist = o.blacklist;
  for (const auto& d : o.domains) {
    auto eq = d.find('=');
    auto t = eq == std::string::npos ? std::nullopt : iommu::parse_domain_type(d.substr(eq + 1));
    if (!t || *t == iommu::DomainType::unmanaged)
      return make_error(Errc::inval, "--domain wants DEVICE=dma|dma-lazy|identity|blocked, not '" + d + "'");
    k.iommu.per_device[d.substr(0, eq)] = *t;
  }
  k.deferred_probe = o.deferred_probe == "linux" ? DeferredPolicy::linux : DeferredPolicy::targeted;
  k.deferred_timeout = o.deferred_timeout;
  k.await_module_sources = o.await_modules;
  k.verbose = o.verbose;
  return k;
}

// The human log goes to stdout, or to stderr when stdout carries JSON.
void attach_log(Kernel& k, const CommonOpts& o) {
  std::ostream& os = o.json ? std::cerr : std::cout;
  k.log().set_sink([&os](const LogEntry& e) { os << e.format() << "\n"; });
}

int finish(Kernel& k, const CommonOpts& o) {
  k.log().set_sink(nullptr);  // teardown is not part of the story
  if (o.json) std::cout << sim::final_state(k, o.platform).dump(2) << "\n";
  else std::cout << "\n" << sim::summary_table(k);
  return 0;
}

int bad_options(const Error& e) {
  std::cerr << "modiommu: " << e.message << "\n";
  return 2;
}

int cmd_boot(const CommonOpts& o) {
  auto ko = kernel_options(o);
  if (!ko.ok()) return bad_options(ko.error());
  Kernel k(*ko);
  attach_log(k, o);
  Status s = k.boot(o.platform);
  if (!s.ok()) {
    std::cerr << "modiommu: " << s.error().str() << "\n";
    return 2;
  }
  k.boot_complete();
  return finish(k, o);
}

int cmd_run(const CommonOpts& o, const std::string& script) {
  std::ifstream in(script);
  if (!in) {
    std::cerr << "modiommu: cannot read scenario " << script << "\n";
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto ko = kernel_options(o);
  if (!ko.ok()) return bad_options(ko.error());
  Kernel k(*ko);
  attach_log(k, o);
  Status s = k.boot(o.platform);
  if (!s.ok()) {
    std::cerr << "modiommu: " << s.error().str() << "\n";
    return 2;
  }
  std::ostream& out = o.json ? std::cerr : std::cout;
  sim::Scenario sc(k, out);
  int rc = sc.run_script(text.str(), script, std::cerr);
  if (rc == 2) return 2;
  if (!k.core().boot_completed()) k.boot_complete();
  finish(k, o);
  if (rc == 1) std::cerr << "modiommu: " << sc.expect_failures() << " expectation(s) failed\n";
  return rc;
}

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"modiommu: modular IOMMU drivers on an emulated machine"};
  app.require_subcommand(1);

  CommonOpts boot_o, run_o;
  auto* boot = app.add_subcommand("boot", "boot PLATFORM to the end; print the log and a summary of devices");
  add_common(boot, boot_o);
  std::string script;
  auto* run = app.add_subcommand("run", "boot PLATFORM up to boot-complete, then run the scenario SCRIPT");
  add_common(run, run_o);
  run->add_option("SCRIPT", script, "scenario script")->required();

  std::string modinfo_what, modinfo_dir, depmod_dir;
  auto* modinfo = app.add_subcommand("modinfo", "show a module's descriptor (a name in the module directory, or a .so)");
  modinfo->add_option("MODULE", modinfo_what, "module name or path to a .so")->required();
  modinfo->add_option("--modules", modinfo_dir, "module directory");
  auto* depmod_cmd = app.add_subcommand("depmod", "rebuild a module directory's index (modules.dep.json)");
  depmod_cmd->add_option("DIR", depmod_dir, "module directory (default: the one built alongside the binary)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*boot) return cmd_boot(boot_o);
  if (*run) return cmd_run(run_o, script);
  if (*modinfo) return cmd_modinfo(modinfo_what, modinfo_dir);
  if (*depmod_cmd) return cmd_depmod(depmod_dir);
  return 2;
}
