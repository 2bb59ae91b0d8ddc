// The MediaTek trees' check: Debian's 6.1 arm64 package (the corpus) has no
// MediaTek trees, so this runs over the bundled trees that reproduce the
// real node shapes (platforms/mt8183-like.dts and mt8195-like.dts, after
// Linux's mt8183.dtsi and mt8195.dtsi):
// booting with --generic-endpoints and the mtk_iommu module autoloaded,
// every enabled master whose `iommus` names an M4U ends up behind it with
// the port IDs of its specifiers, and nothing logs an error.
#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>

#include "core/device.h"
#include "kernel/kernel.h"
#include "module/loader.h"
#include "of/tree.h"
#include "test_paths.h"

namespace modiommu {
namespace {

bool mtk_node(const of::Node& n) {
  for (const auto& c : n.compatible())
    if (c.starts_with("mediatek,mt") && (c.ends_with("-m4u") || c.find("-iommu-") != std::string::npos)) return true;
  return false;
}

TEST(MtkIommuCorpus, EveryMasterBehindItsM4uWithTheTreesPortIds) {
  size_t masters = 0;
  for (const char* tree : {"/platforms/mt8183-like.dts", "/platforms/mt8195-like.dts"}) {
    const std::string path = test_paths::source_dir() + tree;
    SCOPED_TRACE(path);
    KernelOptions o;
    o.generic_endpoints = true;
    o.module_dirs = {test_paths::modules_dir()};
    Kernel k(o);
    std::string errors;
    k.log().set_sink([&](const LogEntry& e) {
      if (e.level == LogLevel::err) errors += e.format() + "\n";
    });
    ASSERT_TRUE(k.boot(path).ok());
    k.boot_complete();
    auto mod = k.modules().find("mtk_iommu");
    ASSERT_TRUE(mod) << "mtk_iommu not autoloaded";
    for (Device* d : k.core().devices()) {
      const of::Node* n = d->fwnode();
      if (!n || !n->available() || !n->has("iommus")) continue;
      auto list = of::iommus(*n);
      ASSERT_TRUE(list.ok());
      std::vector<uint32_t> want;
      const of::Node* m4u = nullptr;
      for (const auto& pa : *list) {
        if (!pa.target->available() || !mtk_node(*pa.target)) continue;
        m4u = pa.target;
        if (std::find(want.begin(), want.end(), pa.args.at(0)) == want.end()) want.push_back(pa.args.at(0));
      }
      if (!m4u) continue;
      ++masters;
      Device* md = k.core().find_device_by_fwnode(m4u);
      ASSERT_NE(md, nullptr);
      EXPECT_EQ(md->state(), DeviceState::bound) << md->name();
      EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
      auto info = k.iommu().info(*d);
      ASSERT_TRUE(info) << d->name();
      EXPECT_EQ(info->iommu, md->name()) << d->name();
      EXPECT_EQ(info->stream_ids, want) << d->name();
      EXPECT_TRUE(info->domain.has_value()) << d->name();
    }
    EXPECT_EQ(errors, "");
  }
  EXPECT_GE(masters, 6u);
  std::printf("%zu masters behind MediaTek M4Us\n", masters);
}

}  // namespace
}  // namespace modiommu
