#include "cli/common.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <unistd.h>

#include <fmt/format.h>

#include "base/json_text.h"
#include "module/depmod.h"
#include "module/loader.h"
#include "module/module.h"
#include "sim/state.h"

namespace modiommu::cli {

std::vector<Subcommand>& subcommands() {
  static std::vector<Subcommand> all;
  return all;
}

// Installed: <prefix>/lib/modiommu/modules beside <prefix>/bin/modiommu.
// In a build tree: <build>/modules next to the executable's folder
// (build/release/modiommu -> build/release/modules).
std::string default_modules_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "modules";
  std::filesystem::path dir = std::filesystem::path(std::string(buf, static_cast<size_t>(n))).parent_path();
#ifdef MODIOMMU_INSTALLED_MODULES_REL
  if (const auto installed = dir / MODIOMMU_INSTALLED_MODULES_REL; std::filesystem::is_directory(installed))
    return installed.lexically_normal().string();
#endif
  for (int up = 0; up < 4; ++up) {
    if (std::filesystem::is_directory(dir / "modules")) return (dir / "modules").string();
    dir = dir.parent_path();
  }
  return "modules";
}

CLI::Validator count_check() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        uint64_t n = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || ec == std::errc::invalid_argument || p != v.data() + v.size())
          return "a count (0, 1, 2, ...), not '" + v + "'";
        if (ec == std::errc::result_out_of_range) return "'" + v + "' is more than 2^64-1";
        return "";
      },
      "COUNT");
}

void add_common(CLI::App* app, CommonOpts& o) {
  app->add_option("PLATFORM", o.platform, "platform device tree (.dts or .dtb)")->required();
  add_common_options(app, o);
}

void add_common_options(CLI::App* app, CommonOpts& o) {
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
  app->add_flag("--generic-endpoints", o.generic_endpoints,
                "bind a generic DMA endpoint driver to every device that has `iommus` (or is a legacy SMMU master) "
                "or sits on a PCI bus, and has no other driver");
  app->add_option("--populate", o.populate,
                  "drivers: a bound device's child nodes become devices, as its driver's of_platform_populate "
                  "would make them (default of check and --generic-endpoints); bus-only: only children of buses")
      ->check(CLI::IsMember({"drivers", "bus-only"}));
  app->add_flag("--await-module-sources", o.await_modules,
                "a later module directory will be announced: boot-complete does not make module sources final");
}

namespace {

// --modules and --preload are checked before any boot: a typo is a usage
// error (exit 2), not a log line in a run that then says ok.
Status check_module_options(const CommonOpts& o, const KernelOptions& k) {
  if (o.modules_dir.empty() && o.preload.empty()) return {};
  Kernel probe;
  for (const auto& dir : k.module_dirs) {
    Status s = probe.modules().announce_module_dir(dir);
    if (!s.ok() && !o.modules_dir.empty()) return make_error(s.error().code, "--modules: " + s.error().message);
  }
  for (const auto& name : o.preload) {
    const bool builtin = std::any_of(builtin_modules().begin(), builtin_modules().end(),
                                     [&](const ModuleDescriptor* d) { return d->name && module_name_eq(d->name, name); });
    if (builtin) continue;
    // "not found in DIR", or why the file of that name is not a module.
    if (auto info = probe.modules().modinfo(name); !info.ok())
      return make_error(info.error().code, "--preload " + name + ": " + info.error().message);
  }
  return {};
}

// A PCI device may appear after boot (host driver loaded later, hotplug).
bool pci_address_like(const std::string& s) {
  unsigned a, b, c, d;
  char tail;
  return std::sscanf(s.c_str(), "%x:%x:%x.%x%c", &a, &b, &c, &d, &tail) == 4 ||
         std::sscanf(s.c_str(), "%x:%x.%x%c", &a, &b, &c, &tail) == 3;
}

}  // namespace

Status boot_platform(Kernel& k, const CommonOpts& o) {
  TRY(k.boot(o.platform));
  for (const auto& d : o.domains) {
    const std::string name = d.substr(0, d.find('='));
    Device* dev = k.core().find_device(name);
    if (dev && dev->name() == name) continue;
    if (!dev && pci_address_like(name)) continue;
    return make_error(Errc::noent, dev ? fmt::format("--domain {}: give the device's name, {}", d, dev->name())
                                       : fmt::format("--domain {}: no device named '{}' (see lsdev)", d, name));
  }
  return {};
}

Result<KernelOptions> kernel_options(const CommonOpts& o) {
  KernelOptions k;
  k.iommu.missing = o.missing_iommu == "fail" ? iommu::MissingIommu::fail : iommu::MissingIommu::bypass;
  k.iommu.default_domain = *iommu::parse_domain_type(o.default_domain);
  k.module_dirs = {o.modules_dir.empty() ? default_modules_dir() : o.modules_dir};
  k.preload = o.preload;
  k.autoload = !o.no_autoload;
  k.blacklist = o.blacklist;
  k.generic_endpoints = o.generic_endpoints;
  if (!o.populate.empty()) k.populate = o.populate == "drivers" ? PopulatePolicy::drivers : PopulatePolicy::bus_only;
  for (const auto& d : o.domains) {
    auto eq = d.find('=');
    auto t = eq == std::string::npos ? std::nullopt : iommu::parse_domain_type(d.substr(eq + 1));
    if (!t || *t == iommu::DomainType::unmanaged)
      return make_error(Errc::inval, "--domain wants DEVICE=dma|dma-lazy|identity|blocked, not '" + d + "'");
    k.iommu.per_device[d.substr(0, eq)] = *t;
  }
  TRY(check_module_options(o, k));
  k.deferred_probe = o.deferred_probe == "linux" ? DeferredPolicy::linux : DeferredPolicy::targeted;
  // -1 is "never" (documented); any other negative, or nan, is a mistake.
  if (std::isnan(o.deferred_timeout) || (o.deferred_timeout < 0 && o.deferred_timeout != -1))
    return make_error(Errc::inval, fmt::format("--deferred-timeout wants seconds >= 0, or -1 for never, not {}",
                                               o.deferred_timeout));
  k.deferred_timeout = o.deferred_timeout;
  k.await_module_sources = o.await_modules;
  k.verbose = o.verbose;
  return k;
}

void attach_log(Kernel& k, const CommonOpts& o) {
  std::ostream& os = o.json ? std::cerr : std::cout;
  k.log().set_sink([&os](const LogEntry& e) { os << e.format() << "\n"; });
}

int finish(Kernel& k, const CommonOpts& o) {
  k.log().set_sink(nullptr);  // teardown is not part of the story
  if (o.json) std::cout << json_text(sim::final_state(k, o.platform), 2) << "\n";
  else std::cout << "\n" << sim::summary_table(k);
  return 0;
}

int bad_options(const Error& e) {
  std::cerr << "modiommu: " << e.message << "\n";
  return 2;
}

}  // namespace modiommu::cli
