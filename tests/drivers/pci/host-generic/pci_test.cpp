// PCI end to end: enumeration by the host bridge module, BARs as firmware
// assigned them, requester IDs through iommu-map (BEHAVIOUR.md 4: no map,
// no match, malformed map), groups by ACS and PCIe-to-PCI aliases, DMA
// verified through the SMMUv3, and escape accounting for PCI masters.
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "core/pci.h"
#include "kernel/kernel.h"
#include "board/pci_model.h"
#include "sim/harness.h"
#include "sim/state.h"
#include "test_paths.h"

namespace modiommu {
namespace {

std::string read_platform() {
  std::ifstream in(::modiommu::test_paths::source_dir() + "/platforms/virt-pci-smmuv3.dts");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct PciKernel {
  explicit PciKernel(const std::string& dts) : k(opts()) {
    auto t = of::Tree::from_dts(dts, "pci.dts");
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
    if (!t.ok()) return;
    k.log().set_sink([this](const LogEntry& e) { log += e.format() + "\n"; });
    Status s = k.boot(std::move(t).value());
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().str());
    k.boot_complete();
    ok = s.ok();
  }
  ~PciKernel() { k.log().set_sink(nullptr); }
  static KernelOptions opts() {
    KernelOptions o;
    o.module_dirs = {::modiommu::test_paths::modules_dir()};
    o.preload = {"pci-host-generic", "dmatest", "arm-smmu-v3"};
    return o;
  }
  Device* dev(const std::string& n) { return k.core().find_device(n); }
  int group(const std::string& n) {
    auto i = k.iommu().info(*dev(n));
    return i ? i->group : -1;
  }
  Status dma(const std::string& n, size_t bytes) {
    return harness.with_endpoint(*dev(n), [&](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, bytes); });
  }
  Kernel k;
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  std::string log;
  bool ok = false;
};

TEST(Pci, EnumerationFindsEveryFunctionWithItsBars) {
  PciKernel p(read_platform());
  ASSERT_TRUE(p.ok);
  const char* fns[] = {"0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0", "0000:01:00.0",
                       "0000:01:01.0", "0000:02:00.0", "0000:02:01.0", "0000:03:01.0", "0000:03:02.0"};
  for (const char* n : fns) ASSERT_NE(p.dev(n), nullptr) << n;
  const PciDevice* ep = to_pci(p.dev("0000:01:01.0"));
  ASSERT_NE(ep, nullptr);
  EXPECT_EQ(ep->info().vendor, 0x1234);
  EXPECT_EQ(ep->info().device, 0x11e5);
  EXPECT_EQ(ep->info().bars[0].size, 0x1000u);
  // The BAR the OS found is where firmware (the board model) put the registers.
  PciHostModel* host = p.k.platform().pci_hosts().at(0);
  EXPECT_EQ(std::optional<uint64_t>(ep->info().bars[0].addr), host->function(ep->info().rid())->bar);
  EXPECT_GE(ep->info().bars[0].addr, 0x10000000u);  // inside the ranges window
  // Bridges: port types, ACS and secondary buses as the tree says.
  const PciDevice* acs = to_pci(p.dev("0000:00:02.0"));
  const PciDevice* noacs = to_pci(p.dev("0000:00:03.0"));
  const PciDevice* p2p = to_pci(p.dev("0000:00:04.0"));
  EXPECT_EQ(acs->info().port, PciPortType::root_port);
  EXPECT_NE(acs->info().acs_ctrl, 0);
  EXPECT_EQ(noacs->info().acs_ctrl, 0);
  EXPECT_EQ(p2p->info().port, PciPortType::pcie_to_pci_bridge);
  EXPECT_EQ(p2p->info().secondary, 3);
  EXPECT_EQ(to_pci(p.dev("0000:03:01.0"))->upstream(), p2p);
  EXPECT_EQ(p.dev("0000:03:01.0")->fwnode()->path(), "/pcie@10000000/pci@4,0/dma@1,0");
}

TEST(Pci, GroupsFollowAcsAndAliases) {
  PciKernel p(read_platform());
  ASSERT_TRUE(p.ok);
  EXPECT_NE(p.group("0000:01:00.0"), p.group("0000:01:01.0"));  // ACS root port: isolated
  EXPECT_EQ(p.group("0000:02:00.0"), p.group("0000:02:01.0"));  // no ACS: peers can talk
  EXPECT_EQ(p.group("0000:03:01.0"), p.group("0000:03:02.0"));  // behind a PCIe-to-PCI bridge
  EXPECT_NE(p.group("0000:00:01.0"), p.group("0000:01:00.0"));
  // Ports and bridges are in groups too (Linux's pci_device_group()): the ACS
  // port alone, the others with what is below them.
  EXPECT_GE(p.group("0000:00:02.0"), 0);
  EXPECT_NE(p.group("0000:00:02.0"), p.group("0000:01:00.0"));
  EXPECT_EQ(p.group("0000:00:03.0"), p.group("0000:02:00.0"));
  EXPECT_EQ(p.group("0000:00:04.0"), p.group("0000:03:01.0"));
  // Requester IDs through iommu-map, plus the bridge's alias (bus 3, devfn 0).
  auto info = p.k.iommu().info(*p.dev("0000:03:02.0"));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->stream_ids, (std::vector<uint32_t>{0x310, 0x300}));
  EXPECT_EQ(p.k.iommu().info(*p.dev("0000:01:01.0"))->stream_ids, (std::vector<uint32_t>{0x108}));
  for (const char* n : {"0000:00:01.0", "0000:01:01.0", "0000:02:00.0", "0000:03:02.0"})
    EXPECT_TRUE(p.dma(n, 64 << 10).ok()) << n;
  EXPECT_GT(sim::dma_totals(p.k).transfers, 3u);
  EXPECT_EQ(sim::dma_totals(p.k).escapes, 0u);
}

