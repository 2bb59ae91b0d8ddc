// Issue 17's real-tree check for the Renesas IPMMU-VMSA: every corpus tree
// with an IPMMU node boots with --generic-endpoints and the ipmmu-vmsa
// module; every enabled IPMMU registers; every populated, enabled master
// behind one is either attached with the tree's micro-TLB or left out by
// the driver's allowlist policy with the reason (all of Linux 6.1's trees
// are RZ/G2M, r8a774a1, whose SoC is on the driver's denylist). With the
// module parameter allow_all=1 every such master is attached.
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

bool ipmmu_node(const of::Node& n) {
  for (const auto& c : n.compatible())
    if (c.starts_with("renesas,ipmmu-") || c == "renesas,rcar-gen4-ipmmu-vmsa") return true;
  return false;
}

std::vector<std::filesystem::path> ipmmu_trees() { return test::corpus_trees_with(ipmmu_node); }

struct Counts {
  size_t masters = 0, attached = 0, left_out = 0, iommus = 0;
};

Counts check_tree(const std::filesystem::path& path, bool allow_all) {
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
  std::vector<std::string> params;
  if (allow_all) params.push_back("allow_all=1");
  Status s = k.modules().modprobe("ipmmu-vmsa", params);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().str());
  k.boot_complete();
  for (Device* d : k.core().devices()) {
    const of::Node* n = d->fwnode();
    if (!n || !n->available()) continue;
    if (ipmmu_node(*n)) {
      ++c.iommus;
      EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
      EXPECT_NE(k.iommu().find_iommu(n), nullptr) << d->name() << " not registered";
      continue;
    }
    if (!n->has("iommus")) continue;
    auto list = of::iommus(*n);
    EXPECT_TRUE(list.ok());
    if (!list.ok()) continue;
    std::vector<uint32_t> want;
    const of::Node* mmu = nullptr;
    for (const auto& pa : *list) {
      if (!pa.target->available() || !ipmmu_node(*pa.target)) continue;
      mmu = pa.target;
      if (std::find(want.begin(), want.end(), pa.args.at(0)) == want.end()) want.push_back(pa.args.at(0));
    }
    if (!mmu) continue;
    ++c.masters;
    EXPECT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
    auto info = k.iommu().info(*d);
    EXPECT_TRUE(info.has_value()) << d->name();
    if (!info) continue;
    if (!info->left_out.empty()) {
      ++c.left_out;
      EXPECT_FALSE(allow_all) << d->name();
      EXPECT_EQ(info->left_out, "ipmmu-vmsa: r8a774a1 is on the SoC denylist") << d->name();
      EXPECT_EQ(info->iommu, "") << d->name();
    } else {
      ++c.attached;
      Device* md = k.core().find_device_by_fwnode(mmu);
      EXPECT_EQ(info->iommu, md ? md->name() : "?") << d->name();
      EXPECT_EQ(info->stream_ids, want) << d->name();
      EXPECT_TRUE(info->domain.has_value()) << d->name();
    }
  }
  EXPECT_EQ(errors, "") << path;
  return c;
}

TEST(IpmmuCorpus, EveryIpmmuRegistersEveryMasterAttachedOrLeftOutByPolicy) {
  const auto trees = ipmmu_trees();
  ASSERT_GE(trees.size(), 1u) << "corpus missing at " << test::corpus_dir();
  Counts total, all;
  for (const auto& path : trees) {
    SCOPED_TRACE(path.string());
    const Counts c = check_tree(path, false);
    const Counts a = check_tree(path, true);
    total.masters += c.masters;
    total.attached += c.attached;
    total.left_out += c.left_out;
    total.iommus += c.iommus;
    all.attached += a.attached;
    all.left_out += a.left_out;
    EXPECT_GT(c.iommus, 0u);
    EXPECT_EQ(c.masters, a.masters);
  }
  EXPECT_GT(total.masters, 5u);
  EXPECT_EQ(total.attached + total.left_out, total.masters);
  EXPECT_EQ(all.attached, total.masters);  // allow_all=1 attaches every one
  EXPECT_EQ(all.left_out, 0u);
  std::printf("%zu trees, %zu IPMMUs, %zu masters: %zu attached, %zu left out by policy (allow_all=1: %zu attached)\n",
              trees.size(), total.iommus, total.masters, total.attached, total.left_out, all.attached);
}

}  // namespace
}  // namespace modiommu
