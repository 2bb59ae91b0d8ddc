// Board glue: a `virtio,pci-iommu` function under an ECAM host bridge gets
// a VirtioPci + VirtioIommu model with its BAR assigned and its INTx routed
// through interrupt-map; DMA of PCI functions that the iommu-map sends to
// its node is translated by it.
#include <regex>

#include <gtest/gtest.h>

#include "board_dts.h"
#include "hw/machine.h"
#include "hw/virtio/virtio_pci.h"
#include "kernel/kernel.h"
#include "board/pci_model.h"
#include "virtio_pci_driver.h"

namespace modiommu::vpcitest {
namespace {

using hw::virtio::VirtioIommu;
using hw::virtio::VirtioPci;
namespace vp = uapi::virtio_pci;

constexpr uint64_t kEcam = 0x4010000000ull;
constexpr uint64_t kTestRam = 0x70000000;  // rings and buffers of the test driver

struct Board {
  explicit Board(const std::string& dts = board_dts()) {
    k.log().set_sink([this](const LogEntry& e) { log += e.format() + "\n"; });
    auto t = of::Tree::from_dts(dts, "board.dts");
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
    if (!t.ok()) return;
    Status s = k.boot(std::move(t).value());
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().str());
    ok = s.ok() && !k.platform().pci_hosts().empty();
  }
  ~Board() { k.log().set_sink(nullptr); }
  PciHostModel& host() { return *k.platform().pci_hosts().at(0); }
  std::shared_ptr<VirtioPci> viommu_fn() {
    const PciHostModel::Function* f = host().function(0x30);
    return f ? std::dynamic_pointer_cast<VirtioPci>(f->fn) : nullptr;
  }
  Kernel k;
  std::string log;
  bool ok = false;
};

TEST(VirtioPciBoard, VirtioIommuFunctionIsBuiltWithItsCapsBarAndIntx) {
  Board b;
  ASSERT_TRUE(b.ok) << b.log;
  const PciHostModel::Function* f = b.host().function(0x30);
  ASSERT_NE(f, nullptr) << b.log;
  EXPECT_EQ(f->kind, "virtio-iommu");
  auto fn = b.viommu_fn();
  ASSERT_NE(fn, nullptr);
  // Seen through ECAM the way enumeration sees it (00:06.0).
  hw::MmioBus& bus = b.k.machine().bus();
  EXPECT_EQ(bus.read32(kEcam + (0x30 << 12)), 0x1057u << 16 | 0x1af4u);
  EXPECT_EQ(bus.read(kEcam + (0x30 << 12) + 0x3d, 1), 1u) << "INTA";
  // Firmware placed BAR 4 inside the window and the registers behind it.
  ASSERT_TRUE(f->bar.has_value());
  const uint64_t bar = *f->bar;
  EXPECT_EQ(fn->bar_address(VirtioPci::kBar), bar);
  EXPECT_GE(bar, 0x10000000u);
  EXPECT_EQ(b.k.machine().device_at(bar + VirtioPci::kIsrOff).get(), static_cast<hw::MmioDevice*>(fn.get()));
  hw::virtio::pcitest::PciDriver d(b.k.machine().memory(), bus, fn, kTestRam);
  for (uint8_t t : {vp::kCfgCommon, vp::kCfgNotify, vp::kCfgIsr, vp::kCfgDevice, vp::kCfgPci})
    EXPECT_EQ(d.cap_count[t], 1) << int(t);
  EXPECT_EQ(d.regions[vp::kCfgCommon].addr, bar + VirtioPci::kCommonOff);
  EXPECT_EQ(d.rd(vp::kNumQueues, 2), 2u);
  // Slot 6 (6 & 3 = 2), INTA -> SPI 5 -> interrupt ID 37, as on QEMU virt.
  EXPECT_EQ(f->irq, 37u);
  // Its node is an IOMMU model for the iommu-map.
  const of::Node* node = b.k.tree()->find("/pcie@10000000/virtio_iommu@6,0");
  ASSERT_NE(node, nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<VirtioIommu>(b.k.platform().translator(node)), nullptr);
}

TEST(VirtioPciBoard, PciDmaIsTranslatedByTheVirtioIommu) {
  Board b;
  ASSERT_TRUE(b.ok) << b.log;
  auto fn = b.viommu_fn();
  ASSERT_NE(fn, nullptr);
  hw::Machine& m = b.k.machine();
  hw::UpstreamPort* ep = b.host().port(0x08);  // 00:01.0
  hw::UpstreamPort* below = b.host().port(0x108);  // 01:01.0, behind the root port
  ASSERT_NE(ep, nullptr);
  ASSERT_NE(below, nullptr);
  EXPECT_TRUE(ep->has_translator());
  EXPECT_EQ(ep->stream_id(), 0x08u);
  EXPECT_EQ(below->stream_id(), 0x108u);

  hw::virtio::pcitest::PciDriver d(m.memory(), m.bus(), fn, kTestRam);
  d.init();
  const uint64_t irqs = m.irq(37).count();
  ASSERT_EQ(d.attach(1, 0x08), uapi::viommu::kSOk);
  EXPECT_GT(m.irq(37).count(), irqs) << "used-buffer interrupt on the routed INTx";
  EXPECT_EQ(d.read_isr() & vp::kIsrQueue, vp::kIsrQueue);
  ASSERT_EQ(d.map(1, 0x100000, 0x10ffff, 0x50000000, uapi::viommu::kMapFRead | uapi::viommu::kMapFWrite),
            uapi::viommu::kSOk);

  const char msg[] = "through the virtio-iommu on PCI";
  ASSERT_TRUE(ep->write(0x100040, msg, sizeof msg).ok());
  char back[sizeof msg] = {};
  ASSERT_TRUE(m.memory().read(0x50000040, back, sizeof back).ok());
  EXPECT_STREQ(back, msg);
  // Outside the mapping, and from an endpoint never attached: faults.
  EXPECT_FALSE(ep->write(0x200000, msg, sizeof msg).ok());
  EXPECT_FALSE(below->write(0x100040, msg, sizeof msg).ok());
}

// Before any driver: unattached endpoints abort, unless the node asks for
// QEMU-style boot bypass (`modiommu,boot-bypass`), as on virtio-mmio.
TEST(VirtioPciBoard, BootBypassFollowsTheNode) {
  for (bool bypass : {false, true}) {
    std::string dts = board_dts();
    if (bypass) {
      const std::string at = "compatible = \"virtio,pci-iommu\", \"pci1af4,1057\";";
      ASSERT_NE(dts.find(at), std::string::npos);
      dts.insert(dts.find(at) + at.size(), " modiommu,boot-bypass;");
    }
    Board b(dts);
    ASSERT_TRUE(b.ok) << b.log;
    hw::UpstreamPort* ep = b.host().port(0x08);
    ASSERT_NE(ep, nullptr);
    const char msg[] = "before any driver";
    EXPECT_EQ(ep->write(0x50000040, msg, sizeof msg).ok(), bypass) << (bypass ? "boot bypass" : "abort");
  }
}

TEST(VirtioPciBoard, IntxSwizzlesAcrossBridgesAndFollowsTheMap) {
  Board b;
  ASSERT_TRUE(b.ok) << b.log;
  const of::Node& host = b.host().host();
  // Root bus 00:01.0 INTA: slot 1 -> SPI 4.
  EXPECT_EQ(pci_intx_irq(host, 0x08, 1, {}).value(), 36u);
  // 01:01.0 INTA below the bridge 00:03.0: INTB at slot 3 -> SPI 3.
  EXPECT_EQ(pci_swizzle_pin(1, 0x08), 2);
  EXPECT_EQ(pci_intx_irq(host, 0x108, 1, {0x18}).value(), 35u);
  // 01:00.0 INTA: device 0 keeps INTA; slot 3 INTA -> SPI 6.
  EXPECT_EQ(pci_intx_irq(host, 0x100, 1, {0x18}).value(), 38u);
  EXPECT_FALSE(pci_intx_irq(host, 0x08, 0, {}).ok());
  EXPECT_FALSE(pci_intx_irq(host, 0x08, 5, {}).ok());
}

TEST(VirtioPciBoard, BrokenInterruptMapsAreReportedNotFatal) {
  {
    Board b(board_dts("0x0 &viommu 0x0 0x30 0x31 &viommu 0x31 0xffcf", false));
    ASSERT_TRUE(b.ok) << b.log;
    ASSERT_NE(b.host().function(0x30), nullptr);
    EXPECT_EQ(b.host().function(0x30)->irq, 0u);
    EXPECT_NE(b.log.find("INTx not wired"), std::string::npos) << b.log;
    auto r = pci_intx_irq(b.host().host(), 0x30, 1, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("no interrupt-map"), std::string::npos) << r.error().message;
  }
  {
    // The last entry cut short.
    std::string dts = board_dts();
    dts = std::regex_replace(dts, std::regex(" 5 0x4>;"), " 5>;");
    Board b(dts);
    ASSERT_TRUE(b.ok) << b.log;
    auto r = pci_intx_irq(b.host().host(), 0x18, 4, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  }
  {
    // A phandle that names nothing.
    std::string dts = board_dts();
    dts = std::regex_replace(dts, std::regex("interrupt-map = < 0x0 0x0 0x0 1 &gic"), "interrupt-map = < 0x0 0x0 0x0 1 0x777");
    Board b(dts);
    ASSERT_TRUE(b.ok) << b.log;
    auto r = pci_intx_irq(b.host().host(), 0x30, 1, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("names no node"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace modiommu::vpcitest
