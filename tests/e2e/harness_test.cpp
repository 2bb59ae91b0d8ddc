// Issue 16, point 3: the endpoint registry and escape accounting are the
// harness's (sim/harness.h), which observes the kernel; the kernel works
// without one.
#include <sstream>

#include "e2e_util.h"
#include "hw/dmatest.h"
#include "module/loader.h"
#include "dmatest_io.h"
#include "sim/harness.h"
#include "sim/scenario.h"

using namespace modiommu;

namespace {

std::vector<Device*> masters(Kernel& k) { return test::dmatest_masters(k); }

TEST(Harness, KernelWorksWithoutOne) {
  Kernel k(e2e::module_options({"dmatest", "arm-smmu-v3"}));
  ASSERT_TRUE(k.boot(e2e::platform("virt-smmuv3.dts")).ok());
  k.boot_complete();
  auto ms = masters(k);
  ASSERT_EQ(ms.size(), 4u);
  for (Device* d : ms) EXPECT_EQ(d->state(), DeviceState::bound) << d->name();
  // Nobody keeps the endpoints: nothing drives them.
  std::ostringstream out;
  sim::Scenario sc(k, out);
  Status s = sc.run_line("dma " + ms.front()->name() + " write 4K");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::nodev);
  EXPECT_TRUE(k.modules().rmmod("arm_smmu_v3").ok());
  EXPECT_TRUE(k.modules().rmmod("dmatest").ok());
}

TEST(Harness, KeepsEndpointsAndSanctionsUntilDetached) {
  Kernel k(e2e::module_options({"dmatest", "arm-smmu-v3"}));
  auto ms = std::vector<Device*>{};
  {
    sim::Harness harness{k};  // before boot: --preload registers endpoints
    EXPECT_EQ(sim::Harness::of(k), &harness);
    ASSERT_TRUE(k.boot(e2e::platform("virt-smmuv3.dts")).ok());
    k.boot_complete();
    ms = masters(k);
    ASSERT_EQ(ms.size(), 4u);
    EXPECT_EQ(harness.endpoint_devices().size(), 4u);
    for (Device* d : ms) {
      bool described = false;
      hw::UpstreamPort* port = sim::dma_port(k, *d, &described);
      ASSERT_TRUE(port) << d->name();
      // Behind the SMMU in a DMA domain: untranslated DMA would escape.
      EXPECT_TRUE(described) << d->name();
      EXPECT_FALSE(port->untranslated_allowed()) << d->name();
      EXPECT_TRUE(harness.with_endpoint(*d, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 4096); }).ok());
    }
    EXPECT_TRUE(k.modules().rmmod("dmatest").ok());
    EXPECT_TRUE(harness.endpoint_devices().empty());
    EXPECT_TRUE(k.modules().modprobe("dmatest").ok());
    EXPECT_EQ(harness.endpoint_devices().size(), 4u);
  }
  // Detached: the kernel goes on alone.
  EXPECT_EQ(sim::Harness::of(k), nullptr);
  EXPECT_TRUE(k.modules().rmmod("dmatest").ok());
  EXPECT_TRUE(k.modules().modprobe("dmatest").ok());
  for (Device* d : ms) EXPECT_EQ(d->state(), DeviceState::bound) << d->name();
}

}  // namespace
