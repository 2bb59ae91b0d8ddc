// The virtio_pci module booted for real: the ECAM host driver enumerates the
// virtio-iommu function, virtio_pci (pulling in the virtio core) registers a
// virtio device with device ID 23 on the virtio bus, rmmod removes it, and
// transitional (legacy) functions are refused with a message. With autoload
// the whole chain comes up and PCI DMA is translated through it.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "board_dts.h"
#include "corpus_dir.h"
#include "core/pci.h"
#include "hw/machine.h"
#include "hw/pci/function.h"
#include "hw/virtio/virtio_iommu.h"
#include "hw/virtio/virtio_pci.h"
#include "kernel/kernel.h"
#include "board/pci_model.h"
#include "module/loader.h"
#include "sim/harness.h"
#include "test_paths.h"
#include "uapi/virtio_pci.h"

namespace modiommu::vpcitest {
namespace {

struct Booted {
  explicit Booted(std::vector<std::string> preload, bool autoload, const std::string& dts = board_dts())
      : k(opts(std::move(preload), autoload)) {
    k.log().set_sink([this](const LogEntry& e) {
      std::lock_guard g(log_lock);
      log += e.format() + "\n";
    });
    auto t = of::Tree::from_dts(dts, "board.dts");
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
    if (!t.ok()) return;
    Status s = k.boot(std::move(t).value());
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().str());
    k.boot_complete();
    ok = s.ok();
  }
  ~Booted() { k.log().set_sink(nullptr); }
  static KernelOptions opts(std::vector<std::string> preload, bool autoload) {
    KernelOptions o;
    o.module_dirs = {::modiommu::test_paths::modules_dir()};
    o.preload = std::move(preload);
    o.autoload = autoload;
    return o;
  }
  // Devices on the virtio bus.
  std::vector<Device*> virtio_devices() {
    std::vector<Device*> out;
    for (Device* d : k.core().devices())
      if (d->bus() && d->bus()->name() == "virtio") out.push_back(d);
    return out;
  }
  std::string dmesg() {
    std::lock_guard g(log_lock);
    return log;
  }
  Kernel k;
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  std::mutex log_lock;
  std::string log;
  bool ok = false;
};

TEST(VirtioPciBoot, RegistersTheVirtioIommuDeviceAndRmmodRemovesIt) {
  Booted b({"pci-host-generic", "virtio_pci"}, false);
  ASSERT_TRUE(b.ok) << b.dmesg();
  Device* fn = b.k.core().find_device("0000:00:06.0");
  ASSERT_NE(fn, nullptr) << b.dmesg();
  ASSERT_NE(fn->driver(), nullptr) << b.dmesg();
  EXPECT_EQ(fn->driver()->name, "virtio-pci");
  EXPECT_NE(b.k.modules().find("virtio"), nullptr) << "the virtio core came in as a dependency";
  auto vdevs = b.virtio_devices();
  ASSERT_EQ(vdevs.size(), 1u) << b.dmesg();
  EXPECT_EQ(vdevs[0]->compatible(), std::vector<std::string>{"virtio,device17"});  // 23 = virtio-iommu
  EXPECT_EQ(vdevs[0]->parent(), fn);
  EXPECT_EQ(vdevs[0]->fwnode(), fn->fwnode()) << "the transport's node is the IOMMU's node";
  // Its INTx (SPI 5) has the transport's handler.
  EXPECT_EQ(b.k.machine().irq(37).listener_count(), 1u);

  ASSERT_TRUE(b.k.modules().rmmod("virtio_pci").ok()) << b.dmesg();
  EXPECT_TRUE(b.virtio_devices().empty());
  EXPECT_EQ(fn->driver(), nullptr);
  EXPECT_EQ(b.k.machine().irq(37).listener_count(), 0u);
  // The device was left reset.
  auto model = std::dynamic_pointer_cast<hw::virtio::VirtioPci>(b.k.platform().pci_hosts().at(0)->function(0x30)->fn);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->status(), 0u);
  // Reloading brings it back.
  ASSERT_TRUE(b.k.modules().modprobe("virtio_pci").ok()) << b.dmesg();
  b.k.core().process();
  EXPECT_EQ(b.virtio_devices().size(), 1u) << b.dmesg();
}

