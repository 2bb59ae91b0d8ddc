// The scenario language: any bytes, as script lines, against a booted
// kernel. A bad line is an error value, never a crash or a hang.
#include <cstdint>
#include <sstream>
#include <string>

#include "base/fault_inject.h"
#include "sim/scenario.h"

using namespace modiommu;

namespace {

const char* kPlatform = R"(/dts-v1/;
/ { #address-cells = <1>; #size-cells = <1>;
  memory@40000000 { device_type = "memory"; reg = <0x40000000 0x1000000>; };
  clk: clock@1000 { compatible = "modiommu,test-supplier"; reg = <0x1000 0x10>; };
  codec@2000 { compatible = "modiommu,test-consumer"; reg = <0x2000 0x10>; modiommu,suppliers = <&clk>; };
};)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Kernel* k = [] {
    auto* kk = new Kernel();
    auto t = of::Tree::from_dts(kPlatform, "fuzz.dts");
    if (!t.ok() || !kk->boot(std::move(t).value()).ok()) __builtin_trap();
    return kk;
  }();
  std::ostringstream out;
  sim::Scenario sc(*k, out);
  std::ostringstream err;
  (void)sc.run_script(std::string(reinterpret_cast<const char*>(data), size), "fuzz.run", err);
  // `inject` arms process-wide fault points: one input must not leave them
  // armed for the next.
  FaultInjection::disarm_all();
  return 0;
}