TEST(Pci, IommuMapEdgeCases) {
  const std::string base = read_platform();
  {
    // No map: no IOMMU; DMA untranslated and sanctioned.
    PciKernel p(std::regex_replace(base, std::regex("iommu-map = <[^>]*>;"), ""));
    ASSERT_TRUE(p.ok);
    EXPECT_EQ(p.dev("0000:01:00.0")->state(), DeviceState::bound);
    EXPECT_FALSE(p.k.iommu().info(*p.dev("0000:01:00.0")));
    EXPECT_TRUE(p.dma("0000:01:00.0", 4096).ok());
    EXPECT_EQ(sim::dma_totals(p.k).escapes, 0u);
  }
  {
    // Only buses 0-1 mapped: bus 2 is not behind the IOMMU.
    PciKernel p(std::regex_replace(base, std::regex("iommu-map = <0x0 &smmu 0x0 0x10000>;"),
                                   "iommu-map = <0x0 &smmu 0x0 0x200>;"));
    ASSERT_TRUE(p.ok);
    EXPECT_TRUE(p.k.iommu().info(*p.dev("0000:01:00.0")));
    EXPECT_FALSE(p.k.iommu().info(*p.dev("0000:02:00.0")));
    // Linux logs a requester ID no entry maps; so does this, naming the map.
    EXPECT_NE(p.log.find("0000:02:00.0: requester ID 0x0200 is outside every entry of /pcie@10000000's iommu-map "
                         "(0x0-0x1ff -> /iommu@9050000)"),
              std::string::npos)
        << p.log;
    EXPECT_TRUE(p.dma("0000:02:00.0", 4096).ok());
    EXPECT_EQ(sim::dma_totals(p.k).escapes, 0u);
  }
  {
    // Malformed (not a multiple of 4 cells): every function's probe fails, named.
    PciKernel p(std::regex_replace(base, std::regex("iommu-map = <0x0 &smmu 0x0 0x10000>;"),
                                   "iommu-map = <0x0 &smmu 0x0>;"));
    ASSERT_TRUE(p.ok);
    EXPECT_EQ(p.dev("0000:01:00.0")->state(), DeviceState::failed);
    EXPECT_NE(p.log.find("iommu-map"), std::string::npos);
  }
}

TEST(Pci, UntranslatedDmaOfAPciMasterIsCountedAsEscape) {
  // The accounting must be able to fail: a function behind the IOMMU whose
  // port is forced straight to memory is an escape.
  PciKernel p(read_platform());
  ASSERT_TRUE(p.ok);
  PciHostModel* host = p.k.platform().pci_hosts().at(0);
  const PciDevice* d = to_pci(p.dev("0000:01:00.0"));
  hw::UpstreamPort* port = host->function(d->info().rid())->port;
  auto pa = p.k.pages().alloc(4096);
  ASSERT_TRUE(pa.ok());
  std::vector<uint8_t> buf(4096, 0x5a);
  // Through the SMMU: an unmapped address aborts, nothing escapes.
  EXPECT_FALSE(port->write(*pa, buf.data(), buf.size()).ok());
  EXPECT_EQ(sim::dma_totals(p.k).escapes, 0u);
  port->set_direct();
  EXPECT_TRUE(port->write(*pa, buf.data(), buf.size()).ok());
  EXPECT_GT(sim::dma_totals(p.k).escapes, 0u);
}

}  // namespace
}  // namespace modiommu