TEST(VirtioPciBoot, ConfigAccessAndPciInfoFromTheHostDriver) {
  Booted b({"pci-host-generic"}, false);
  ASSERT_TRUE(b.ok) << b.dmesg();
  const PciDevice* fn = to_pci(b.k.core().find_device("0000:00:06.0"));
  ASSERT_NE(fn, nullptr) << b.dmesg();
  EXPECT_EQ(fn->info().irq_pin, 1);
  EXPECT_EQ(fn->info().subsystem_vendor, 0x1af4);
  EXPECT_EQ(fn->info().vendor, 0x1af4);
  EXPECT_EQ(fn->info().device, 0x1057);
  EXPECT_EQ(b.k.pci().read_config(*fn, 0x00, 4).value(), 0x10571af4u);
  EXPECT_EQ(b.k.pci().read_config(*fn, 0x02, 2).value(), 0x1057u);
  EXPECT_EQ(b.k.pci().read_config(*fn, 0x3d, 1).value(), 1u);
  EXPECT_FALSE(b.k.pci().read_config(*fn, 0x01, 2).ok()) << "misaligned";
  EXPECT_FALSE(b.k.pci().read_config(*fn, 0x1000, 4).ok()) << "past config space";
  // A byte write lands on that byte only (Interrupt Line, 0x3c).
  ASSERT_TRUE(b.k.pci().write_config(*fn, 0x3c, 0x2a, 1).ok());
  EXPECT_EQ(b.k.pci().read_config(*fn, 0x3c, 4).value() & 0xffff, 0x012au);
  // request_irq of a PCI device: "0" only.
  Device* dev = b.k.core().find_device("0000:00:06.0");
  EXPECT_FALSE(b.k.request_irq(*dev, "1", [] {}).ok());
  auto h = b.k.request_irq(*dev, "0", [] {});
  ASSERT_TRUE(h.ok()) << h.error().str();
  EXPECT_EQ(b.k.machine().irq(37).listener_count(), 1u);
  h->free();
  // A function behind the root port has no pin (the DMA test model): refused.
  Device* dma = b.k.core().find_device("0000:01:01.0");
  ASSERT_NE(dma, nullptr);
  auto r = b.k.request_irq(*dma, "0", [] {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Interrupt Pin"), std::string::npos) << r.error().message;
}

TEST(VirtioPciBoot, TransitionalDevicesAreRefused) {
  // Only 00:01.0 behind the IOMMU: 00:07.0 probes without waiting for it.
  Booted b({"pci-host-generic", "virtio_pci"}, false, board_dts("0x8 &viommu 0x8 0x1"));
  ASSERT_TRUE(b.ok) << b.dmesg();
  // A transitional virtio-net (1af4:1000) appears at 00:07.0.
  PciHostModel* host = b.k.platform().pci_hosts().at(0);
  auto legacy = std::make_shared<hw::pci::PciFunction>("legacy-net", 0x1af4, 0x1000, 0x020000,
                                                       modiommu::uapi::pci::HEADER_TYPE_NORMAL);
  ASSERT_TRUE(host->ecam().plug(0, modiommu::uapi::pci::devfn(7, 0), legacy).ok());
  ASSERT_TRUE(b.k.core().exclusive([&] { return b.k.pci().hosts().at(0)->rescan(); }).ok());
  b.k.core().process();
  Device* d = b.k.core().find_device("0000:00:07.0");
  ASSERT_NE(d, nullptr) << b.dmesg();
  EXPECT_EQ(d->driver(), nullptr);
  EXPECT_NE(b.dmesg().find("transitional virtio-pci device 1af4:1000"), std::string::npos) << b.dmesg();
  EXPECT_EQ(b.virtio_devices().size(), 1u) << "only the modern virtio-iommu";
}

// Hostile configuration space: a modern ID without the capabilities, or
// with a common configuration capability pointing past its BAR, is refused
// with a message naming what is missing; nothing is registered.
TEST(VirtioPciBoot, BrokenCapabilitiesAreRefused) {
  Booted b({"pci-host-generic", "virtio_pci"}, false, board_dts("0x8 &viommu 0x8 0x1"));
  ASSERT_TRUE(b.ok) << b.dmesg();
  PciHostModel* host = b.k.platform().pci_hosts().at(0);
  auto bare = std::make_shared<hw::pci::PciFunction>("bare", 0x1af4, 0x1041, 0x020000, modiommu::uapi::pci::HEADER_TYPE_NORMAL);
  auto outside = std::make_shared<hw::pci::PciFunction>("outside", 0x1af4, 0x1042, 0x010000,
                                                        modiommu::uapi::pci::HEADER_TYPE_NORMAL);
  outside->add_bar(4, 0x1000, true);
  outside->set_bar_address(4, 0x3e000000);
  // cap_len 16, COMMON, BAR 4, offset 0xfe0, length 0x3c: ends past 0x1000.
  const uint8_t common[14] = {16, uapi::virtio_pci::kCfgCommon, 4, 0, 0, 0, 0xe0, 0x0f, 0, 0, 0x3c, 0, 0, 0};
  ASSERT_NE(outside->add_capability(uapi::virtio_pci::kCapVendor, common), 0);
  ASSERT_TRUE(host->ecam().plug(0, modiommu::uapi::pci::devfn(7, 0), bare).ok());
  ASSERT_TRUE(host->ecam().plug(0, modiommu::uapi::pci::devfn(8, 0), outside).ok());
  ASSERT_TRUE(b.k.core().exclusive([&] { return b.k.pci().hosts().at(0)->rescan(); }).ok());
  b.k.core().process();
  for (const char* n : {"0000:00:07.0", "0000:00:08.0"}) {
    Device* d = b.k.core().find_device(n);
    ASSERT_NE(d, nullptr) << n << b.dmesg();
    EXPECT_EQ(d->driver(), nullptr) << n;
  }
  const std::string log = b.dmesg();
  EXPECT_NE(log.find("0000:00:07.0: no capability list"), std::string::npos) << log;
  EXPECT_NE(log.find("points outside BAR 4"), std::string::npos) << log;
  EXPECT_NE(log.find("0000:00:08.0: no usable common configuration capability"), std::string::npos) << log;
  EXPECT_EQ(b.virtio_devices().size(), 1u) << "only the real virtio-iommu";
}

}  // namespace
}  // namespace modiommu::vpcitest

