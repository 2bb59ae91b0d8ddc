// The freed-table invariant can fail: a translation-table page freed while a
// domain still uses it (a driver's use-after-free) is caught on the next walk.
#include <set>

#include <gtest/gtest.h>

#include "dsim/invariants.h"
#include "dsim/world.h"
#include "dsim_util.h"
#include "sim/harness.h"

using namespace modiommu;
using namespace modiommu::dsim;

namespace {

TEST(DsimFreedTable, WalkOfAFreedTablePageIsAViolation) {
  auto w = World::boot(test::config("virt-smmuv3.dts"));
  ASSERT_TRUE(w.ok()) << w.error().str();
  Kernel& k = (*w)->kernel();
  Device* dev = k.core().find_device("10000000.dma");
  ASSERT_NE(dev, nullptr);
  ASSERT_EQ(dev->state(), DeviceState::bound);
  InvariantChecker checker;
  auto names = [](const std::vector<Violation>& v) {
    std::set<std::string> n;
    for (const auto& x : v) n.insert(x.invariant);
    return n;
  };
  EXPECT_EQ(names(checker.check(k)).count("freed-table"), 0u);

  auto buf = k.pages().alloc(4096);
  ASSERT_TRUE(buf.ok());
  auto iova = k.dma().map_single(*dev, *buf, 4096, iommu::DmaDirection::bidirectional);
  ASSERT_TRUE(iova.ok()) << iova.error().str();
  bool described = false;
  hw::UpstreamPort* port = sim::dma_port(k, *dev, &described);
  ASSERT_TRUE(port && described);
  // Which table pages does a walk of this IOVA read? Record them, then put
  // the harness's checker back.
  std::vector<uint64_t> tables;
  k.machine().memory().set_table_read_observer([&](uint64_t pa) { tables.push_back(pa & ~uint64_t{0xfff}); });
  iommu::IommuDomain* dom = k.iommu().device_domain(*dev);
  ASSERT_NE(dom, nullptr);
  dom->flush_iotlb_all();
  uint8_t byte = 0;
  ASSERT_TRUE(port->read(*iova, &byte, 1).ok());
  sim::Harness harness(k);
  harness.check_table_walks();
  ASSERT_GE(tables.size(), 2u) << "a 4K mapping is walked through several levels";
  EXPECT_EQ(names(checker.check(k)).count("freed-table"), 0u) << "live tables are not free";

  // The bug: the last-level table is freed while still referenced.
  ASSERT_TRUE(k.pages().free(tables.back()).ok());
  ASSERT_TRUE(k.pages().is_free(tables.back()));
  dom->flush_iotlb_all();
  (void)port->read(*iova, &byte, 1);
  EXPECT_GT(harness.freed_table_walks(), 0u);
  EXPECT_EQ(names(checker.check(k)).count("freed-table"), 1u);
}

}  // namespace
