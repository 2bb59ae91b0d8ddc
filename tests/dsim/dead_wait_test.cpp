// A device no driver takes tells its waiters at once (BEHAVIOUR.md 1), and
// the simulator's "dead-wait" invariant catches a core that forgets to: with
// the fault point core.skip_unbound_kick armed, the master behind an IOMMU
// that every driver declined stays deferred for nothing, and the checker
// says so; without it, the master is decided at once (--missing-iommu).
#include <gtest/gtest.h>

#include "base/fault_inject.h"
#include "core/driver.h"
#include "dsim/invariants.h"
#include "kernel/kernel.h"

using namespace modiommu;

namespace {

// The master comes first in the tree, so it defers on the IOMMU before the
// IOMMU's driver has looked at it.
const char* kTree = R"(/dts-v1/;
/ {
  #address-cells = <1>;
  #size-cells = <1>;
  memory@40000000 { device_type = "memory"; reg = <0x40000000 0x1000000>; };
  master@1000 { compatible = "modiommu,test-supplier"; reg = <0x1000 0x10>; iommus = <&x 7>; };
  x: iommu@9000 { compatible = "test,declining-iommu"; reg = <0x9000 0x100>; #iommu-cells = <1>; };
};
)";

// What the IOMMU's first probe waits for: a key nothing else kicks (wait
// events are typed kernel events, so the test waits on a token of its own).
const int test_go = 0;
WaitKey test_go_key() { return WaitKey::fwnode(&test_go); }

struct Machine {
  Kernel k;
  int probes = 0;
  Machine() {
    auto tree = of::Tree::from_dts(kTree, "dead-wait.dts");
    EXPECT_TRUE(tree.ok());
    EXPECT_TRUE(k.boot(std::move(tree).value()).ok());
    // The IOMMU's driver first waits for an event, then says "not mine".
    auto drv = std::make_unique<SimpleDriver>();
    drv->name = "declining-iommu";
    drv->bus = &k.platform_bus();
    drv->of_match = {"test,declining-iommu"};
    drv->on_probe = [this](Device& d) -> Status {
      if (probes++ == 0) return d.defer(test_go_key(), "waiting for test-go");
      return make_error(Errc::nodev, "not this IOMMU after all");
    };
    EXPECT_TRUE(k.core().register_driver(drv.get()).ok());
    k.own_driver(std::move(drv));
    k.boot_complete();  // module sources final
  }
  Device* master() { return k.core().find_device("1000.master"); }
  Device* iommu() { return k.core().find_device("9000.iommu"); }
};

TEST(DeadWait, DeclinedSupplierDecidesItsWaitersAtOnce) {
  FaultScope scope;
  Machine m;
  ASSERT_NE(m.master(), nullptr);
  ASSERT_EQ(m.iommu()->state(), DeviceState::deferred);
  EXPECT_EQ(m.master()->state(), DeviceState::deferred) << m.k.core().reason(*m.master());
  m.k.core().kick(test_go_key());
  EXPECT_EQ(m.iommu()->state(), DeviceState::unbound);
  // Nothing can bind the IOMMU any more: the master runs without it, now.
  EXPECT_EQ(m.master()->state(), DeviceState::bound) << m.k.core().reason(*m.master());
  auto info = m.k.iommu().info(*m.master());
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->bypass_fallback);
  EXPECT_NE(m.k.core().availability(*m.iommu()).find("declined it (not this IOMMU after all)"), std::string::npos)
      << m.k.core().availability(*m.iommu());
  dsim::InvariantChecker c;
  EXPECT_TRUE(c.check(m.k).empty()) << c.check(m.k).front().detail;
}

TEST(DeadWait, CheckerCatchesACoreThatForgetsTheWaiters) {
  FaultScope scope;
  Machine m;
  ASSERT_TRUE(FaultInjection::arm("core.skip_unbound_kick", 1).ok());
  m.k.core().kick(test_go_key());
  EXPECT_EQ(FaultInjection::fired("core.skip_unbound_kick"), 1u);
  EXPECT_EQ(m.iommu()->state(), DeviceState::unbound);
  ASSERT_EQ(m.master()->state(), DeviceState::deferred);
  dsim::InvariantChecker c;
  auto v = c.check(m.k);
  ASSERT_FALSE(v.empty());
  bool dead = false;
  for (const auto& x : v) dead = dead || (x.invariant == "dead-wait" && x.detail.find("9000.iommu") != std::string::npos);
  EXPECT_TRUE(dead) << v.front().invariant << ": " << v.front().detail;
}

TEST(DeadWait, ManagedLinkMayKeepWaitingForever) {
  // A driver's explicit link to a supplier that can never bind is Linux's
  // behaviour for managed links: the checker does not flag it.
  Kernel k;
  auto tree = of::Tree::from_dts(R"(/dts-v1/;
/ {
  #address-cells = <1>;
  #size-cells = <1>;
  sup: supplier@1000 { compatible = "nobody,drives-this"; reg = <0x1000 0x10>; };
  consumer@2000 { compatible = "modiommu,test-consumer"; reg = <0x2000 0x10>; modiommu,suppliers = <&sup>; };
};
)", "managed.dts");
  ASSERT_TRUE(tree.ok());
  ASSERT_TRUE(k.boot(std::move(tree).value()).ok());
  k.boot_complete();
  Device* c = k.core().find_device("2000.consumer");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->state(), DeviceState::deferred);
  dsim::InvariantChecker chk;
  for (const auto& x : chk.check(k)) EXPECT_NE(x.invariant, "dead-wait") << x.detail;
}

}  // namespace
