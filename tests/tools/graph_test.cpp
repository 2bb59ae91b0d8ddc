// graph: the structure of the generated dot on the default platform
// (clusters per IOMMU and group, nodes, link edges, legend), and a render.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "report/graph.h"
#include "sim/harness.h"
#include "sim/scenario.h"
#include "tools_util.h"

using namespace modiommu;
using namespace modiommu::tools_test;

namespace {

struct Booted {
  Kernel k{options(true, false)};
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  Booted() {
    EXPECT_TRUE(k.boot(source_dir() + "/platforms/virt-smmuv3.dts").ok());
    k.boot_complete();
  }
};

TEST(Graph, DotStructure) {
  Booted b;
  const std::string dot = report::emit_dot(b.k);
  ASSERT_TRUE(dot.starts_with("digraph modiommu {")) << dot;
  // Every device is a node, exactly once.
  const auto devs = b.k.core().devices();
  for (size_t i = 0; i < devs.size(); ++i)
    EXPECT_EQ(count_of(dot, fmt::format(" d{} [label=\"{}", i, devs[i]->name())), 1u) << devs[i]->name();
  // One IOMMU cluster; one group cluster per IOMMU group, inside it.
  EXPECT_EQ(count_of(dot, "subgraph cluster_iommu"), 1u);
  const auto groups = b.k.iommu().group_snapshots();
  ASSERT_FALSE(groups.empty());
  EXPECT_EQ(count_of(dot, "subgraph cluster_group"), groups.size());
  const auto iommu_at = dot.find("subgraph cluster_iommu0");
  for (const auto& g : groups) {
    const auto at = dot.find(fmt::format("subgraph cluster_group{} ", g.id));
    EXPECT_GT(at, iommu_at);
  }
  // Each DMA master sits in its group's cluster (after it in the text, before the next).
  for (const auto& g : groups)
    for (const auto& m : g.members) {
      const auto at = dot.find(fmt::format("subgraph cluster_group{} ", g.id));
      const auto node = dot.find(m.name, at);
      const auto next = dot.find("    }", at);
      EXPECT_LT(node, next) << m.name;
    }
  // One edge per device link.
  EXPECT_EQ(count_of(dot, " -> "), b.k.core().links().size());
  EXPECT_NE(dot.find("  legend [shape=plaintext"), std::string::npos);
  EXPECT_NE(dot.find("fillcolor=palegreen"), std::string::npos);
  // Module ownership in the labels.
  EXPECT_NE(dot.find("module arm_smmu_v3"), std::string::npos);
  EXPECT_NE(dot.find("module dmatest"), std::string::npos);
  EXPECT_EQ(std::count(dot.begin(), dot.end(), '{'), std::count(dot.begin(), dot.end(), '}'));
}

TEST(Graph, RendersPngAndSvgThroughGraphviz) {
  Booted b;
  auto dir = temp_dir("graph");
  const std::string png = (dir / "virt.png").string();
  ASSERT_TRUE(report::write_graph(b.k, png).ok());
  std::ifstream f(png, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  sim::Scenario sc(b.k, std::cout);
  const std::string svg = (dir / "virt.svg").string();
  ASSERT_TRUE(sc.run_line("graph " + svg).ok());
  std::ifstream s(svg);
  std::stringstream ss;
  ss << s.rdbuf();
  EXPECT_NE(ss.str().find("<svg"), std::string::npos);
  EXPECT_NE(ss.str().find("10000000.dma"), std::string::npos);
  EXPECT_FALSE(report::write_graph(b.k, (dir / "x.txt").string()).ok());
  std::filesystem::remove_all(dir);
}

TEST(Graph, CliWritesDot) {
  auto dir = temp_dir("graph-cli");
  const std::string out = (dir / "g.dot").string();
  Ran r = run(host() + " graph " + source_dir() + "/platforms/virt-smmuv3.dts -o " + out);
  ASSERT_EQ(r.status, 0);
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_TRUE(ss.str().starts_with("digraph modiommu {"));
  EXPECT_NE(ss.str().find("cluster_group"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

TEST(Graph, MastersWaitingForTheirIommuSitInItsCluster) {
  KernelOptions o = options(/*autoload=*/false, false);
  o.preload = {"dmatest"};
  Kernel k(o);
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(source_dir() + "/platforms/virt-smmuv3.dts").ok());
  k.boot_complete();
  const std::string dot = report::emit_dot(k);
  const auto iommu = dot.find("subgraph cluster_iommu0");
  const auto detached = dot.find("subgraph cluster_detached0");
  const auto bus = dot.find("subgraph cluster_bus");
  ASSERT_NE(detached, std::string::npos) << dot;
  EXPECT_GT(detached, iommu);
  EXPECT_EQ(count_of(dot, "(not registered)"), 1u);
  for (const char* m : {"10000000.dma", "10001000.dma", "10002000.dma", "10003000.dma"}) {
    const auto at = dot.find(std::string("[label=\"") + m);
    EXPECT_GT(at, detached) << m;
    EXPECT_LT(at, bus) << m;  // not among the plain bus devices
  }
  EXPECT_EQ(count_of(dot, "fillcolor=gold"), 4u);
}

}  // namespace

namespace {

// PCI: a root port without ACS and a PCIe-to-PCI bridge are drawn inside
// the group box of the functions below them (they are members, as in Linux).
TEST(Graph, PciPortsSitInTheirGroupBox) {
  KernelOptions o = options(/*autoload=*/true, false);
  o.preload = {"dmatest"};
  Kernel k(o);
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  ASSERT_TRUE(k.boot(source_dir() + "/platforms/virt-pci-smmuv3.dts").ok());
  k.boot_complete();
  const std::string dot = report::emit_dot(k);
  for (const auto& [port, below] : {std::pair{"0000:00:03.0", "0000:02:01.0"}, std::pair{"0000:00:04.0", "0000:03:02.0"}}) {
    auto info = k.iommu().info(*k.core().find_device(port));
    ASSERT_TRUE(info && info->group >= 0) << port;
    EXPECT_EQ(info->group, k.iommu().info(*k.core().find_device(below))->group) << port;
    const auto box = dot.find(fmt::format("subgraph cluster_group{} ", info->group));
    ASSERT_NE(box, std::string::npos) << dot;
    const auto end = dot.find("    }\n", box);
    const auto at = dot.find(std::string("[label=\"") + port);
    EXPECT_GT(at, box) << port;
    EXPECT_LT(at, end) << port;
  }
}

}  // namespace

// render_dot draws a topology snapshot and nothing else: a hand-made one
// (no kernel) gives its IOMMU cluster, group box, link and firmware edges.
TEST(Graph, RendersAHandMadeTopologyWithoutAKernel) {
  report::Topology t;
  t.source = "hand.dts";
  report::IommuReport smmu;
  smmu.path = "/smmu@1";
  smmu.kind = "arm-smmu-v3";
  smmu.registered = true;
  t.iommus.push_back(smmu);
  report::IommuReport absent;
  absent.path = "/iommu@2";
  absent.kind = "unknown";
  absent.enabled = false;
  t.iommus.push_back(absent);
  report::DeviceView iommu_dev;
  iommu_dev.name = "1.smmu";
  iommu_dev.state = DeviceState::bound;
  iommu_dev.driver = "arm-smmu-v3";
  iommu_dev.iommu = 0;
  report::DeviceView master;
  master.name = "3.dma";
  master.state = DeviceState::bound;
  master.named_iommu = 0;
  master.refs.push_back({0, "/smmu@1", true, "StreamID 0x3"});
  master.refs.push_back({-1, "/iommu@2", false, "cells 0x7"});
  t.devices = {iommu_dev, master};
  t.links.push_back({1, 0, LinkKind::managed, LinkState::active, "iommus"});
  t.groups.push_back({4, 0, "dma", {1}});
  const std::string dot = report::render_dot(t);
  EXPECT_NE(dot.find("label=\"hand.dts\""), std::string::npos) << dot;
  const auto cluster = dot.find("subgraph cluster_iommu0 {\n    label=\"IOMMU 1.smmu [arm-smmu-v3]\"");
  const auto group = dot.find("subgraph cluster_group4 {\n      label=\"group 4: dma domain\"");
  const auto in_group = dot.find("d1 [label=\"3.dma");
  ASSERT_NE(cluster, std::string::npos) << dot;
  ASSERT_NE(group, std::string::npos) << dot;
  EXPECT_GT(group, cluster);
  EXPECT_GT(in_group, group);
  EXPECT_NE(dot.find("d1 -> d0 [label=\"iommus (active)\", style=solid, color=darkgreen]"), std::string::npos) << dot;
  // The linked reference draws no second edge; the absent IOMMU gets a note.
  EXPECT_EQ(count_of(dot, "d1 -> d0"), 1u) << dot;
  EXPECT_NE(dot.find("n_0 [label=\"/iommu@2\\ndisabled\", shape=note"), std::string::npos) << dot;
  EXPECT_NE(dot.find("d1 -> n_0 [label=\"iommus: cells 0x7\", style=dotted, color=red]"), std::string::npos) << dot;
}
