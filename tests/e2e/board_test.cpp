// Sloppy real trees at board build (issue 15, section 4): overlapping RAM
// ranges are merged with a warning, as Linux's memblock does; a model
// whose registers wrap past 2^64, overlap RAM or overlap another model's
// is refused, naming both, and no driver can map them; a `ranges` window
// past 2^64 does not put a device at address 0.
#include <sstream>

#include "core/device.h"
#include "e2e_util.h"
#include "hw/memory.h"
#include "board/platform.h"
#include "of/tree.h"
#include "sim/harness.h"
#include "sim/scenario.h"

using namespace modiommu;

namespace {

struct Board {
  Kernel k{e2e::module_options({"dmatest"}, /*autoload=*/true)};
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  std::string errors, warnings;
  std::ostringstream out;
  sim::Scenario sc{k, out};
  explicit Board(const std::string& body) {
    k.log().set_sink([this](const LogEntry& e) {
      if (e.level == LogLevel::err) errors += e.format() + "\n";
      if (e.level == LogLevel::warn) warnings += e.format() + "\n";
    });
    auto t = of::Tree::from_dts(R"(/dts-v1/;
/ {
	compatible = "modiommu,virt";
	#address-cells = <2>;
	#size-cells = <2>;
	interrupt-parent = <&gic>;
	gic: interrupt-controller@8000000 {
		compatible = "arm,gic-v3";
		#interrupt-cells = <3>;
		interrupt-controller;
		reg = <0x0 0x8000000 0x0 0x10000>;
	};
)" + body + "\n};\n",
                                "board.dts");
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
    if (!t.ok()) return;
    Status s = k.boot(std::move(t).value());
    EXPECT_TRUE(s.ok()) << s.error().str();
    k.boot_complete();
  }
  void line(const std::string& l) {
    Status s = sc.run_line(l);
    EXPECT_TRUE(s.ok()) << l << ": " << (s.ok() ? "" : s.error().str()) << "\n" << out.str();
  }
  const of::Node* node(const std::string& path) { return k.platform().tree().find(path); }
  Device* device(const std::string& path) {
    const of::Node* n = node(path);
    EXPECT_NE(n, nullptr) << path;
    return n ? k.core().find_device_by_fwnode(n) : nullptr;
  }
};

void expect_has(const std::string& text, const std::string& what) {
  EXPECT_NE(text.find(what), std::string::npos) << "'" << what << "' not in:\n" << text;
}

const char* kSmmu = R"(
	smmu: iommu@9050000 {
		compatible = "arm,smmu-v3";
		reg = <0x0 0x9050000 0x0 0x20000>;
		interrupts = <0 74 1>, <0 79 1>;
		interrupt-names = "eventq", "gerror";
		dma-coherent;
		#iommu-cells = <1>;
	};
	memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
	dma@10000000 { compatible = "modiommu,dmatest"; reg = <0x0 0x10000000 0x0 0x1000>; iommus = <&smmu 0x10>; };
)";

// exynosautov920-sadk (Linux 6.12): one memory node, two ranges, the second
// starting inside the first.
TEST(Board, OverlappingRamRangesAreMergedWithAWarning) {
  Board b(R"(
	memory@80000000 {
		device_type = "memory";
		reg = <0x0 0x80000000 0x0 0x40000000>, <0x0 0xa0000000 0x0 0x60000000>, <0x8 0x80000000 0x0 0x10000000>;
	};
)");
  auto regions = b.k.machine().memory().regions();
  ASSERT_EQ(regions.size(), 2u);
  // [0x8000_0000, +1 GiB) and [0xa000_0000, +1.5 GiB) are one bank; the
  // third range stays apart.
  EXPECT_EQ(regions[0].base, 0x80000000u);
  EXPECT_EQ(regions[0].size, 0x80000000u);
  EXPECT_EQ(regions[1].base, 0x880000000u);
  EXPECT_EQ(regions[1].size, 0x10000000u);
  EXPECT_EQ(b.errors, "");
  expect_has(b.warnings, "memory: RAM [0xa0000000, 0xffffffff] of /memory@80000000 overlaps [0x80000000, 0xbfffffff]");
  expect_has(b.warnings, "merged into [0x80000000, 0xffffffff]");
  EXPECT_EQ(b.k.platform().kernel_ram_base(), 0x80000000u);
  EXPECT_EQ(b.k.platform().kernel_ram_size(), 0x80000000u);
}

