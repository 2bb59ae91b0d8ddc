// Scenario commands for modules: insmod, modprobe, rmmod, lsmod, expect module.
#include <fmt/format.h>

#include "module/loader.h"
#include "sim/scenario.h"

namespace modiommu::sim {
namespace {

void add_module_commands(Scenario& sc) {
  sc.add_command("insmod", "insmod NAME|FILE.so [key=value...]", "load one module; its dependencies must be loaded",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() < 2) return make_error(Errc::inval, "usage: insmod NAME|FILE.so [key=value...]");
                   std::vector<std::string> params(a.begin() + 2, a.end());
                   auto m = s.kernel().modules().insmod(a[1], params);
                   if (!m.ok()) return std::move(m).error();
                   return Status{};
                 });
  sc.add_command("modprobe", "modprobe NAME [key=value...]", "load a module and its dependencies",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() < 2) return make_error(Errc::inval, "usage: modprobe NAME [key=value...]");
                   std::vector<std::string> params(a.begin() + 2, a.end());
                   return s.kernel().modules().modprobe(a[1], params);
                 });
  sc.add_command("rmmod", "rmmod NAME",
                 "unload a module, safely: consumers unbound first, DMA stopped, the IOMMU left aborting",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() != 2) return make_error(Errc::inval, "usage: rmmod NAME");
                   RmmodFlags f;
                   f.wait = true;  // a call in flight finishes first; dependants still refuse
                   return s.kernel().modules().rmmod(a[1], f);
                 });
  sc.add_command("lsmod", "lsmod", "loaded and built-in modules", [](Scenario& s, const Scenario::Args&) -> Status {
    s.out() << fmt::format("{:<24} {:<10} {:>4}  {}\n", "Module", "State", "Used", "by");
    for (const auto& m : s.kernel().modules().lsmod())
      s.out() << fmt::format("{:<24} {:<10} {:>4}  {}{}\n", m.name, module_state_name(m.state), m.refcount,
                             fmt::join(m.holders, ","), m.builtin ? " [builtin]" : "");
    return Status{};
  });
  sc.add_expectation("module", "expect module NAME live|absent", "is the module loaded?",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() != 4 || (a[3] != "live" && a[3] != "absent"))
                     return make_error(Errc::inval, "usage: expect module NAME live|absent");
                   auto m = s.kernel().modules().find(a[2]);
                   std::string got = !m ? "absent" : module_state_name(m->state());
                   if (got != a[3]) s.expect_failed(fmt::format("module {} is {}, expected {}", a[2], got, a[3]));
                   return Status{};
                 });
}

const bool registered = [] {
  scenario_extensions().push_back(add_module_commands);
  return true;
}();

}  // namespace
}  // namespace modiommu::sim
