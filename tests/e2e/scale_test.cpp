// Issue 15 section 7: thousands of plain masters behind one SMMUv3 with the
// generic endpoint driver. Correctness at scale (every master bound, attached,
// with its own stream ID); the timings are in bench/scale.
#include <set>
#include <sstream>

#include "e2e_util.h"
#include "masters_platform.h"
#include "sim/harness.h"
#include "sim/scenario.h"

using namespace modiommu;
using modiommu::testing::master_name;
using modiommu::testing::masters_platform_dtb;

namespace {

constexpr const char* kSmmu = "9050000.iommu";

std::unique_ptr<Kernel> boot_masters(const std::vector<uint8_t>& dtb) {
  KernelOptions o = e2e::module_options({}, true);
  o.generic_endpoints = true;
  auto k = std::make_unique<Kernel>(o);
  sim::Harness harness{*k};  // endpoints, escape accounting: before boot
  auto tree = of::Tree::from_blob(dtb, "masters.dtb");
  EXPECT_TRUE(tree.ok()) << tree.error().str();
  if (!tree.ok()) return nullptr;
  Status s = k->boot(std::move(tree).value());
  EXPECT_TRUE(s.ok()) << s.error().str();
  k->boot_complete();
  return k;
}

void expect_attached(Kernel& k, uint64_t i, uint32_t sid, std::set<int>* groups) {
  Device* d = k.core().find_device(master_name(i));
  ASSERT_NE(d, nullptr) << master_name(i);
  ASSERT_EQ(d->state(), DeviceState::bound) << d->name() << ": " << k.core().reason(*d);
  ASSERT_EQ(d->driver()->name, "generic-endpoint");
  auto info = k.iommu().info(*d);
  ASSERT_TRUE(info.has_value()) << d->name();
  EXPECT_EQ(info->iommu, kSmmu);
  EXPECT_EQ(info->stream_ids, std::vector<uint32_t>{sid}) << d->name();
  EXPECT_EQ(info->domain, iommu::DomainType::dma) << d->name();
  if (groups) {
    EXPECT_TRUE(groups->insert(info->group).second) << d->name() << " shares group " << info->group;
  }
}

// Stream IDs above QEMU's 16 bits (the model gets 17 from the tree), spread
// so that several level-2 stream tables are used.
uint32_t spread_sid(uint64_t i) { return 0x10000 + static_cast<uint32_t>(i) * 3; }

TEST(Scale, FiveThousandMastersAllBoundAndAttachedWithTheirStreamIds) {
  constexpr uint64_t kMasters = 5000;
  auto k = boot_masters(masters_platform_dtb(kMasters, "acme,widget", spread_sid));
  ASSERT_NE(k, nullptr);
  std::set<int> groups;
  for (uint64_t i = 0; i < kMasters; ++i) expect_attached(*k, i, spread_sid(i), &groups);
  EXPECT_EQ(groups.size(), kMasters);
  EXPECT_EQ(k->core().consumers(*k->core().find_device(kSmmu)).size(), kMasters);
  EXPECT_EQ(k->core().children(*k->core().find_device("bus3")).size(), 500u);
  EXPECT_EQ(k->core().find_device("m@200000000"), k->core().find_device(master_name(0)));
  EXPECT_EQ(k->core().find_device("/bus9/m@100001000"), nullptr);
  const std::string path = fmt::format("/bus9/m@{:x}", modiommu::testing::kMastersBase + 4600 * 0x1000);
  EXPECT_EQ(k->core().find_device(path), k->core().find_device(master_name(4600)));
  EXPECT_NE(k->core().find_device(path), nullptr);
}

TEST(Scale, AReleasedStreamIdIsFreeAndEveryMasterComesBackAfterReload) {
  constexpr uint64_t kMasters = 600;
  auto k = boot_masters(masters_platform_dtb(kMasters, "acme,widget"));
  ASSERT_NE(k, nullptr);
  std::ostringstream out;
  sim::Scenario sc(*k, out);
  auto line = [&](const std::string& l) {
    Status s = sc.run_line(l);
    EXPECT_TRUE(s.ok()) << l << ": " << (s.ok() ? "" : s.error().str()) << "\n" << out.str();
  };
  // Unbinding releases stream ID 7; binding again takes it without a clash.
  line("unbind " + master_name(7));
  line("bind " + master_name(7) + " generic-endpoint");
  expect_attached(*k, 7, 7, nullptr);
  // Every master is released from the SMMU, then attached again.
  line("rmmod arm_smmu_v3");
  for (uint64_t i = 0; i < kMasters; i += 99)
    EXPECT_EQ(k->core().find_device(master_name(i))->state(), DeviceState::deferred) << master_name(i);
  line("modprobe arm_smmu_v3");
  std::set<int> groups;
  for (uint64_t i = 0; i < kMasters; ++i) expect_attached(*k, i, static_cast<uint32_t>(i), &groups);
}

TEST(Scale, AStreamIdClashBetweenTwoMastersIsRefusedUntilTheFirstLetsGo) {
  // Master 5 names master 2's stream ID.
  auto sid = [](uint64_t i) { return static_cast<uint32_t>(i == 5 ? 2 : i); };
  auto k = boot_masters(masters_platform_dtb(8, "acme,widget", sid));
  ASSERT_NE(k, nullptr);
  for (uint64_t i : {0, 1, 2, 3, 4, 6, 7}) expect_attached(*k, i, sid(i), nullptr);
  Device* clash = k->core().find_device(master_name(5));
  ASSERT_NE(clash, nullptr);
  EXPECT_EQ(clash->state(), DeviceState::failed);
  EXPECT_NE(k->core().reason(*clash).find("stream ID 0x2 of " + master_name(5) + " is already used by " + master_name(2)),
            std::string::npos)
      << k->core().reason(*clash);
  Driver* ge = k->core().find_driver("generic-endpoint");
  ASSERT_NE(ge, nullptr);
  EXPECT_FALSE(k->core().bind(*clash, *ge).ok());
  // Once master 2 is unbound its stream ID is free for master 5, and master 2
  // is the one refused.
  ASSERT_TRUE(k->core().unbind(*k->core().find_device(master_name(2))).ok());
  ASSERT_TRUE(k->core().bind(*clash, *ge).ok());
  expect_attached(*k, 5, 2, nullptr);
  EXPECT_FALSE(k->core().bind(*k->core().find_device(master_name(2)), *ge).ok());
}

}  // namespace
