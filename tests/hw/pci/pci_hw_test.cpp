// The PCI hardware models driven through ECAM, as an OS enumerates: empty
// slots, IDs and class, BAR sizing, capability and extended-capability
// walks (PCIe port type, ACS), bridge bus numbers, hotplug, bad accesses.
#include <random>

#include <gtest/gtest.h>

#include "hw/dmatest.h"
#include "hw/memory.h"
#include "uapi/pci_regs.h"
#include "hw/pci/ecam.h"
#include "hw/pci/function.h"

namespace modiommu::hw::pci {
namespace {

using namespace modiommu::uapi::pci;

uint64_t ecam_off(unsigned bus, unsigned dev, unsigned fn, unsigned reg) {
  return uint64_t{bus} << 20 | uint64_t{dev} << 15 | uint64_t{fn} << 12 | reg;
}

class PciHw : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(0x40000000, 16 << 20).ok());
    dmatest = std::make_shared<DmaTest>("dt", mem, 4096);
    ASSERT_TRUE(ecam.plug(0, devfn(1, 0), make_root_port("rp-acs", true)).ok());
    ASSERT_TRUE(ecam.plug(0, devfn(2, 0), make_root_port("rp", false)).ok());
    ASSERT_TRUE(ecam.plug(1, devfn(0, 0), make_endpoint("ep", kDmaTestVendor, kDmaTestDevice, kDmaTestClass, dmatest)).ok());
    ASSERT_TRUE(ecam.plug(2, devfn(0, 0), make_pcie_to_pci_bridge("p2p")).ok());
  }
  uint32_t cfg(unsigned bus, unsigned dev, unsigned fn, unsigned reg, unsigned size = 4) {
    return static_cast<uint32_t>(ecam.read(ecam_off(bus, dev, fn, reg), size));
  }
  void cfgw(unsigned bus, unsigned dev, unsigned fn, unsigned reg, uint32_t v, unsigned size = 4) {
    ecam.write(ecam_off(bus, dev, fn, reg), v, size);
  }
  // Walks the capability list for `id`; 0 if absent (and never loops).
  unsigned find_cap(unsigned bus, unsigned dev, uint8_t id) {
    if (!(cfg(bus, dev, 0, STATUS, 2) & STATUS_CAP_LIST)) return 0;
    unsigned at = cfg(bus, dev, 0, CAPABILITY_LIST, 1);
    for (int guard = 0; at && guard < 48; ++guard) {
      if (cfg(bus, dev, 0, at, 1) == id) return at;
      at = cfg(bus, dev, 0, at + 1, 1);
    }
    return 0;
  }
  unsigned find_ext_cap(unsigned bus, unsigned dev, uint16_t id) {
    unsigned at = EXT_CAP_START;
    for (int guard = 0; at && guard < 64; ++guard) {
      const uint32_t h = cfg(bus, dev, 0, at);
      if (h == 0 || h == 0xffffffffu) return 0;
      if ((h & 0xffff) == id) return at;
      at = h >> 20;
    }
    return 0;
  }

  PhysicalMemory mem;
  std::shared_ptr<DmaTest> dmatest;
  PciEcam ecam{"pcie@10000000", 0, 15};
};

TEST_F(PciHw, EmptySlotsReadAllOnes) {
  EXPECT_EQ(cfg(0, 0, 0, VENDOR_ID), 0xffffffffu);
  EXPECT_EQ(cfg(3, 0, 0, VENDOR_ID, 2), 0xffffu);
  EXPECT_EQ(ecam.window_size(), 16u << 20);
  // Beyond the bus range: nothing there either.
  EXPECT_EQ(ecam.read(ecam_off(16, 0, 0, 0), 4), 0xffffffffu);
}

TEST_F(PciHw, IdsClassAndHeaderType) {
  EXPECT_EQ(cfg(1, 0, 0, VENDOR_ID, 2), kDmaTestVendor);
  EXPECT_EQ(cfg(1, 0, 0, DEVICE_ID, 2), kDmaTestDevice);
  EXPECT_EQ(cfg(1, 0, 0, REVISION) >> 8, kDmaTestClass);
  EXPECT_EQ(cfg(1, 0, 0, HEADER_TYPE, 1), HEADER_TYPE_NORMAL);
  EXPECT_EQ(cfg(0, 1, 0, HEADER_TYPE, 1), HEADER_TYPE_BRIDGE);
  EXPECT_EQ(cfg(0, 1, 0, CLASS_DEVICE, 2), 0x0604u);
  // IDs are read-only.
  cfgw(1, 0, 0, VENDOR_ID, 0xdead, 2);
  EXPECT_EQ(cfg(1, 0, 0, VENDOR_ID, 2), kDmaTestVendor);
}

TEST_F(PciHw, BarSizingAndAssignment) {
  auto ep = ecam.function(1, devfn(0, 0));
  ASSERT_TRUE(ep);
  ep->set_bar_address(0, 0x8000201000);
  EXPECT_EQ(ep->bar_address(0), 0x8000201000u);
  EXPECT_EQ(cfg(1, 0, 0, BAR0), 0x00201000u | BAR_MEM_TYPE_64);
  // The sizing protocol: write ones, read the mask, restore.
  cfgw(1, 0, 0, BAR0, 0xffffffff);
  cfgw(1, 0, 0, BAR0 + 4, 0xffffffff);
  EXPECT_EQ(cfg(1, 0, 0, BAR0), 0xfffff000u | BAR_MEM_TYPE_64);
  EXPECT_EQ(cfg(1, 0, 0, BAR0 + 4), 0xffffffffu);
  cfgw(1, 0, 0, BAR0, 0x00201000);
  cfgw(1, 0, 0, BAR0 + 4, 0x80);
  EXPECT_EQ(ep->bar_address(0), 0x8000201000u);
  EXPECT_EQ(ep->bar0_device, dmatest);
  // No BAR 1..5 on this function: they read zero and stay zero.
  cfgw(1, 0, 0, BAR0 + 12, 0xffffffff);
  EXPECT_EQ(cfg(1, 0, 0, BAR0 + 12), 0u);
}

