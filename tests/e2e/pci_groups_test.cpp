// IOMMU groups on the bundled PCI platforms, as Linux's pci_device_group()
// forms them, ports and bridges included: a root port with ACS isolates
// what is below it (a group each, the port alone), one without ACS shares
// its group with everything below it, a PCIe-to-PCI bridge shares its group
// with the functions it aliases. Under SMMUv3 and virtio-iommu alike, in
// the C++ API, the --json state and `check`'s master counts.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "host_json.h"
#include "e2e_util.h"
#include "report/check.h"
#include "iommu_groups.h"
#include "sim/harness.h"
#include "sim/scenario.h"

using namespace modiommu;

namespace {

using test::Groups;
using test::groups_of;
using test::show;

const Groups kBundled = {{"0000:00:01.0"},
                         {"0000:00:02.0"},  // root port with ACS: alone
                         {"0000:01:00.0"},
                         {"0000:01:01.0"},
                         {"0000:00:03.0", "0000:02:00.0", "0000:02:01.0"},   // root port without ACS
                         {"0000:00:04.0", "0000:03:01.0", "0000:03:02.0"}};  // PCIe-to-PCI bridge

struct Platform {
  const char* file;
  const char* iommu_module;
};
const Platform kPlatforms[] = {{"virt-pci-smmuv3.dts", "arm_smmu_v3"}, {"virt-pci-virtio-iommu.dts", "virtio_iommu"}};

struct Booted {
  Kernel k{e2e::module_options({"dmatest"}, /*autoload=*/true)};
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  std::ostringstream out;
  sim::Scenario sc{k, out};
  explicit Booted(const std::string& file) {
    Status s = k.boot(e2e::platform(file));
    EXPECT_TRUE(s.ok()) << s.error().str();
    k.boot_complete();
  }
  void line(const std::string& l) {
    Status s = sc.run_line(l);
    EXPECT_TRUE(s.ok()) << l << ": " << (s.ok() ? "" : s.error().str()) << "\n" << out.str();
  }
};

TEST(PciGroups, BundledPlatformsGroupPortsAndBridgesAsLinux) {
  for (const Platform& p : kPlatforms) {
    Booted r(p.file);
    EXPECT_EQ(groups_of(r.k), kBundled) << p.file << ": " << show(groups_of(r.k));
    for (const char* port : {"0000:00:02.0", "0000:00:03.0", "0000:00:04.0"})
      r.line(std::string("expect device ") + port + " driver pcieport");
    EXPECT_EQ(r.sc.expect_failures(), 0u) << p.file << "\n" << r.out.str();
  }
}

// A driverless function is grouped all the same (Linux probes the IOMMU at
// device add, not at bind), and stays so when its driver goes.
TEST(PciGroups, UnboundFunctionsKeepTheirGroups) {
  Booted r("virt-pci-smmuv3.dts");
  r.line("unbind 0000:02:01.0");
  r.line("unbind 0000:00:03.0");
  r.line("expect device 0000:02:01.0 state unbound");
  EXPECT_EQ(groups_of(r.k), kBundled) << show(groups_of(r.k));
  r.line("expect group 0000:02:01.0 shared-with 0000:00:03.0");
  r.line("dma 0000:02:00.0 write 64K");
  r.line("expect escapes 0");
  EXPECT_EQ(r.sc.expect_failures(), 0u) << r.out.str();
}

// No driver for the DMA functions at all (dmatest never loaded): Linux
// still groups them at device add, and so does this.
TEST(PciGroups, DriverlessFunctionsAreGroupedAtAdd) {
  Kernel k(e2e::module_options({"pci-host-generic", "arm-smmu-v3"}, /*autoload=*/false));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(e2e::platform("virt-pci-smmuv3.dts")).ok());
  k.boot_complete();
  EXPECT_EQ(k.core().find_device("0000:02:00.0")->state(), DeviceState::unbound);
  EXPECT_EQ(groups_of(k), kBundled) << show(groups_of(k));
}