namespace modiommu::vpcitest {
namespace {

// The whole chain from autoload: the host bridge finds 1af4:1057, which
// loads virtio_pci (and the virtio core); the virtio device (ID 23) loads
// virtio-iommu, which serves the host bridge's iommu-map; the DMA test
// functions then bind behind it and their DMA is translated.
TEST(VirtioPciBoot, AutoloadedChainTranslatesPciDma) {
  Booted b({"pci-host-generic"}, true);
  ASSERT_TRUE(b.ok) << b.dmesg();
  b.k.core().process();
  for (const char* m : {"virtio", "virtio_pci", "virtio_iommu"})
    EXPECT_NE(b.k.modules().find(m), nullptr) << m << "\n" << b.dmesg();
  auto vdevs = b.virtio_devices();
  ASSERT_EQ(vdevs.size(), 1u) << b.dmesg();
  ASSERT_NE(vdevs[0]->driver(), nullptr) << b.dmesg();
  EXPECT_EQ(vdevs[0]->driver()->name, "virtio-iommu");
  Device* dma = b.k.core().find_device("0000:00:01.0");
  ASSERT_NE(dma, nullptr);
  EXPECT_EQ(dma->state(), DeviceState::bound) << b.dmesg();
  auto info = b.k.iommu().info(*dma);
  ASSERT_TRUE(info) << b.dmesg();
  EXPECT_EQ(info->stream_ids, std::vector<uint32_t>{0x08});
  // A fault event travels the event queue and raises INTx (SPI 5); the
  // transport's handler reads the ISR (clearing it) and runs the queue.
  PciHostModel* host = b.k.platform().pci_hosts().at(0);
  auto model = std::dynamic_pointer_cast<hw::virtio::VirtioPci>(host->function(0x30)->fn);
  ASSERT_NE(model, nullptr);
  const uint64_t irqs = b.k.machine().irq(37).count();
  const uint64_t faults = std::dynamic_pointer_cast<hw::virtio::VirtioIommu>(
                              b.k.platform().translator(vdevs[0]->fwnode()))->stats().faults_reported;
  uint32_t word = 0;
  EXPECT_FALSE(host->port(0x08)->write(0xdead0000, &word, sizeof word).ok()) << "unmapped IOVA";
  EXPECT_EQ(std::dynamic_pointer_cast<hw::virtio::VirtioIommu>(b.k.platform().translator(vdevs[0]->fwnode()))
                ->stats().faults_reported, faults + 1);
  EXPECT_GT(b.k.machine().irq(37).count(), irqs) << b.dmesg();
  EXPECT_EQ(model->isr(), 0u) << "the handler read (and so cleared) the ISR";
  Status s = b.harness.with_endpoint(*dma, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 64 << 10); });
  EXPECT_TRUE(s.ok()) << s.error().str() << "\n" << b.dmesg();
  // rmmod of the transport: the DMA master is unbound first, then the
  // IOMMU, then the virtio device; nothing escaped.
  ASSERT_TRUE(b.k.modules().rmmod("virtio_pci").ok()) << b.dmesg();
  EXPECT_TRUE(b.virtio_devices().empty());
  EXPECT_NE(dma->state(), DeviceState::bound);
  hw::UpstreamPort* port = b.k.platform().pci_hosts().at(0)->port(0x08);
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->stats().escapes, 0u);
  // Reloading restores everything.
  ASSERT_TRUE(b.k.modules().modprobe("virtio_pci").ok()) << b.dmesg();
  b.k.core().process();
  EXPECT_EQ(dma->state(), DeviceState::bound) << b.dmesg();
  s = b.harness.with_endpoint(*dma, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::read, 16 << 10); });
  EXPECT_TRUE(s.ok()) << s.error().str() << "\n" << b.dmesg();
  EXPECT_EQ(port->stats().escapes, 0u);
}

