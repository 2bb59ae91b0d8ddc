// Real trees with sun50i IOMMUs (the H6 boards in the bundled corpus; every
// one in the larger corpus) boot with --generic-endpoints: every enabled
// allwinner,sun50i-h6-iommu / -h616-iommu node registers with sun50i-iommu
// (the module, autoloaded by alias) and every enabled master naming one is
// attached behind it with the master ID its cell gives, in a default
// domain: isolated.
#include <algorithm>
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

bool sun50i_node(const of::Node& n) {
  return n.is_compatible("allwinner,sun50i-h6-iommu") || n.is_compatible("allwinner,sun50i-h616-iommu");
}

std::vector<std::filesystem::path> sun50i_trees() { return test::corpus_trees_with(sun50i_node); }

TEST(Sun50iIommuCorpus, EveryIommuRegistersEveryMasterIsIsolated) {
  const auto trees = sun50i_trees();
  ASSERT_GE(trees.size(), test::large_corpus() ? 5u : 1u) << "corpus missing at " << test::corpus_dir();
  size_t iommus = 0, masters = 0;
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
      if (sun50i_node(*n)) {
        ++iommus;
        EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
        EXPECT_EQ(d->driver() ? d->driver()->name : "", "sun50i-iommu") << d->name();
        continue;
      }
      if (!n->has("iommus")) continue;
      auto list = of::iommus(*n);
      ASSERT_TRUE(list.ok());
      const of::Node* mmu = nullptr;
      std::vector<uint32_t> ids;
      for (const auto& pa : *list)
        if (pa.target->available() && sun50i_node(*pa.target)) {
          mmu = pa.target;
          ASSERT_EQ(pa.args.size(), 1u);
          ids.push_back(pa.args[0]);
        }
      if (!mmu) continue;
      ++masters;
      Device* md = k.core().find_device_by_fwnode(mmu);
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
  // The bundled H6 tree (beelink-gs1): one IOMMU, three masters (display
  // mixer 0, video engine, G2 decoder: IDs 0, 3, 5).
  EXPECT_GE(iommus, trees.size());
  EXPECT_GT(masters, test::large_corpus() ? 10u : 2u);
  std::printf("%zu trees, %zu sun50i IOMMUs, %zu masters behind them\n", trees.size(), iommus, masters);
}

}  // namespace
}  // namespace modiommu
