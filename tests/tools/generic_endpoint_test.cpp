// --generic-endpoints: the generic DMA endpoint driver binds driverless DMA
// masters through the normal IOMMU path (defers, attaches, falls back) and
// leaves everything else alone.
#include <gtest/gtest.h>

#include "kernel/kernel.h"
#include "module/loader.h"
#include "test_platform.h"
#include "tools_util.h"

using namespace modiommu;
using namespace modiommu::tools_test;

namespace {

std::unique_ptr<of::Tree> board() {
  auto t = of::Tree::from_dts(kToolsBoard, "tools-board.dts");
  EXPECT_TRUE(t.ok()) << t.error().str();
  return std::move(t).value();
}

TEST(GenericEndpoints, BindsDriverlessMastersAndAttachesThemToTheirIommu) {
  Kernel k(options(/*autoload=*/true, /*generic=*/true));
  ASSERT_TRUE(k.boot(board()).ok());
  k.boot_complete();
  Device* video = k.core().find_device("12000000.video");
  ASSERT_NE(video, nullptr);
  EXPECT_EQ(video->state(), DeviceState::bound);
  ASSERT_NE(video->driver(), nullptr);
  EXPECT_EQ(video->driver()->name, "generic-endpoint");
  auto info = k.iommu().info(*video);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->iommu, "9050000.iommu");
  EXPECT_EQ(info->stream_ids, std::vector<uint32_t>{0x42});
  EXPECT_FALSE(info->bypass_fallback);
}

TEST(GenericEndpoints, LeavesDevicesWithoutIommusAndDevicesWithADriverAlone) {
  Kernel k(options(true, true));
  ASSERT_TRUE(k.boot(board()).ok());
  k.boot_complete();
  Device* plain = k.core().find_device("12001000.video");  // same compatible, no iommus
  ASSERT_NE(plain, nullptr);
  EXPECT_NE(plain->state(), DeviceState::bound);
  Device* dma = k.core().find_device("10000000.dma");
  ASSERT_NE(dma, nullptr);
  ASSERT_EQ(dma->state(), DeviceState::bound);
  EXPECT_EQ(dma->driver()->name, "dmatest");
}

TEST(GenericEndpoints, OffByDefault) {
  Kernel k(options(true, /*generic=*/false));
  ASSERT_TRUE(k.boot(board()).ok());
  k.boot_complete();
  Device* video = k.core().find_device("12000000.video");
  ASSERT_NE(video, nullptr);
  EXPECT_EQ(video->state(), DeviceState::unbound);
}

TEST(GenericEndpoints, DefersLikeARealConsumerUntilItsIommuDriverIsLoaded) {
  Kernel k(options(/*autoload=*/false, true));
  ASSERT_TRUE(k.boot(board()).ok());
  k.boot_complete();
  Device* video = k.core().find_device("12000000.video");
  ASSERT_NE(video, nullptr);
  ASSERT_EQ(video->state(), DeviceState::deferred);
  EXPECT_NE(k.core().reason(*video).find("9050000.iommu"), std::string::npos) << k.core().reason(*video);
  ASSERT_TRUE(k.modules().modprobe("arm-smmu-v3").ok());
  k.core().process();
  EXPECT_EQ(video->state(), DeviceState::bound);
  auto info = k.iommu().info(*video);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->iommu, "9050000.iommu");
}

TEST(GenericEndpoints, MasterOfAnUndrivenIommuFollowsTheMissingIommuPolicy) {
  {
    Kernel k(options(true, true));  // default --missing-iommu=bypass
    ASSERT_TRUE(k.boot(board()).ok());
    k.boot_complete();
    Device* vop = k.core().find_device("ff8f0000.vop");
    ASSERT_NE(vop, nullptr);
    EXPECT_EQ(vop->state(), DeviceState::bound);
    auto info = k.iommu().info(*vop);
    ASSERT_TRUE(info.has_value());
    EXPECT_TRUE(info->bypass_fallback);
  }
  {
    KernelOptions o = options(true, true);
    o.iommu.missing = iommu::MissingIommu::fail;
    Kernel k(o);
    ASSERT_TRUE(k.boot(board()).ok());
    k.boot_complete();
    Device* vop = k.core().find_device("ff8f0000.vop");
    ASSERT_NE(vop, nullptr);
    EXPECT_EQ(vop->state(), DeviceState::failed);
    EXPECT_NE(k.core().reason(*vop).find("--missing-iommu=fail"), std::string::npos) << k.core().reason(*vop);
  }
}

}  // namespace
