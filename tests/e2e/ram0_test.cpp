// RAM at physical address 0 (issue 15, section 2). The page allocator hands
// out its lowest free block first, so on platforms/virt-ram0.dts the first
// IOMMU driver to probe gets PA 0 for its first structure. That driver must
// work, and must free PA 0 again on rmmod (0 is not "nothing allocated").
// Also hip07-d05 (RAM at 0, four SMMUv3s): the corpus tree when the corpus
// has it, and always a tree of the same shape.
#include <filesystem>
#include <sstream>

#include "core/device.h"
#include "corpus_dir.h"
#include "e2e_util.h"
#include "hw/mmio.h"
#include "mm/page_alloc.h"
#include "of/tree.h"
#include "sim/harness.h"
#include "sim/scenario.h"

using namespace modiommu;

namespace {

constexpr uint64_t kSmmuV3 = 0x49050000;
constexpr uint64_t kCmdqBase = 0x90;                       // IHI 0070 6.3.25 SMMU_CMDQ_BASE
constexpr uint64_t kQueueAddr = 0x000fffffffffffe0ull;  // SMMU_CMDQ_BASE.ADDR [51:5]

struct Ram0 {
  Kernel k{e2e::module_options({"dmatest"})};
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  std::ostringstream out;
  sim::Scenario sc{k, out};
  Ram0() {
    Status s = k.boot(e2e::platform("virt-ram0.dts"));
    EXPECT_TRUE(s.ok()) << s.error().str();
    k.boot_complete();
  }
  void line(const std::string& l) {
    Status s = sc.run_line(l);
    EXPECT_TRUE(s.ok()) << l << ": " << (s.ok() ? "" : s.error().str()) << "\n" << out.str();
  }
  uint64_t cmdq_base() { return k.machine().bus().read64(kSmmuV3 + kCmdqBase) & kQueueAddr; }
};

TEST(Ram0, PlatformRamStartsAtZeroAndNothingIsAllocatedBeforeTheDrivers) {
  Ram0 r;
  EXPECT_EQ(r.k.platform().kernel_ram_base(), 0u);
  EXPECT_EQ(r.k.pages().base(), 0u);
  EXPECT_TRUE(r.k.pages().is_free(0));
  EXPECT_EQ(r.k.pages().stats().allocated_pages, 0u);
}

TEST(Ram0, SmmuV3CommandQueueAtPa0WorksAndIsFreedOnUnload) {
  Ram0 r;
  r.line("modprobe arm-smmu-v3");
  r.line("expect device 49050000.iommu driver arm-smmu-v3");
  // The first allocation of the first driver: the command queue, at PA 0.
  EXPECT_EQ(r.cmdq_base(), 0u);
  EXPECT_FALSE(r.k.pages().is_free(0));
  r.line("expect device 50000000.dma iommu 49050000.iommu");
  r.line("dma 50000000.dma write 64K");
  r.line("dma-start 50000000.dma read 64K");
  r.line("rmmod arm-smmu-v3");
  r.line("expect escapes 0");
  EXPECT_TRUE(r.k.pages().is_free(0)) << "the command queue at PA 0 was not freed";
  // Reloaded: PA 0 is the lowest free block again, and it works again.
  r.line("modprobe arm-smmu-v3");
  EXPECT_EQ(r.cmdq_base(), 0u);
  r.line("expect device 50000000.dma state bound");
  r.line("dma 50000000.dma write 1M");
  r.line("expect faults 50000000.dma 0");
  EXPECT_EQ(r.sc.expect_failures(), 0u) << r.out.str();
}

TEST(Ram0, SmmuV2PageTableAtPa0WorksAndIsFreedOnUnload) {
  Ram0 r;
  r.line("modprobe arm-smmu");
  r.line("expect device 50002000.dma iommu 49100000.iommu");
  EXPECT_FALSE(r.k.pages().is_free(0));
  r.line("dma 50002000.dma write 64K");
  r.line("dma-start 50003000.dma read 64K");
  r.line("rmmod arm-smmu");
  r.line("expect escapes 0");
  EXPECT_TRUE(r.k.pages().is_free(0)) << "the arm-smmu structure at PA 0 was not freed";
  r.line("modprobe arm-smmu");
  r.line("dma 50002000.dma read 1M");
  EXPECT_EQ(r.sc.expect_failures(), 0u) << r.out.str();
}

TEST(Ram0, VirtioIommuRingAtDmaAddress0WorksAndIsFreedOnUnload) {
  Ram0 r;
  // virtio-mmio itself is behind no IOMMU: its rings' DMA address is their
  // PA, so the first ring sits at DMA address 0.
  r.line("modprobe virtio_iommu");
  r.line("expect device virtio0 driver virtio-iommu");
  EXPECT_FALSE(r.k.pages().is_free(0));
  r.line("expect device 50004000.dma iommu virtio0");
  r.line("dma 50004000.dma write 64K");
  r.line("dma-start 50005000.dma read 64K");
  r.line("rmmod virtio_mmio");
  r.line("expect escapes 0");
  EXPECT_TRUE(r.k.pages().is_free(0)) << "the virtqueue at PA 0 was not freed";
  r.line("modprobe virtio_mmio");
  r.line("dma 50004000.dma read 1M");
  EXPECT_EQ(r.sc.expect_failures(), 0u) << r.out.str();
}

// Every SMMUv3 of a tree is bound and registered, every enabled master
// that names one is attached to it, and nothing logged an error.
void every_smmuv3_and_master_attached(Kernel& k, const std::string& errors, size_t want_smmus) {
  size_t smmus = 0, masters = 0;
  for (Device* d : k.core().devices()) {
    const of::Node* n = d->fwnode();
    if (!n || !n->available()) continue;
    if (n->is_compatible("arm,smmu-v3")) {
      ++smmus;
      EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
      continue;
    }
    if (!n->has("iommus")) continue;
    auto refs = of::iommus(*n);
    ASSERT_TRUE(refs.ok());
    const of::Node* smmu = nullptr;
    for (const auto& ref : *refs)
      if (ref.target->available() && ref.target->is_compatible("arm,smmu-v3")) smmu = ref.target;
    if (!smmu) continue;
    ++masters;
    EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
    auto info = k.iommu().info(*d);
    ASSERT_TRUE(info) << d->name();
    Device* sd = k.core().find_device_by_fwnode(smmu);
    ASSERT_NE(sd, nullptr);
    EXPECT_EQ(info->iommu, sd->name()) << d->name();
  }
  EXPECT_EQ(smmus, want_smmus);
  EXPECT_GT(masters, 0u);
  EXPECT_EQ(errors, "");
}

KernelOptions generic_options() {
  KernelOptions o = e2e::module_options({}, /*autoload=*/true);
  o.generic_endpoints = true;
  return o;
}

TEST(Ram0, Hip07D05FromTheCorpusBootsWithEverySmmuV3AndMaster) {
  const std::string path = test::bundled_corpus_dir() + "/dtb-linux-6.1/hisilicon/hip07-d05.dtb";
  Kernel k(generic_options());
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  std::string errors;
  k.log().set_sink([&](const LogEntry& e) {
    if (e.level == LogLevel::err) errors += e.format() + "\n";
  });
  ASSERT_TRUE(k.boot(path).ok());
  k.boot_complete();
  EXPECT_EQ(k.pages().base(), 0u);
  every_smmuv3_and_master_attached(k, errors, 4);
}

// The shape of hip07-d05: RAM from PA 0, MMIO above it, four SMMUv3s
// signalling by MSI (no wired interrupts), a crypto engine and other
// masters behind them, one SMMU on the second socket (above 2^42).
const char* kHip07Shape = R"(/dts-v1/;
/ {
	compatible = "modiommu,hip07-shape";
	#address-cells = <2>;
	#size-cells = <2>;
	memory@0 { device_type = "memory"; reg = <0x0 0x0 0x0 0x40000000>; };
	soc {
		compatible = "simple-bus";
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;
		smmu0: iommu@a0040000 { compatible = "arm,smmu-v3"; reg = <0x0 0xa0040000 0x0 0x20000>; dma-coherent; #iommu-cells = <1>; };
		smmu1: iommu@c0040000 { compatible = "arm,smmu-v3"; reg = <0x0 0xc0040000 0x0 0x20000>; dma-coherent; #iommu-cells = <1>; };
		smmu2: iommu@d0040000 { compatible = "arm,smmu-v3"; reg = <0x0 0xd0040000 0x0 0x20000>; dma-coherent; #iommu-cells = <1>; };
		smmu3: iommu@400a0040000 { compatible = "arm,smmu-v3"; reg = <0x400 0xa0040000 0x0 0x20000>; dma-coherent; #iommu-cells = <1>; };
		crypto@d2000000 { compatible = "hisilicon,hip07-sec"; reg = <0x0 0xd2000000 0x0 0x10000>; dma-coherent; iommus = <&smmu0 0x600>; };
		sas@a2000000 { compatible = "hisilicon,hip07-sas-v2"; reg = <0x0 0xa2000000 0x0 0x10000>; dma-coherent; iommus = <&smmu0 0x0>; };
		ethernet@c7000000 { compatible = "hisilicon,hns-dsaf-v2"; reg = <0x0 0xc7000000 0x0 0x600000>; dma-coherent; iommus = <&smmu1 0x10>; };
		sas@c3000000 { compatible = "hisilicon,hip07-sas-v2"; reg = <0x0 0xc3000000 0x0 0x10000>; dma-coherent; iommus = <&smmu2 0x40>; };
		crypto@400d2000000 { compatible = "hisilicon,hip07-sec"; reg = <0x400 0xd2000000 0x0 0x10000>; dma-coherent; iommus = <&smmu3 0x600>; };
	};
};
)";

TEST(Ram0, Hip07ShapedTreeBootsWithEverySmmuV3AndMasterAndAQueueAtPa0) {
  auto t = of::Tree::from_dts(kHip07Shape, "hip07-shape.dts");
  ASSERT_TRUE(t.ok()) << t.error().str();
  Kernel k(generic_options());
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  std::string errors;
  k.log().set_sink([&](const LogEntry& e) {
    if (e.level == LogLevel::err) errors += e.format() + "\n";
  });
  ASSERT_TRUE(k.boot(std::move(t).value()).ok());
  k.boot_complete();
  every_smmuv3_and_master_attached(k, errors, 4);
  // Exactly one SMMU (the first to probe) has its command queue at PA 0.
  size_t at0 = 0;
  for (uint64_t base : {0xa0040000ull, 0xc0040000ull, 0xd0040000ull, 0x400a0040000ull})
    if ((k.machine().bus().read64(base + kCmdqBase) & kQueueAddr) == 0) ++at0;
  EXPECT_EQ(at0, 1u);
}

}  // namespace
