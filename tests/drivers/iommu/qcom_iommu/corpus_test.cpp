// Issue 18's real-tree check for the Qualcomm MSM IOMMU: every corpus tree
// with a qcom,msm-iommu-v1 node boots with --generic-endpoints and the
// qcom_iommu module; every enabled IOMMU registers once its context bank
// children are bound; every populated, enabled master behind one is
// attached with the context banks the tree names (its `iommus` cells).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>

#include "core/device.h"
#include "corpus_dir.h"
#include "corpus_trees.h"
#include "kernel/kernel.h"
#include "module/loader.h"
#include "of/tree.h"
#include "test_paths.h"

namespace modiommu {
namespace {

bool qcom_node(const of::Node& n) { return n.is_compatible("qcom,msm-iommu-v1"); }

std::vector<std::filesystem::path> qcom_trees() { return test::corpus_trees_with(qcom_node); }

struct Counts {
  size_t masters = 0, attached = 0, iommus = 0, banks = 0;
};

Counts check_tree(const std::filesystem::path& path) {
  Counts c;
  KernelOptions o;
  o.generic_endpoints = true;
  o.autoload = false;
  o.module_dirs = {::modiommu::test_paths::modules_dir()};
  Kernel k(o);
  std::string errors;
  k.log().set_sink([&](const LogEntry& e) {
    if (e.level == LogLevel::err) errors += e.format() + "\n";
  });
  EXPECT_TRUE(k.boot(path.string()).ok());
  Status s = k.modules().modprobe("qcom_iommu", {});
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().str());
  k.boot_complete();
  for (Device* d : k.core().devices()) {
    const of::Node* n = d->fwnode();
    if (!n || !n->available()) continue;
    if (qcom_node(*n)) {
      ++c.iommus;
      EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
      EXPECT_NE(k.iommu().find_iommu(n), nullptr) << d->name() << " not registered";
      continue;
    }
    if (n->is_compatible("qcom,msm-iommu-v1-ns") || n->is_compatible("qcom,msm-iommu-v1-sec")) {
      ++c.banks;
      EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
      continue;
    }
    if (!n->has("iommus")) continue;
    auto list = of::iommus(*n);
    EXPECT_TRUE(list.ok());
    if (!list.ok()) continue;
    std::vector<uint32_t> want;
    const of::Node* mmu = nullptr;
    for (const auto& pa : *list) {
      if (!pa.target->available() || !qcom_node(*pa.target)) continue;
      mmu = pa.target;
      if (std::find(want.begin(), want.end(), pa.args.at(0)) == want.end()) want.push_back(pa.args.at(0));
    }
    if (!mmu) continue;
    ++c.masters;
    EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
    auto info = k.iommu().info(*d);
    EXPECT_TRUE(info.has_value()) << d->name();
    if (!info) continue;
    Device* md = k.core().find_device_by_fwnode(mmu);
    EXPECT_EQ(info->iommu, md ? md->name() : "?") << d->name();
    EXPECT_EQ(info->stream_ids, want) << d->name();
    EXPECT_TRUE(info->domain.has_value()) << d->name();
    if (info->iommu == (md ? md->name() : "?") && info->domain) ++c.attached;
  }
  EXPECT_EQ(errors, "") << path;
  return c;
}

TEST(QcomIommuCorpus, EveryMsmIommuRegistersAndEveryMasterAttachesWithItsBanks) {
  const auto trees = qcom_trees();
  ASSERT_GE(trees.size(), 2u) << "corpus missing at " << test::corpus_dir();
  Counts total;
  for (const auto& path : trees) {
    SCOPED_TRACE(path.string());
    const Counts c = check_tree(path);
    total.masters += c.masters;
    total.attached += c.attached;
    total.iommus += c.iommus;
    total.banks += c.banks;
    EXPECT_GT(c.iommus, 0u);
    EXPECT_GT(c.banks, 0u);
  }
  EXPECT_GT(total.masters, 2u);
  EXPECT_EQ(total.attached, total.masters);
  std::printf("%zu trees, %zu MSM IOMMUs, %zu context banks, %zu masters: %zu attached\n", trees.size(), total.iommus,
              total.banks, total.masters, total.attached);
}

}  // namespace
}  // namespace modiommu