TEST(Board, RamRangesOfTwoNodesThatOverlapAreMergedNamingBoth) {
  Board b(R"(
	memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
	memory@60000000 { device_type = "memory"; reg = <0x0 0x60000000 0x0 0x40000000>; };
)");
  auto regions = b.k.machine().memory().regions();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0].base, 0x40000000u);
  EXPECT_EQ(regions[0].size, 0x60000000u);
  EXPECT_EQ(regions[0].name, "/memory@40000000 + /memory@60000000");
  EXPECT_EQ(b.errors, "");
}

// Two SMMU nodes with one `reg`: the second has no model, its driver cannot
// map the first one's registers, and the first SMMU and its master work.
TEST(Board, SecondSmmuWithTheSameRegIsRefusedNamingBoth) {
  Board b(std::string(kSmmu) + R"(
	smmu2: smmu@9050000 {
		compatible = "arm,smmu-v3";
		reg = <0x0 0x9050000 0x0 0x20000>;
		dma-coherent;
		#iommu-cells = <1>;
	};
	dma@10001000 { compatible = "modiommu,dmatest"; reg = <0x0 0x10001000 0x0 0x1000>; iommus = <&smmu2 0x11>; };
)");
  const of::Node* dup = b.node("/smmu@9050000");
  ASSERT_NE(dup, nullptr);
  EXPECT_EQ(b.k.platform().model(dup), nullptr);
  const std::string* why = b.k.platform().refusal(dup);
  ASSERT_NE(why, nullptr);
  expect_has(*why, "/smmu@9050000");
  expect_has(*why, "overlap those of /iommu@9050000");
  expect_has(b.errors, *why);
  // No driver may program the first SMMU through the second node.
  Device* dd = b.device("/smmu@9050000");
  ASSERT_NE(dd, nullptr);
  EXPECT_NE(dd->state(), DeviceState::bound);
  auto io = b.k.ioremap(*dd);
  ASSERT_FALSE(io.ok());
  expect_has(io.error().message, "registers not mapped");
  expect_has(io.error().message, "/iommu@9050000");
  // The first SMMU is untouched: bound, its master translated, no command errors.
  b.line("expect device 9050000.iommu driver arm-smmu-v3");
  b.line("expect device 10000000.dma iommu 9050000.iommu");
  b.line("dma 10000000.dma write 64K");
  b.line("expect faults 10000000.dma 0");
  b.line("expect escapes 0");
  EXPECT_EQ(b.sc.expect_failures(), 0u) << b.out.str();
  EXPECT_EQ(b.errors.find("CERROR"), std::string::npos) << b.errors;
  EXPECT_EQ(b.warnings.find("CERROR"), std::string::npos) << b.warnings;
}

TEST(Board, SmmuRegsOverlappingRamAreRefused) {
  Board b(std::string(kSmmu) + R"(
	smmu2: iommu@40100000 { compatible = "arm,smmu-v3"; reg = <0x0 0x40100000 0x0 0x20000>; #iommu-cells = <1>; };
)");
  const of::Node* n = b.node("/iommu@40100000");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.k.platform().model(n), nullptr);
  const std::string* why = b.k.platform().refusal(n);
  ASSERT_NE(why, nullptr);
  expect_has(*why, "/iommu@40100000: smmu-v3 registers [0x40100000, +0x20000) overlap RAM");
  expect_has(*why, "/memory@40000000");
  Device* d = b.device("/iommu@40100000");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->state(), DeviceState::bound);
  EXPECT_FALSE(b.k.ioremap(*d).ok());
  // RAM is still RAM: the master behind the good SMMU moves data.
  b.line("dma 10000000.dma write 64K");
  EXPECT_EQ(b.sc.expect_failures(), 0u) << b.out.str();
}

