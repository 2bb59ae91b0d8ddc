// The QEMU virt trees of the shared corpus (qemu-virt/) boot with their PCI
// endpoints declared as children of the host bridge, as the corpus README
// says the machines had them (DMA test functions in place of virtio-net and
// virtio-blk): 00:02.0, 00:03.0, 01:00.0 behind the root port 00:04.0,
// 02:00.0 behind the root port 00:05.0. With the real modules and autoload,
// each tree's IOMMU (none, SMMUv3, virtio-iommu-pci) translates what its
// iommu-map says, verified by DMA with zero escapes.
#include <fstream>
#include <set>
#include <sstream>

#include "corpus_dir.h"
#include "e2e_util.h"
#include "report/check.h"
#include "iommu_groups.h"
#include "sim/harness.h"
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

// The corpus tree's source with the endpoints added as the host bridge's
// children ("" if the tree is not there).
std::string dts_with_endpoints(const std::string& file) {
  std::ifstream f(test::bundled_corpus_dir() + "/qemu-virt/" + file);
  EXPECT_TRUE(f.good()) << file;
  std::stringstream ss;
  ss << f.rdbuf();
  std::string dts = ss.str();
  const std::string anchor = "compatible = \"pci-host-ecam-generic\";";
  const size_t at = dts.find(anchor);
  EXPECT_NE(at, std::string::npos) << file;
  if (at == std::string::npos) return "";
  // Children go after the bridge's properties; dtc wants properties first,
  // and in these trees `compatible` is the bridge's last property.
  dts.insert(at + anchor.size(), kChildren);
  return dts;
}

std::unique_ptr<of::Tree> with_endpoints(const std::string& file) {
  const std::string dts = dts_with_endpoints(file);
  if (dts.empty()) return nullptr;
  auto t = of::Tree::from_dts(dts, file);
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
  return t.ok() ? std::move(t).value() : nullptr;
}

