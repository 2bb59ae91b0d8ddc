// The QEMU virt trees of the shared corpus (qemu-virt/) boot with their PCI
// endpoints declared as children of the host bridge, as the corpus README
// says the machines had them (DMA test functions in place of virtio-net and
// virtio-blk): 00:02.0, 00:03.0, 01:00.0 behind the root port 00:04.0,
// 02:00.0 behind the root port 00:05.0. With the real modules and autoload,
// each tree's IOMMU (none, SMMUv3, virtio-iommu-pci) translates what its
// iommu-map says, verified by DMA with zero escapes.
#include <fstream>
#include <sstream>

#include "corpus_dir.h"
#include "e2e_util.h"
#include "sim/scenario.h"

using namespace modiommu;

namespace {

const char* kChildren = R"(
		dma@2,0 { compatible = "modiommu,dmatest-pci"; reg = <0x1000 0x0 0x0 0x0 0x0>; };
		dma@3,0 { compatible = "modiommu,dmatest-pci"; reg = <0x1800 0x0 0x0 0x0 0x0>; };
		pcie@4,0 {
			compatible = "pciclass,0604"; reg = <0x2000 0x0 0x0 0x0 0x0>;
			#address-cells = <3>; #size-cells = <2>;
			dma@0,0 { compatible = "modiommu,dmatest-pci"; reg = <0x10000 0x0 0x0 0x0 0x0>; };
		};
		pcie@5,0 {
			compatible = "pciclass,0604"; reg = <0x2800 0x0 0x0 0x0 0x0>;
			#address-cells = <3>; #size-cells = <2>;
			dma@0,0 { compatible = "modiommu,dmatest-pci"; reg = <0x20000 0x0 0x0 0x0 0x0>; };
		};
)";

// The corpus tree with the endpoints added as the host bridge's children.
std::unique_ptr<of::Tree> with_endpoints(const std::string& file) {
  std::ifstream f(test::bundled_corpus_dir() + "/qemu-virt/" + file);
  EXPECT_TRUE(f.good()) << file;
  std::stringstream ss;
  ss << f.rdbuf();
  std::string dts = ss.str();
  const std::string anchor = "compatible = \"pci-host-ecam-generic\";";
  const size_t at = dts.find(anchor);
  EXPECT_NE(at, std::string::npos) << file;
  if (at == std::string::npos) return nullptr;
  // Children go after the bridge's properties; dtc wants properties first,
  // and in these trees `compatible` is the bridge's last property.
  dts.insert(at + anchor.size(), kChildren);
  auto t = of::Tree::from_dts(dts, file);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
  return t.ok() ? std::move(t).value() : nullptr;
}

struct Booted {
  Kernel k{e2e::module_options({"dmatest"}, /*autoload=*/true)};
  std::ostringstream out;
  sim::Scenario sc{k, out};
  explicit Booted(const std::string& file) {
    auto t = with_endpoints(file);
    if (!t) return;
    Status s = k.boot(std::move(t));
    EXPECT_TRUE(s.ok()) << s.error().str();
    k.boot_complete();
  }
  void line(const std::string& l) {
    Status s = sc.run_line(l);
    EXPECT_TRUE(s.ok()) << l << ": " << (s.ok() ? "" : s.error().str()) << "\n" << out.str();
  }
};

const char* kEndpoints[] = {"0000:00:02.0", "0000:00:03.0", "0000:01:00.0", "0000:02:00.0"};

void every_endpoint_moves_data(Booted& r, const std::string& iommu) {
  for (const char* ep : kEndpoints) {
    r.line(std::string("expect device ") + ep + " driver dmatest-pci");
    r.line(std::string("expect device ") + ep + " iommu " + iommu);
    r.line(std::string("dma ") + ep + " write 64K");
    r.line(std::string("dma ") + ep + " read 64K");
  }
  r.line("expect escapes 0");
  EXPECT_EQ(r.sc.expect_failures(), 0u) << r.out.str();
}

TEST(QemuVirt, NoIommuTreeBootsItsEndpointsUntranslated) {
  Booted r("virt-noiommu.dts");
  every_endpoint_moves_data(r, "none");
}

TEST(QemuVirt, SmmuV3TreeTranslatesEveryEndpoint) {
  Booted r("virt-smmuv3.dts");
  r.line("expect module arm_smmu_v3 live");
  every_endpoint_moves_data(r, "9050000.smmuv3");
  // Root ports without ACS: each endpoint is alone below its own port.
  r.line("expect group 0000:01:00.0 alone");
  r.line("expect group 0000:02:00.0 alone");
  EXPECT_EQ(r.sc.expect_failures(), 0u) << r.out.str();
}

TEST(QemuVirt, VirtioIommuTreeTranslatesEveryEndpointButItself) {
  Booted r("virt-virtio-iommu.dts");
  // The whole chain came by autoload: host bridge, transport, driver.
  r.line("expect module pci_host_generic live");
  r.line("expect module virtio_pci live");
  r.line("expect module virtio_iommu live");
  r.line("expect device virtio0 driver virtio-iommu");
  // The virtio-iommu function's own requester ID (0x30) is left out of the map.
  r.line("expect device 0000:00:06.0 iommu none");
  every_endpoint_moves_data(r, "virtio0");
}

}  // namespace