TEST_F(PciHw, PcieCapabilityGivesThePortType) {
  for (auto [bus, dev, type] : {std::tuple{0u, 1u, PortType::root_port}, std::tuple{0u, 2u, PortType::root_port},
                                std::tuple{1u, 0u, PortType::endpoint}, std::tuple{2u, 0u, PortType::pcie_to_pci_bridge}}) {
    const unsigned at = find_cap(bus, dev, CAP_ID_EXP);
    ASSERT_NE(at, 0u) << bus << ":" << dev;
    EXPECT_EQ((cfg(bus, dev, 0, at + EXP_FLAGS, 2) >> 4) & 0xf, static_cast<unsigned>(type)) << bus << ":" << dev;
  }
}

TEST_F(PciHw, AcsOnlyWhereConfigured) {
  const unsigned at = find_ext_cap(0, 1, EXT_CAP_ID_ACS);
  ASSERT_NE(at, 0u);
  const uint32_t cap = cfg(0, 1, 0, at + ACS_CAP, 2), ctrl = cfg(0, 1, 0, at + ACS_CTRL, 2);
  EXPECT_EQ(cap & ACS_REQUIRED, ACS_REQUIRED);
  EXPECT_EQ(ctrl & ACS_REQUIRED, ACS_REQUIRED);
  // The OS may turn controls off; capabilities stay.
  cfgw(0, 1, 0, at + ACS_CTRL, 0, 2);
  EXPECT_EQ(cfg(0, 1, 0, at + ACS_CTRL, 2), 0u);
  EXPECT_EQ(cfg(0, 1, 0, at + ACS_CAP, 2), cap);
  EXPECT_EQ(find_ext_cap(0, 2, EXT_CAP_ID_ACS), 0u);
  EXPECT_EQ(find_ext_cap(2, 0, EXT_CAP_ID_ACS), 0u);
}

TEST_F(PciHw, BridgeBusNumbersAreWritable) {
  cfgw(0, 1, 0, PRIMARY_BUS, 0x0a0100, 4);  // primary 0, secondary 1, subordinate 10
  EXPECT_EQ(cfg(0, 1, 0, SECONDARY_BUS, 1), 1u);
  EXPECT_EQ(cfg(0, 1, 0, SUBORDINATE_BUS, 1), 0x0au);
  // An endpoint has no such registers: writes there are ignored.
  cfgw(1, 0, 0, SECONDARY_BUS, 5, 1);
  EXPECT_EQ(cfg(1, 0, 0, SECONDARY_BUS, 1), 0u);
}

TEST_F(PciHw, StatusIsReadOnlyButForItsWriteOneToClearBits) {
  auto ep = ecam.function(1, devfn(0, 0));
  // COMMAND is the OS's; in STATUS only the error bits react to writes (W1C).
  ep->config_write(COMMAND, COMMAND_MEMORY | COMMAND_MASTER, 2);
  EXPECT_EQ(cfg(1, 0, 0, COMMAND, 2), COMMAND_MEMORY | COMMAND_MASTER);
  const uint32_t before = cfg(1, 0, 0, STATUS, 2);
  cfgw(1, 0, 0, STATUS, 0xffff, 2);  // W1C on bits that are clear: no change to the rest
  EXPECT_EQ(cfg(1, 0, 0, STATUS, 2), before & ~0xf900u);
  EXPECT_TRUE(cfg(1, 0, 0, STATUS, 2) & STATUS_CAP_LIST);  // read-only bit survives
}

TEST_F(PciHw, HotplugAndSlotErrors) {
  auto fn = make_endpoint("hp", kDmaTestVendor, kDmaTestDevice, kDmaTestClass, nullptr);
  EXPECT_EQ(ecam.plug(1, devfn(0, 0), fn).error().code, Errc::exist);
  EXPECT_EQ(ecam.plug(16, 0, fn).error().code, Errc::range);
  ASSERT_TRUE(ecam.plug(1, devfn(3, 0), fn).ok());
  EXPECT_EQ(cfg(1, 3, 0, VENDOR_ID, 2), kDmaTestVendor);
  EXPECT_EQ(ecam.unplug(1, devfn(3, 0)), fn);
  EXPECT_EQ(cfg(1, 3, 0, VENDOR_ID, 2), 0xffffu);
  EXPECT_EQ(ecam.unplug(1, devfn(3, 0)), nullptr);
  EXPECT_EQ(ecam.functions().size(), 4u);
}

TEST_F(PciHw, BadAccessesAreHarmless) {
  EXPECT_EQ(cfg(1, 0, 0, 1, 2), 0xffffffffu);   // misaligned
  EXPECT_EQ(cfg(1, 0, 0, 0, 3), 0xffffffffu);   // bad size
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const uint64_t off = rng() % ecam.window_size();
    const unsigned size = 1u << (rng() % 4);
    ecam.write(off & ~uint64_t{size - 1}, rng(), size);
    (void)ecam.read(rng() % ecam.window_size(), 1u << (rng() % 4));
  }
  // IDs survive the storm.
  EXPECT_EQ(cfg(1, 0, 0, VENDOR_ID, 2), kDmaTestVendor);
  EXPECT_EQ(cfg(0, 1, 0, HEADER_TYPE, 1), HEADER_TYPE_BRIDGE);
}

}  // namespace
}  // namespace modiommu::hw::pci
