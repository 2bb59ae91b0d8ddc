// BEHAVIOUR.md 3: one host binary, the driver built in, preloaded or
// autoloaded: the same platform reaches the same final state.
#include <cstdio>
#include <memory>

#include "e2e_util.h"
#include "sim/state.h"

using namespace modiommu;

namespace {

// The facts that must not depend on how the driver arrived.
nlohmann::json projection(const nlohmann::json& state) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : state["devices"])
    out.push_back({d["name"], d["state"], d["driver"], d["iommu"], d["stream_ids"], d["domain"]});
  return out;
}

nlohmann::json boot_state(KernelOptions o) {
  Kernel k(std::move(o));
  EXPECT_TRUE(k.boot(e2e::platform("virt-smmuv3.dts")).ok());
  k.boot_complete();
  return projection(sim::final_state(k, "virt-smmuv3.dts"));
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
  const std::string cmd = e2e::binary_dir() + "/modiommu boot " + e2e::platform("virt-smmuv3.dts") +
                          " --json --modules " + e2e::binary_dir() + "/modules 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  ASSERT_TRUE(p);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  auto doc = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << out.substr(0, 200);
  EXPECT_EQ(projection(doc), boot_state(e2e::module_options({}, true)));
  EXPECT_EQ(doc["stats"]["dma_escapes"], 0);
}

}  // namespace