struct Booted {
  Kernel k{e2e::module_options({"dmatest"}, /*autoload=*/true)};
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  std::ostringstream out;
  sim::Scenario sc{k, out};
  explicit Booted(const std::string& file) : Booted(with_endpoints(file)) {}
  explicit Booted(std::unique_ptr<of::Tree> t) {
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

using test::Groups;
using test::groups_of;
using test::show;

// What real Linux 6.12 formed on these machines (iommu_probe_device at
// device add; root ports without ACS share with their endpoints), under
// SMMUv3 and virtio-iommu alike. The host bridge function 00:00.0 is not
// modelled here.
const Groups kLinuxGroups = {{"0000:00:02.0"},
                             {"0000:00:03.0"},
                             {"0000:00:04.0", "0000:01:00.0"},
                             {"0000:00:05.0", "0000:02:00.0"}};

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
  // Root ports without ACS share their endpoint's group, as on Linux.
  r.line("expect group 0000:01:00.0 shared-with 0000:00:04.0");
  r.line("expect group 0000:02:00.0 shared-with 0000:00:05.0");
  EXPECT_EQ(r.sc.expect_failures(), 0u) << r.out.str();
  EXPECT_EQ(groups_of(r.k), kLinuxGroups) << show(groups_of(r.k));
}

TEST(QemuVirt, PortsAreBoundByPcieportOnBothIommus) {
  for (const char* file : {"virt-smmuv3.dts", "virt-virtio-iommu.dts"}) {
    Booted r(file);
    for (const char* port : {"0000:00:04.0", "0000:00:05.0"}) {
      r.line(std::string("expect device ") + port + " driver pcieport");
      r.line(std::string("expect device ") + port + " iommu " + (std::string(file) == "virt-smmuv3.dts" ? "9050000.smmuv3" : "virtio0"));
    }
    EXPECT_EQ(r.sc.expect_failures(), 0u) << file << "\n" << r.out.str();
  }
}

TEST(QemuVirt, VirtioIommuGroupsAreLinuxs) {
  Booted r("virt-virtio-iommu.dts");
  // The virtio-iommu function itself (RID 0x30, outside the map) is in no group.
  EXPECT_EQ(groups_of(r.k), kLinuxGroups) << show(groups_of(r.k));
  // ... and the log says why, naming the function, its RID and the map.
  bool logged = false;
  for (const auto& e : r.k.log().entries())
    if (e.level == LogLevel::info && e.subject == "0000:00:06.0" &&
        e.message.find("requester ID 0x0030 is outside every entry of /pcie@10000000's iommu-map (0x0-0x2f -> "
                   "/pcie@10000000/virtio_iommu@6,0, 0x31-0xffff -> /pcie@10000000/virtio_iommu@6,0)") !=
            std::string::npos)
      logged = true;
  EXPECT_TRUE(logged);
}

// `check --masters` lists the PCI functions as masters: the four endpoints
// isolated (ports are not masters), the virtio-iommu function not behind
// an IOMMU (its RID is outside the map).
TEST(QemuVirt, CheckCountsThePciMasters) {
  struct Case {
    const char* file;
    size_t masters;
  };
  for (const Case& c : {Case{"virt-noiommu.dts", 4}, Case{"virt-smmuv3.dts", 4}, Case{"virt-virtio-iommu.dts", 5}}) {
    const std::string path = ::testing::TempDir() + "/endpoints-" + c.file;
    {
      std::ofstream out(path);
      out << dts_with_endpoints(c.file);
    }
    report::TreeCheck r = report::check_tree(path, e2e::module_options({}, /*autoload=*/true));
    ASSERT_TRUE(r.ok()) << c.file << ": " << r.error;
    EXPECT_EQ(r.topo.masters.size(), c.masters) << c.file;
    size_t isolated = 0;
    for (const auto& m : r.topo.masters) {
      isolated += m.outcome == report::Outcome::isolated;
      EXPECT_TRUE(m.path != "0000:00:04.0" && m.path != "0000:00:05.0") << "a port counted as a master";
      if (m.path == "0000:00:06.0") {
        EXPECT_EQ(m.outcome, report::Outcome::not_behind);
        EXPECT_EQ(m.tree_note, "requester ID 0x0030 is outside the iommu-map of /pcie@10000000");
      }
    }
    EXPECT_EQ(isolated, std::string(c.file) == "virt-noiommu.dts" ? 0u : 4u) << c.file;
    EXPECT_EQ(report::summarise({r}).masters, c.masters) << c.file;
  }
}

// rmmod of the IOMMU module: consumers (ports included) are unbound first,
// every group goes, nothing is left untranslated; the module comes back and
// so do the same groups.
TEST(QemuVirt, GroupsGoWithTheIommuAndComeBackWithIt) {
  struct Case {
    const char* file;
    const char* module;
  };
  for (const Case& c : {Case{"virt-smmuv3.dts", "arm_smmu_v3"}, Case{"virt-virtio-iommu.dts", "virtio_iommu"}}) {
    Booted r(c.file);
    ASSERT_EQ(groups_of(r.k), kLinuxGroups) << c.file << ": " << show(groups_of(r.k));
    r.line("dma-start 0000:01:00.0 write 64K");
    r.line(std::string("rmmod ") + c.module);
    EXPECT_TRUE(groups_of(r.k).empty()) << c.file << ": " << show(groups_of(r.k));
    for (const char* d : {"0000:00:04.0", "0000:01:00.0"}) {
      r.line(std::string("expect device ") + d + " state deferred");
      r.line(std::string("expect device ") + d + " iommu none");
    }
    r.line("expect escapes 0");
    r.line(std::string("modprobe ") + c.module);
    EXPECT_EQ(groups_of(r.k), kLinuxGroups) << c.file << ": " << show(groups_of(r.k));
    r.line("expect device 0000:00:04.0 driver pcieport");
    r.line("dma 0000:01:00.0 read 64K");
    r.line("expect escapes 0");
    EXPECT_EQ(r.sc.expect_failures(), 0u) << c.file << "\n" << r.out.str();
  }
}

// Hotplug below a root port without ACS joins the port's group; removal
// leaves it; the group of the port is intact throughout.
TEST(QemuVirt, HotplugBelowAPortKeepsGroupsRight) {
  Booted r("virt-smmuv3.dts");
  r.line("hotplug add 0000:01:01.0 dmatest");
  Groups want = kLinuxGroups;
  want.erase({"0000:00:04.0", "0000:01:00.0"});
  want.insert({"0000:00:04.0", "0000:01:00.0", "0000:01:01.0"});
  EXPECT_EQ(groups_of(r.k), want) << show(groups_of(r.k));
  r.line("dma 0000:01:01.0 write 64K");
  r.line("hotplug remove 0000:01:01.0");
  EXPECT_EQ(groups_of(r.k), kLinuxGroups) << show(groups_of(r.k));
  r.line("hotplug remove 0000:01:00.0");
  EXPECT_EQ(groups_of(r.k), (Groups{{"0000:00:02.0"}, {"0000:00:03.0"}, {"0000:00:04.0"}, {"0000:00:05.0", "0000:02:00.0"}}))
      << show(groups_of(r.k));
  r.line("expect escapes 0");
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
