// BEHAVIOUR.md 1, the case observed on Linux 6.12 under QEMU: virtio-iommu
// loaded 15 s after boot, after the 10 s deferred-probe timeout. Linux left
// every device running without its IOMMU for good; here a device that fell
// back to bypass is moved under the IOMMU the moment it registers.
#include <fstream>
#include <sstream>

#include "e2e_util.h"
#include "sim/harness.h"
#include "sim/scenario.h"

using namespace modiommu;

namespace {

TEST(LateIommu, VirtioIommuLoadedAfterTheTimeoutTakesOverItsMasters) {
  KernelOptions o;
  // The modules are not in any directory the kernel knows: they arrive by
  // path, later, as from a late-mounted filesystem.
  o.module_dirs = {e2e::source_dir() + "/tests/scenarios/data/empty-modules"};
  o.await_module_sources = true;
  o.deferred_timeout = 10;
  o.autoload = true;
  Kernel k(o);
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  // As on QEMU (boot-bypass defaults on there): until a driver programs it,
  // the virtio-iommu lets DMA through, so running without it is possible.
  std::ifstream f(e2e::platform("virt-virtio-mmio-iommu.dts"));
  std::stringstream ss;
  ss << f.rdbuf();
  std::string dts = ss.str();
  const std::string anchor = "modiommu,virtio-device = \"iommu\";";
  ASSERT_NE(dts.find(anchor), std::string::npos);
  dts.insert(dts.find(anchor) + anchor.size(), " modiommu,boot-bypass;");
  auto tree = of::Tree::from_dts(dts, "virt-virtio-mmio-iommu.dts+boot-bypass");
  ASSERT_TRUE(tree.ok()) << tree.error().str();
  ASSERT_TRUE(k.boot(std::move(tree).value()).ok());
  std::ostringstream out;
  sim::Scenario sc(k, out);
  const std::string mods = e2e::binary_dir() + "/modules/";
  auto line = [&](const std::string& l) {
    Status s = sc.run_line(l);
    EXPECT_TRUE(s.ok()) << l << ": " << (s.ok() ? "" : s.error().str()) << "\n" << out.str();
  };
  line("insmod " + mods + "dmatest.so");
  line("boot-complete");
  line("expect device 10000000.dma state deferred");
  line("advance 11");
  // The backstop fired: bound without isolation, loudly.
  line("expect device 10000000.dma state bound");
  line("expect device 10000000.dma iommu none");
  Device* m = k.core().find_device("10000000.dma");
  ASSERT_NE(m, nullptr);
  ASSERT_NE(k.iommu().device_iommu(*m), nullptr);
  EXPECT_TRUE(k.iommu().device_iommu(*m)->bypass_fallback);
  line("dma 10000000.dma write 4096");
  // 15 s after boot the chain arrives.
  line("advance 4");
  line("insmod " + mods + "virtio.so");
  line("insmod " + mods + "virtio-mmio.so");
  line("insmod " + mods + "virtio-iommu.so");
  line("expect device virtio0 driver virtio-iommu");
  for (const char* dev : {"10000000.dma", "10001000.dma", "10002000.dma"}) {
    line(std::string("expect device ") + dev + " state bound");
    line(std::string("expect device ") + dev + " iommu virtio0");
    line(std::string("expect device ") + dev + " domain dma");
  }
  EXPECT_FALSE(k.iommu().device_iommu(*m)->bypass_fallback);
  // Its DMA is translated from now on: no untranslated byte after the move.
  bool described = false;
  hw::UpstreamPort* port = sim::dma_port(k, *m, &described);
  ASSERT_NE(port, nullptr);
  const uint64_t escapes_before = port->stats().escapes;
  line("dma 10000000.dma write 64K");
  line("dma 10001000.dma read 64K");
  EXPECT_EQ(port->stats().escapes, escapes_before);
  EXPECT_GT(port->stats().translated, 0u);
  EXPECT_EQ(sc.expect_failures(), 0u) << out.str();
}

}  // namespace
