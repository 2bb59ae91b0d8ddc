// `modiommu boot` and `modiommu run` (INTERFACE.md "Commands").
#include <iostream>

#include "base/file.h"
#include "cli/common.h"
#include "sim/harness.h"
#include "sim/scenario.h"

namespace modiommu::cli {
namespace {

int cmd_boot(const CommonOpts& o) {
  auto ko = kernel_options(o);
  if (!ko.ok()) return bad_options(ko.error());
  Kernel k(*ko);
  sim::Harness harness(k);  // endpoints and escape accounting; before boot (--preload)
  attach_log(k, o);
  Status s = boot_platform(k, o);
  if (!s.ok()) {
    std::cerr << "modiommu: " << s.error().str() << "\n";
    return 2;
  }
  k.boot_complete();
  return finish(k, o);
}

int cmd_run(const CommonOpts& o, const std::string& script) {
  auto text = read_file_capped(script, sim::Scenario::kMaxScriptBytes);
  if (!text.ok()) {
    std::cerr << "modiommu: scenario " << text.error().message << "\n";
    return 2;
  }
  auto ko = kernel_options(o);
  if (!ko.ok()) return bad_options(ko.error());
  Kernel k(*ko);
  sim::Harness harness(k);  // endpoints and escape accounting; before boot (--preload)
  attach_log(k, o);
  Status s = boot_platform(k, o);
  if (!s.ok()) {
    std::cerr << "modiommu: " << s.error().str() << "\n";
    return 2;
  }
  std::ostream& out = o.json ? std::cerr : std::cout;
  sim::Scenario sc(k, out);
  int rc = sc.run_script(*text, script, std::cerr);
  if (rc == 2) return 2;
  if (!k.core().boot_completed()) k.boot_complete();
  finish(k, o);
  if (rc == 1) std::cerr << "modiommu: " << sc.expect_failures() << " expectation(s) failed\n";
  return rc;
}

CommonOpts boot_o, run_o;
std::string script;
CLI::App* boot_app = nullptr;
CLI::App* run_app = nullptr;

SubcommandRegistrar boot_reg({
    [](CLI::App& app) {
      boot_app = app.add_subcommand("boot", "boot PLATFORM to the end; print the log and a summary of devices");
      add_common(boot_app, boot_o);
      return boot_app;
    },
    [] { return cmd_boot(boot_o); },
});

SubcommandRegistrar run_reg({
    [](CLI::App& app) {
      run_app = app.add_subcommand("run", "boot PLATFORM up to boot-complete, then run the scenario SCRIPT");
      add_common(run_app, run_o);
      run_app->add_option("SCRIPT", script, "scenario script")->required();
      return run_app;
    },
    [] { return cmd_run(run_o, script); },
});

}  // namespace
}  // namespace modiommu::cli
