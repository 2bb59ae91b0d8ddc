// `inject FAULT [count]`: arm a named fault point (base/fault_inject.h).
#include <fmt/format.h>

#include "base/fault_inject.h"
#include "sim/scenario.h"

namespace modiommu::sim {
namespace {

void add_inject_commands(Scenario& sc) {
  sc.add_command("inject", "inject [FAULT [COUNT]]",
                 "arm a fault point to fire the next COUNT times (default 1, 0 disarms); no argument lists them",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() > 3) return make_error(Errc::inval, "usage: inject [FAULT [COUNT]]");
                   if (a.size() == 1) {
                     for (const auto& f : FaultInjection::known())
                       s.out() << fmt::format("  {:<28} armed {:<3} fired {:<3} {}\n", f.name,
                                              FaultInjection::pending(f.name), FaultInjection::fired(f.name), f.what);
                     return Status{};
                   }
                   const uint64_t n = a.size() == 3 ? TRY(Scenario::parse_count(a[2])) : 1;
                   return FaultInjection::arm(a[1], n);
                 });
}

const bool registered = [] {
  scenario_extensions().push_back(add_inject_commands);
  return true;
}();

}  // namespace
}  // namespace modiommu::sim
