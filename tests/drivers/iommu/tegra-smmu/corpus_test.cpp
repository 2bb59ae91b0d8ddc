// Real Tegra trees (tegra210-p3450-0000 and tegra132-norrin in the bundled
// corpus; every Tegra tree in a larger one) boot with --generic-endpoints:
// every enabled nvidia,tegra{210,132,124}-mc node registers with tegra-smmu
// and every enabled master naming one (host1x children included) is
// attached behind it with the swgroup the tree gives.
#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/device.h"
#include "corpus_dir.h"
#include "corpus_trees.h"
#include "kernel/kernel.h"
#include "of/tree.h"
#include "test_paths.h"

namespace modiommu {
namespace {

bool tegra_mc(const of::Node& n) {
  return n.has("#iommu-cells") && (n.is_compatible("nvidia,tegra210-mc") || n.is_compatible("nvidia,tegra132-mc") ||
                                   n.is_compatible("nvidia,tegra124-mc"));
}

std::vector<std::filesystem::path> tegra_trees() { return test::corpus_trees_with(tegra_mc); }

TEST(TegraSmmuCorpus, TheMemoryControllerRegistersEveryMasterIsIsolated) {
  const auto trees = tegra_trees();
  ASSERT_GE(trees.size(), 2u) << "corpus missing at " << test::corpus_dir();
  size_t mcs = 0, masters = 0, children = 0;
  for (const auto& path : trees) {
    SCOPED_TRACE(path.string());
    KernelOptions o;
    o.generic_endpoints = true;
    o.module_dirs = {::modiommu::test_paths::modules_dir()};
    Kernel k(o);
    std::string errors;
    k.log().set_sink([&](const LogEntry& e) {
      if (e.level == LogLevel::err) errors += e.format() + "\n";
    });
    ASSERT_TRUE(k.boot(path.string()).ok());
    k.boot_complete();
    for (Device* d : k.core().devices()) {
      const of::Node* n = d->fwnode();
      if (!n || !n->available()) continue;
      if (tegra_mc(*n)) {
        ++mcs;
        EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
        EXPECT_EQ(d->driver() ? d->driver()->name : "", "tegra-smmu") << d->name();
        continue;
      }
      if (!n->has("iommus")) continue;
      auto list = of::iommus(*n);
      ASSERT_TRUE(list.ok());
      const of::Node* mc = nullptr;
      std::vector<uint32_t> ids;
      for (const auto& pa : *list)
        if (pa.target->available() && tegra_mc(*pa.target)) {
          mc = pa.target;
          ids.push_back(pa.args.at(0));
        }
      if (!mc) continue;
      ++masters;
      if (d->parent() && d->parent()->fwnode() && d->parent()->fwnode()->has("iommus")) ++children;
      Device* md = k.core().find_device_by_fwnode(mc);
      ASSERT_NE(md, nullptr);
      EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
      auto info = k.iommu().info(*d);
      ASSERT_TRUE(info) << d->name();
      EXPECT_EQ(info->iommu, md->name()) << d->name();
      EXPECT_EQ(info->stream_ids, ids) << d->name();
      EXPECT_TRUE(info->domain.has_value()) << d->name();
    }
    EXPECT_EQ(errors, "");
  }
  EXPECT_GE(mcs, 2u);
  EXPECT_GE(masters, 7u);  // the bundled two: 5 + 2 enabled masters
  EXPECT_GT(children, 0u);  // host1x's engines, populated by their parent
  std::printf("%zu trees, %zu Tegra SMMUs, %zu masters behind them (%zu host1x children)\n", trees.size(), mcs,
              masters, children);
}

}  // namespace
}  // namespace modiommu
