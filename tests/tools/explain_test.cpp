// explain DEVICE: the chain down to the missing module, the unblocking
// command, and the same root words as `deferred` and the JSON.
#include <gtest/gtest.h>

#include <sstream>

#include "module/loader.h"
#include "report/explain.h"
#include "sim/harness.h"
#include "sim/scenario.h"
#include "sim/state.h"
#include "test_platform.h"
#include "tools_util.h"

using namespace modiommu;
using namespace modiommu::tools_test;

namespace {

std::string platform() { return source_dir() + "/platforms/virt-smmuv3.dts"; }

TEST(Explain, UnboundMasterNamesTheModuleToLoad) {
  Kernel k(options(/*autoload=*/false, /*generic=*/false));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(platform()).ok());
  k.boot_complete();
  Device* d = k.core().find_device("10000000.dma");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->state(), DeviceState::unbound);
  auto e = report::explain_device(k, *d);
  ASSERT_FALSE(e.chain.empty());
  EXPECT_NE(e.chain[0].find("10000000.dma: unbound"), std::string::npos) << report::format_explanation(e);
  ASSERT_EQ(e.unblock.size(), 1u);
  EXPECT_EQ(e.unblock[0], "modprobe dmatest");
}

TEST(Explain, DeferredMasterChainsToTheIommuAndItsModule) {
  Kernel k(options(false, false));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(platform()).ok());
  k.boot_complete();
  ASSERT_TRUE(k.modules().modprobe("dmatest").ok());
  k.core().process();
  Device* d = k.core().find_device("10000000.dma");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->state(), DeviceState::deferred);
  auto e = report::explain_device(k, *d);
  const std::string text = report::format_explanation(e);
  // Line 1 quotes the driver core's reason: the text `deferred` and the JSON show.
  const std::string reason = k.core().reason(*d);
  EXPECT_NE(e.chain[0].find("deferred: " + reason), std::string::npos) << text;
  EXPECT_NE(sim::format_deferred(k).find("10000000.dma\t" + reason), std::string::npos);
  auto doc = sim::final_state(k, "p");
  bool in_json = false;
  for (const auto& j : doc["devices"])
    if (j["name"] == "10000000.dma") in_json = j["deferred_reason"] == reason;
  EXPECT_TRUE(in_json);
  // The chain goes down to the SMMU, which has no driver loaded.
  EXPECT_NE(text.find("9050000.iommu: unbound"), std::string::npos) << text;
  EXPECT_NE(std::find(e.unblock.begin(), e.unblock.end(), "modprobe arm_smmu_v3"), e.unblock.end()) << text;
  // Doing what it says unblocks it.
  ASSERT_TRUE(k.modules().modprobe("arm-smmu-v3").ok());
  k.core().process();
  EXPECT_EQ(d->state(), DeviceState::bound);
  auto after = report::explain_device(k, *d);
  EXPECT_NE(after.chain.at(1).find("behind IOMMU 9050000.iommu"), std::string::npos) << report::format_explanation(after);
  EXPECT_TRUE(after.unblock.empty());
}

TEST(Explain, MasterWithoutIsolationSaysWhy) {
  Kernel k(options(true, true));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  auto t = of::Tree::from_dts(kToolsBoard, "board.dts");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(k.boot(std::move(t).value()).ok());
  k.boot_complete();
  Device* vop = k.core().find_device("ff8f0000.vop");
  ASSERT_NE(vop, nullptr);
  const std::string text = report::format_explanation(report::explain_device(k, *vop));
  EXPECT_NE(text.find("WITHOUT isolation"), std::string::npos) << text;
  EXPECT_NE(text.find("apple,t8103-dart"), std::string::npos) << text;
  EXPECT_NE(text.find("apple-dart"), std::string::npos) << text;
}

TEST(Explain, ScenarioCommand) {
  Kernel k(options(false, false));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(platform()).ok());
  k.boot_complete();
  std::ostringstream out;
  sim::Scenario sc(k, out);
  ASSERT_TRUE(sc.run_line("explain dma@10000000").ok());
  EXPECT_NE(out.str().find("modprobe dmatest"), std::string::npos) << out.str();
  EXPECT_FALSE(sc.run_line("explain no-such-device").ok());
  EXPECT_FALSE(sc.run_line("explain").ok());
}

}  // namespace