// rmmod/modprobe of the transport while both DMA test functions run
// continuous DMA on their own threads: each cycle unbinds them (stopping
// their DMA) before the IOMMU and the virtio device go; nothing escapes.
TEST(VirtioPciBoot, TransportReloadUnderContinuousDma) {
  Booted b({"pci-host-generic"}, true);
  ASSERT_TRUE(b.ok) << b.dmesg();
  b.k.core().process();
  const char* masters[] = {"0000:00:01.0", "0000:01:01.0"};
  PciHostModel* host = b.k.platform().pci_hosts().at(0);
  for (int cycle = 0; cycle < 3; ++cycle) {
    for (const char* n : masters) {
      Device* d = b.k.core().find_device(n);
      ASSERT_NE(d, nullptr);
      ASSERT_EQ(d->state(), DeviceState::bound) << n << " cycle " << cycle << "\n" << b.dmesg();
      // One verified transfer first (so every cycle translated something,
      // whatever the DMA thread manages before the rmmod), then continuous.
      Status s = b.harness.with_endpoint(*d, [](DmaEndpoint& ep) { return ep.transfer(DmaXfer::write, 8192); });
      ASSERT_TRUE(s.ok()) << s.error().str();
      s = b.harness.with_endpoint(*d, [](DmaEndpoint& ep) { return ep.start(DmaXfer::write, 8192); });
      ASSERT_TRUE(s.ok()) << s.error().str();
    }
    ASSERT_TRUE(b.k.modules().rmmod("virtio_pci").ok()) << b.dmesg();
    for (const char* n : masters) EXPECT_NE(b.k.core().find_device(n)->state(), DeviceState::bound) << n;
    EXPECT_TRUE(b.virtio_devices().empty());
    ASSERT_TRUE(b.k.modules().modprobe("virtio_pci").ok()) << b.dmesg();
    b.k.core().process();
  }
  for (uint16_t rid : {uint16_t{0x08}, uint16_t{0x108}}) {
    EXPECT_EQ(host->port(rid)->stats().escapes, 0u) << rid;
    EXPECT_GT(host->port(rid)->stats().translated, 0u) << rid;
  }
}

// The QEMU virt tree as dumped (-device virtio-iommu-pci,addr=6): its only
// PCI child is the virtio-iommu, whose driver chain comes up by autoload.
TEST(VirtioPciBoot, QemuVirtVirtioIommuTreeBoots) {
  std::ifstream in(test::bundled_corpus_dir() + "/qemu-virt/virt-virtio-iommu.dts");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  Booted b({"pci-host-generic"}, true, ss.str());
  ASSERT_TRUE(b.ok) << b.dmesg();
  b.k.core().process();
  Device* fn = b.k.core().find_device("0000:00:06.0");
  ASSERT_NE(fn, nullptr) << b.dmesg();
  EXPECT_EQ(fn->fwnode()->path(), "/pcie@10000000/virtio_iommu@6,0");
  ASSERT_NE(fn->driver(), nullptr) << b.dmesg();
  EXPECT_EQ(fn->driver()->name, "virtio-pci");
  auto vdevs = b.virtio_devices();
  ASSERT_EQ(vdevs.size(), 1u) << b.dmesg();
  ASSERT_NE(vdevs[0]->driver(), nullptr) << b.dmesg();
  EXPECT_EQ(vdevs[0]->driver()->name, "virtio-iommu");
}

}  // namespace
}  // namespace modiommu::vpcitest
