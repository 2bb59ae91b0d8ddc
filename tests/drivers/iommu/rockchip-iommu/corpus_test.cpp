// Real trees with Rockchip IOMMUs (px30, rk3399, rk3566 in the bundled
// corpus; every Rockchip tree in the larger one) boot with
// --generic-endpoints: every enabled rockchip,iommu / rockchip,rk3568-iommu
// node registers with rk_iommu and every enabled master naming one is
// attached behind it (ID 0, a default domain: isolated).
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

bool rk_iommu_node(const of::Node& n) {
  return n.is_compatible("rockchip,iommu") || n.is_compatible("rockchip,rk3568-iommu");
}

std::vector<std::filesystem::path> rk_trees() { return test::corpus_trees_with(rk_iommu_node); }

TEST(RockchipIommuCorpus, EveryIommuRegistersEveryMasterIsIsolated) {
  const auto trees = rk_trees();
  ASSERT_GE(trees.size(), test::large_corpus() ? 10u : 3u) << "corpus missing at " << test::corpus_dir();
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
      if (rk_iommu_node(*n)) {
        ++iommus;
        EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
        EXPECT_EQ(d->driver() ? d->driver()->name : "", "rk_iommu") << d->name();
        continue;
      }
      if (!n->has("iommus")) continue;
      auto list = of::iommus(*n);
      ASSERT_TRUE(list.ok());
      const of::Node* mmu = nullptr;
      for (const auto& pa : *list)
        if (pa.target->available() && rk_iommu_node(*pa.target)) mmu = pa.target;
      if (!mmu) continue;
      ++masters;
      Device* md = k.core().find_device_by_fwnode(mmu);
      ASSERT_NE(md, nullptr);
      EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
      auto info = k.iommu().info(*d);
      ASSERT_TRUE(info) << d->name();
      EXPECT_EQ(info->iommu, md->name()) << d->name();
      EXPECT_EQ(info->stream_ids, std::vector<uint32_t>{0}) << d->name();
      EXPECT_TRUE(info->domain.has_value()) << d->name();
    }
    EXPECT_EQ(errors, "");
  }
  // The bundled trees: 14 IOMMUs, 9 enabled masters.
  EXPECT_GT(iommus, test::large_corpus() ? 100u : 10u);
  EXPECT_GT(masters, test::large_corpus() ? 100u : 8u);
  std::printf("%zu trees, %zu Rockchip IOMMUs, %zu masters behind them\n", trees.size(), iommus, masters);
}

}  // namespace
}  // namespace modiommu
