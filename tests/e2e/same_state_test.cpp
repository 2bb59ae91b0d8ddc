// BEHAVIOUR.md 3: one host binary, the driver built in, preloaded or
// autoloaded: the same platform reaches the same final state.
#include "host_json.h"
#include "e2e_util.h"
#include "sim/harness.h"
#include "sim/state.h"

using namespace modiommu;

namespace {

using modiommu::testing::state_projection;

nlohmann::json boot_state(KernelOptions o) {
  Kernel k(std::move(o));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  EXPECT_TRUE(k.boot(e2e::platform("virt-smmuv3.dts")).ok());
  k.boot_complete();
  return state_projection(sim::final_state(k, "virt-smmuv3.dts"));
}

TEST(SameState, PreloadedAndAutoloadedAgree) {
  auto preloaded = boot_state(e2e::module_options({"dmatest", "arm-smmu-v3"}, false));
  auto autoloaded = boot_state(e2e::module_options({}, true));
  EXPECT_EQ(preloaded, autoloaded);
  // and they are the interesting state: masters behind the SMMU
  bool attached = false;
  for (const auto& d : preloaded) attached = attached || (d[3] == "9050000.iommu" && d[1] == "bound");
  EXPECT_TRUE(attached);
}

// The built-in build of the same driver is in smmuv3drv_tests; the host
// binary (`modiommu boot --json`) gives the module path's state to compare
// with. Here: the host binary's JSON matches an in-process boot.
TEST(SameState, HostBinaryJsonMatchesInProcessBoot) {
  auto doc = modiommu::testing::run_host_json(
      e2e::binary_dir(), "boot " + e2e::platform("virt-smmuv3.dts") + " --modules " + e2e::binary_dir() + "/modules");
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(state_projection(doc), boot_state(e2e::module_options({}, true)));
  EXPECT_EQ(doc["stats"]["dma_escapes"], 0);
}

}  // namespace