// Multi-function devices without ACS (Linux's get_pci_function_alias_group()):
// the functions of one slot share a group, on the root bus and below a root
// port with ACS alike; a function in another slot stays alone.
TEST(PciGroups, FunctionsOfOneSlotShareWithoutAcs) {
  std::ifstream in(e2e::platform("virt-pci-smmuv3.dts"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dts = ss.str();
  const std::string root_fn = "dma@1,0 {";
  const std::string below_fn = "dma@0,0 {";
  ASSERT_NE(dts.find(root_fn), std::string::npos);
  dts.insert(dts.find(root_fn),
             "dma@1,1 { compatible = \"modiommu,dmatest-pci\"; reg = <0x0900 0x0 0x0 0x0 0x0>; };\n\t\t");
  ASSERT_NE(dts.find(below_fn), std::string::npos);
  dts.insert(dts.find(below_fn),
             "dma@0,1 { compatible = \"modiommu,dmatest-pci\"; reg = <0x10100 0x0 0x0 0x0 0x0>; };\n\t\t\t");
  auto tree = of::Tree::from_dts(dts, "multifunction.dts");
  ASSERT_TRUE(tree.ok()) << tree.error().str();
  Kernel k(e2e::module_options({"dmatest"}, /*autoload=*/true));
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(std::move(tree).value()).ok());
  k.boot_complete();
  Groups want = kBundled;
  want.erase({"0000:00:01.0"});
  want.erase({"0000:01:00.0"});
  want.insert({"0000:00:01.0", "0000:00:01.1"});
  want.insert({"0000:01:00.0", "0000:01:00.1"});
  EXPECT_EQ(groups_of(k), want) << show(groups_of(k));
  // Enumeration found function 1 (function 0 says multi-function) and it works.
  std::ostringstream out;
  sim::Scenario sc{k, out};
  EXPECT_TRUE(sc.run_line("dma 0000:00:01.1 write 64K").ok()) << out.str();
  EXPECT_TRUE(sc.run_line("dma 0000:01:00.1 read 64K").ok()) << out.str();
  EXPECT_TRUE(sc.run_line("expect escapes 0").ok()) << out.str();
  EXPECT_EQ(sc.expect_failures(), 0u) << out.str();
}

// --domain for a function below a root port without ACS: the port made the
// group first, with the global default; the function's request decides the
// whole group's type (Linux's iommu_get_default_domain_type()), under both
// IOMMUs, and the function's DMA runs in it.
TEST(PciGroups, DomainRequestOfAFunctionBelowAPortDecidesItsGroup) {
  for (const Platform& p : kPlatforms) {
    KernelOptions o = e2e::module_options({"dmatest"}, /*autoload=*/true);
    o.iommu.per_device["0000:02:00.0"] = iommu::DomainType::identity;
    Kernel k(o);
    sim::Harness harness{k};  // endpoints, escape accounting: before boot
    ASSERT_TRUE(k.boot(e2e::platform(p.file)).ok()) << p.file;
    k.boot_complete();
    std::ostringstream out;
    sim::Scenario sc{k, out};
    for (const char* l : {"expect device 0000:00:03.0 domain identity", "expect device 0000:02:00.0 domain identity",
                          "expect device 0000:02:01.0 domain identity", "expect device 0000:00:02.0 domain dma",
                          "expect device 0000:01:00.0 domain dma", "dma 0000:02:00.0 write 64K",
                          "dma 0000:01:00.0 write 64K", "expect escapes 0"})
      EXPECT_TRUE(sc.run_line(l).ok()) << p.file << ": " << l << "\n" << out.str();
    EXPECT_EQ(sc.expect_failures(), 0u) << p.file << "\n" << out.str();
    EXPECT_EQ(groups_of(k), kBundled) << p.file << ": " << show(groups_of(k));
  }
}

// Two functions of one group requesting different types: the group gets
// the global default, and the log names both (as Linux warns).
TEST(PciGroups, ConflictingDomainRequestsInOneGroupGiveTheDefault) {
  KernelOptions o = e2e::module_options({"dmatest"}, /*autoload=*/true);
  o.iommu.per_device["0000:02:00.0"] = iommu::DomainType::identity;
  o.iommu.per_device["0000:02:01.0"] = iommu::DomainType::blocked;
  Kernel k(o);
  sim::Harness harness{k};
  ASSERT_TRUE(k.boot(e2e::platform("virt-pci-smmuv3.dts")).ok());
  k.boot_complete();
  std::ostringstream out;
  sim::Scenario sc{k, out};
  for (const char* l : {"expect device 0000:02:00.0 domain dma", "expect device 0000:02:01.0 domain dma",
                        "dma 0000:02:01.0 write 64K", "expect escapes 0"})
    EXPECT_TRUE(sc.run_line(l).ok()) << l << "\n" << out.str();
  EXPECT_EQ(sc.expect_failures(), 0u) << out.str();
  EXPECT_EQ(k.log().count("needs a blocked domain, but 0000:02:00.0 in IOMMU group"), 1u);
}

// A request that arrives when the group is in use (a member bound by a
// driver that does DMA) does not pull the domain from under it.
TEST(PciGroups, DomainRequestDoesNotSwitchAGroupInUse) {
  KernelOptions o = e2e::module_options({"dmatest"}, /*autoload=*/true);
  o.iommu.per_device["0000:02:02.0"] = iommu::DomainType::identity;
  Kernel k(o);
  sim::Harness harness{k};
  ASSERT_TRUE(k.boot(e2e::platform("virt-pci-smmuv3.dts")).ok());
  k.boot_complete();
  std::ostringstream out;
  sim::Scenario sc{k, out};
  // 02:02.0 arrives by hotplug while 02:00.0 is bound and moving data.
  for (const char* l : {"dma-start 0000:02:00.0 write 64K", "hotplug add 0000:02:02.0 dmatest",
                        "expect group 0000:02:02.0 shared-with 0000:02:00.0", "expect device 0000:02:02.0 domain dma",
                        "dma-stop 0000:02:00.0", "dma 0000:02:02.0 write 64K", "expect escapes 0"})
    EXPECT_TRUE(sc.run_line(l).ok()) << l << "\n" << out.str();
  EXPECT_EQ(sc.expect_failures(), 0u) << out.str();
  EXPECT_EQ(k.log().count("keeps its dma domain, not identity: in use (0000:02:00.0, 0000:02:01.0 bound)"),
            1u);
}

// rmmod of the IOMMU driver under DMA: consumers (ports included) first,
// every group released, nothing untranslated; reload restores the same groups.
TEST(PciGroups, GroupsGoWithTheIommuModuleAndComeBack) {
  for (const Platform& p : kPlatforms) {
    Booted r(p.file);
    r.line("dma-start 0000:02:00.0 write 64K");
    r.line("unbind 0000:02:01.0");  // driverless: in its group without a link
    r.line(std::string("rmmod ") + p.iommu_module);
    EXPECT_TRUE(groups_of(r.k).empty()) << p.file << ": " << show(groups_of(r.k));
    r.line("expect device 0000:00:03.0 state deferred");
    r.line("expect device 0000:02:01.0 iommu none");
    r.line("expect escapes 0");
    bool released_loudly = false;
    for (const auto& e : r.k.log().entries())
      if (e.level == LogLevel::err) released_loudly = true;
    EXPECT_FALSE(released_loudly) << p.file << ": unbound group members are released quietly";
    r.line(std::string("modprobe ") + p.iommu_module);
    EXPECT_EQ(groups_of(r.k), kBundled) << p.file << ": " << show(groups_of(r.k));
    r.line("expect device 0000:00:03.0 driver pcieport");
    r.line("dma 0000:02:00.0 write 64K");
    r.line("expect escapes 0");
    EXPECT_EQ(r.sc.expect_failures(), 0u) << p.file << "\n" << r.out.str();
  }
}

TEST(PciGroups, HotplugBehindABridgeJoinsTheBridgesGroup) {
  for (const Platform& p : kPlatforms) {
    Booted r(p.file);
    r.line("hotplug add 0000:03:03.0 dmatest");
    r.line("hotplug add 0000:01:02.0 dmatest");
    Groups want = kBundled;
    want.erase({"0000:00:04.0", "0000:03:01.0", "0000:03:02.0"});
    want.insert({"0000:00:04.0", "0000:03:01.0", "0000:03:02.0", "0000:03:03.0"});
    want.insert({"0000:01:02.0"});  // below the ACS port: alone
    EXPECT_EQ(groups_of(r.k), want) << p.file << ": " << show(groups_of(r.k));
    r.line("hotplug remove 0000:03:03.0");
    r.line("hotplug remove 0000:01:02.0");
    EXPECT_EQ(groups_of(r.k), kBundled) << p.file << ": " << show(groups_of(r.k));
    EXPECT_EQ(r.sc.expect_failures(), 0u) << p.file << "\n" << r.out.str();
  }
}

// The --json state: a port's iommu_group is its endpoints'.
TEST(PciGroups, JsonGivesPortsTheirGroup) {
  for (const Platform& p : kPlatforms) {
    auto state = modiommu::testing::run_host_json(e2e::binary_dir(), "boot " + e2e::platform(p.file) + " --preload dmatest");
    ASSERT_FALSE(state.is_discarded()) << p.file;
    std::map<std::string, nlohmann::json> by_name;
    for (const auto& d : state["devices"]) by_name[d["name"].get<std::string>()] = d;
    for (const char* n : {"0000:00:03.0", "0000:00:04.0", "0000:02:00.0", "0000:03:01.0"})
      ASSERT_TRUE(by_name[n]["iommu_group"].is_number()) << p.file << " " << n;
    EXPECT_EQ(by_name["0000:00:03.0"]["iommu_group"], by_name["0000:02:00.0"]["iommu_group"]) << p.file;
    EXPECT_EQ(by_name["0000:00:04.0"]["iommu_group"], by_name["0000:03:01.0"]["iommu_group"]) << p.file;
    EXPECT_NE(by_name["0000:00:02.0"]["iommu_group"], by_name["0000:01:00.0"]["iommu_group"]) << p.file;
    EXPECT_EQ(by_name["0000:00:03.0"]["driver"], "pcieport") << p.file;
  }
}

// `check` counts PCI functions as masters (bridges are not), each with its
// outcome: the virtio-iommu function is a master outside the map.
TEST(PciGroups, CheckCountsPciMasters) {
  KernelOptions ko = e2e::module_options({}, /*autoload=*/true);
  {
    report::TreeCheck r = report::check_tree(e2e::platform("virt-pci-smmuv3.dts"), ko);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.topo.masters.size(), 7u);
    for (const auto& m : r.topo.masters) {
      EXPECT_EQ(m.outcome, report::Outcome::isolated) << m.path;
      EXPECT_EQ(m.declared.size(), m.path.rfind("0000:03:", 0) == 0 ? 2u : 1u) << m.path;  // + the bridge alias
    }
    report::CheckSummary s = report::summarise({r});
    EXPECT_EQ(s.masters, 7u);
    EXPECT_EQ(s.masters_isolated, 7u);
  }
  {
    report::TreeCheck r = report::check_tree(e2e::platform("virt-pci-virtio-iommu.dts"), ko);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.topo.masters.size(), 8u);
    size_t isolated = 0, outside = 0;
    for (const auto& m : r.topo.masters) {
      isolated += m.outcome == report::Outcome::isolated;
      if (m.path == "0000:00:06.0") {
        ++outside;
        EXPECT_EQ(m.outcome, report::Outcome::not_behind);
        EXPECT_TRUE(m.declared.empty());
      }
    }
    EXPECT_EQ(isolated, 7u);
    EXPECT_EQ(outside, 1u);
  }
}

}  // namespace