TEST(Board, DmaMasterOverlappingAnSmmuIsRefusedNamingBoth) {
  Board b(std::string(kSmmu) + R"(
	dma@9060000 { compatible = "modiommu,dmatest"; reg = <0x0 0x9060000 0x0 0x1000>; };
)");
  const std::string* why = b.k.platform().refusal(b.node("/dma@9060000"));
  ASSERT_NE(why, nullptr);
  expect_has(*why, "/dma@9060000: dmatest registers [0x9060000, +0x1000) overlap those of /iommu@9050000");
  Device* d = b.device("/dma@9060000");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->state(), DeviceState::bound);
  b.line("expect device 9050000.iommu driver arm-smmu-v3");
  EXPECT_EQ(b.sc.expect_failures(), 0u) << b.out.str();
}

// base + size > 2^64: refused at board build, never probed (it used to
// probe, read all-ones and report "big-endian tables only").
TEST(Board, SmmuWhoseRegWrapsPast2To64IsRefused) {
  Board b(std::string(kSmmu) + R"(
	smmu2: iommu@fffffffffff00000 { compatible = "arm,smmu-v3"; reg = <0xffffffff 0xfff00000 0x0 0x200000>; #iommu-cells = <1>; };
)");
  const of::Node* n = b.node("/iommu@fffffffffff00000");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.k.platform().model(n), nullptr);
  const std::string* why = b.k.platform().refusal(n);
  ASSERT_NE(why, nullptr);
  expect_has(*why, "/iommu@fffffffffff00000: smmu-v3 registers [0xfffffffffff00000, +0x200000) wrap past 2^64");
  Device* d = b.device("/iommu@fffffffffff00000");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->state(), DeviceState::bound);
  auto io = b.k.ioremap(*d);
  ASSERT_FALSE(io.ok());
  expect_has(io.error().message, "wraps past 2^64");
  EXPECT_EQ((b.errors + b.warnings).find("big-endian"), std::string::npos) << b.errors << b.warnings;
}

// A PCI memory window over RAM would place BARs (MMIO) on RAM.
TEST(Board, PciMemoryWindowOverRamIsRefused) {
  Board b(R"(
	memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
	pcie@4010000000 {
		compatible = "pci-host-ecam-generic";
		device_type = "pci";
		reg = <0x40 0x10000000 0x0 0x1000000>;
		bus-range = <0x0 0xf>;
		#address-cells = <3>;
		#size-cells = <2>;
		ranges = <0x02000000 0x0 0x70000000 0x0 0x70000000 0x0 0x10000000>;
		dma@1,0 { compatible = "modiommu,dmatest-pci"; reg = <0x0800 0x0 0x0 0x0 0x0>; };
	};
)");
  expect_has(b.errors, "/pcie@4010000000: PCI memory window [0x70000000, 0x80000000) overlaps RAM [0x40000000, +0x40000000)");
  // The function got no BAR: nothing was mapped over RAM.
  EXPECT_FALSE(b.k.machine().bus().find(0x70000000).has_value());
  // Without its BAR the function is not plugged, and says why.
  expect_has(b.errors, "/pcie@4010000000/dma@1,0: ");
  EXPECT_EQ(b.k.core().find_device("0000:00:01.0"), nullptr);
}

// A bus whose `ranges` window runs past 2^64 used to translate its child
// to 0 ("0.dma", bound, DMA working).
TEST(Board, DeviceBehindARangesWindowPast2To64IsRefused) {
  Board b(R"(
	memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x40000000>; };
	bus {
		compatible = "simple-bus";
		#address-cells = <1>;
		#size-cells = <1>;
		ranges = <0x0 0xffffffff 0xfffff000 0x2000>;
		dma@1000 { compatible = "modiommu,dmatest"; reg = <0x1000 0x1000>; };
	};
)");
  EXPECT_EQ(b.k.core().find_device("0.dma"), nullptr);
  const of::Node* n = b.node("/bus/dma@1000");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(b.k.platform().model(n), nullptr);
  expect_has(b.errors, "/bus/dma@1000");
  expect_has(b.errors, "wraps past 2^64");
  if (Device* d = b.k.core().find_device_by_fwnode(n)) {
    EXPECT_NE(d->state(), DeviceState::bound);
    EXPECT_FALSE(b.k.ioremap(*d).ok());
  }
}

}  // namespace
