// Driver core: matching, probe, defer, bind/unbind, device links, clock.
#include <thread>

#include "core/driver_core.h"
#include "core/of_platform.h"
#include "test_util.h"

using namespace modiommu;
using modiommu::testing::dev;
using modiommu::testing::dts;

namespace {

const char* kPair = R"(
  sup: supplier@1000 { compatible = "modiommu,test-supplier"; reg = <0x1000 0x100>; };
  consumer@2000 { compatible = "modiommu,test-consumer"; reg = <0x2000 0x100>; modiommu,suppliers = <&sup>; };
)";

TEST(Clock, TimersFireInOrderAndOnlyWhenDue) {
  VirtualClock c;
  std::vector<int> fired;
  c.arm(3 * kNsPerSec, "b", [&] { fired.push_back(3); });
  c.arm(1 * kNsPerSec, "a", [&] { fired.push_back(1); });
  auto id = c.arm(2 * kNsPerSec, "x", [&] { fired.push_back(2); });
  EXPECT_TRUE(c.cancel(id));
  c.advance(kNsPerSec / 2);
  EXPECT_TRUE(fired.empty());
  c.advance(3 * kNsPerSec);
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
  EXPECT_EQ(c.now(), 3 * kNsPerSec + kNsPerSec / 2);
}

TEST(Log, WatchedCountsFollowWritesAndAgreeWithAScan) {
  VirtualClock clock;
  Log log(clock);
  log.info("dma@1", "data corrupted at {:#x}", 0x1000);
  log.info("dma@2", "write verified");
  log.watch("corrupted");  // starts from what is already there
  log.watch("corrupted");  // idempotent
  EXPECT_EQ(log.count("corrupted"), 1u);
  log.warn("dma@3", "data corrupted again");
  log.info("corrupted-subject", "line");  // the subject counts too
  log.info("dma@4", "fine");
  EXPECT_EQ(log.count("corrupted"), 3u);
  EXPECT_EQ(log.count("verified"), 1u);  // not watched: scanned
  // The kept count is what a scan of the same log gives.
  size_t scanned = 0;
  for (const auto& e : log.entries())
    scanned += e.message.find("corrupted") != std::string::npos || e.subject.find("corrupted") != std::string::npos;
  EXPECT_EQ(log.count("corrupted"), scanned);
  log.set_min_level(LogLevel::warn);
  log.info("dma@5", "corrupted but filtered out");  // below the level: not written, not counted
  EXPECT_EQ(log.count("corrupted"), 3u);
}

TEST(Populate, NamesDevicesLikeLinuxAndSkipsDisabled) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(R"(
    soc { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges;
      dma@10000000 { compatible = "vendor,thing"; reg = <0x10000000 0x1000>; };
      off@20000000 { compatible = "vendor,thing"; reg = <0x20000000 0x1000>; status = "disabled"; };
    };
    nocompat { };
  )")).ok());
  EXPECT_NE(k.core().find_device("10000000.dma"), nullptr);
  // node name and full path resolve too
  EXPECT_EQ(k.core().find_device("dma@10000000"), k.core().find_device("10000000.dma"));
  EXPECT_EQ(k.core().find_device("/soc/dma@10000000"), k.core().find_device("10000000.dma"));
  EXPECT_EQ(k.core().find_device("20000000.off"), nullptr);
  EXPECT_EQ(k.core().find_device("nocompat"), nullptr);
  EXPECT_EQ(k.core().devices().size(), 2u);  // soc + dma
}

// BEHAVIOUR.md 7: a bound device's children become devices, as its
// driver's of_platform_populate() would make them, and go before it unbinds.
const char* kParent = R"(
  glue@1000 { compatible = "vendor,glue"; reg = <0x1000 0x100>; #address-cells = <1>; #size-cells = <1>; ranges;
    supplier@1010 { compatible = "modiommu,test-supplier"; reg = <0x1010 0x10>; };
    off@1020 { compatible = "modiommu,test-supplier"; reg = <0x1020 0x10>; status = "disabled"; };
  };
)";

struct ParentMachine {
  Kernel k;
  SimpleDriver* drv = nullptr;
  explicit ParentMachine(PopulatePolicy p, bool populates = true) : k(opts(p)) {
    EXPECT_TRUE(k.boot(dts(kParent)).ok());
    auto d = std::make_unique<SimpleDriver>();
    d->name = "glue";
    d->bus = &k.platform_bus();
    d->of_match = {"vendor,glue"};
    d->populates_children = populates;
    drv = d.get();
    EXPECT_EQ(k.core().find_device("1010.supplier"), nullptr) << "populated before its parent bound";
    EXPECT_TRUE(k.core().register_driver(drv).ok());
    k.own_driver(std::move(d));
  }
  static KernelOptions opts(PopulatePolicy p) {
    KernelOptions o;
    o.populate = p;
    return o;
  }
};

TEST(Populate, ChildrenOfABoundDeviceComeAndGoWithIt) {
  ParentMachine m(PopulatePolicy::drivers);
  Device* glue = dev(m.k, "1000.glue");
  ASSERT_EQ(glue->state(), DeviceState::bound);
  Device* child = m.k.core().find_device("1010.supplier");
  ASSERT_NE(child, nullptr);
  EXPECT_TRUE(child->populated_by_parent());
  EXPECT_EQ(child->parent(), glue);
  EXPECT_EQ(child->state(), DeviceState::bound);
  EXPECT_EQ(m.k.core().find_device("1020.off"), nullptr);  // disabled: never a device
  EXPECT_FALSE(glue->populated_by_parent());
  // Unbinding the parent removes the child first; binding it again brings it back.
  ASSERT_TRUE(m.k.core().unbind(*glue).ok());
  EXPECT_EQ(m.k.core().find_device("1010.supplier"), nullptr);
  const auto log = m.k.log().entries();
  size_t removed = log.size(), unbound = log.size();
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].subject == "1010.supplier" && log[i].message == "device removed") removed = i;
    if (log[i].subject == "1000.glue" && log[i].message == "unbound from driver glue") unbound = i;
  }
  ASSERT_LT(removed, log.size());
  ASSERT_LT(unbound, log.size());
  EXPECT_LT(removed, unbound) << "the child must go before its parent's driver";
  ASSERT_TRUE(m.k.core().bind(*glue, *m.drv).ok());
  child = m.k.core().find_device("1010.supplier");
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->state(), DeviceState::bound);
}

TEST(Populate, BusOnlyPolicyAndDriversThatPopulateNothing) {
  ParentMachine bus_only(PopulatePolicy::bus_only);
  EXPECT_EQ(dev(bus_only.k, "1000.glue")->state(), DeviceState::bound);
  EXPECT_EQ(bus_only.k.core().find_device("1010.supplier"), nullptr);
  ParentMachine quiet(PopulatePolicy::drivers, false);
  EXPECT_EQ(dev(quiet.k, "1000.glue")->state(), DeviceState::bound);
  EXPECT_EQ(quiet.k.core().find_device("1010.supplier"), nullptr);
}

// The core's lookup indexes (name, node name, node path, parent) follow
// removals and keep add order; a node name two devices share is ambiguous
// until one of them goes.
TEST(Populate, LookupsFollowRemovalAndKeepAddOrder) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(R"(
    busa { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges = <0 0x10000 0x1000>;
      dev@0 { compatible = "vendor,thing"; reg = <0 0x100>; };
      dev@100 { compatible = "vendor,thing"; reg = <0x100 0x100>; };
    };
    busb { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges = <0 0x20000 0x1000>;
      dev@0 { compatible = "vendor,thing"; reg = <0 0x100>; };
    };
  )")).ok());
  Device* busa = dev(k, "busa");
  Device* busb = dev(k, "busb");
  ASSERT_TRUE(busa && busb);
  EXPECT_EQ(k.core().find_device("dev@0"), nullptr);
  EXPECT_FALSE(k.core().resolve_device("dev@0").ok());
  ASSERT_EQ(k.core().children(*busa).size(), 2u);
  EXPECT_EQ(k.core().children(*busa)[0]->name(), "10000.dev");
  EXPECT_EQ(k.core().children(*busa)[1]->name(), "10100.dev");
  k.core().remove_device(*busa);
  EXPECT_EQ(k.core().find_device("10000.dev"), nullptr);
  EXPECT_EQ(k.core().find_device("/busa/dev@0"), nullptr);
  EXPECT_EQ(k.core().find_device("busa"), nullptr);
  EXPECT_FALSE(k.core().name_in_use("10100.dev"));
  EXPECT_EQ(k.core().find_device("dev@0"), k.core().find_device("20000.dev"));
  EXPECT_NE(k.core().find_device("20000.dev"), nullptr);
  ASSERT_EQ(k.core().children(*busb).size(), 1u);
  std::vector<std::string> left;
  for (Device* d : k.core().devices()) left.push_back(d->name());
  EXPECT_EQ(left, (std::vector<std::string>{"busb", "20000.dev"}));
}

TEST(Probe, MatchingDriverBindsAndUnmatchedStaysUnbound) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(R"(
    supplier@1000 { compatible = "other,x", "modiommu,test-supplier"; reg = <0x1000 0x10>; };
    thing@2000 { compatible = "nobody,drives-this"; reg = <0x2000 0x10>; };
  )")).ok());
  EXPECT_EQ(dev(k, "1000.supplier")->state(), DeviceState::bound);
  EXPECT_EQ(dev(k, "1000.supplier")->driver()->name, "test-supplier");
  EXPECT_EQ(dev(k, "2000.thing")->state(), DeviceState::unbound);
  EXPECT_EQ(dev(k, "2000.thing")->probe_attempts(), 0u);
}

TEST(Probe, FailingProbeIsFailedWithReasonAndReleasesDevres) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(R"(supplier@1000 { compatible = "modiommu,test-supplier"; reg = <0x1000 0x10>; modiommu,fail-probe; };)")).ok());
  Device* d = dev(k, "1000.supplier");
  EXPECT_EQ(d->state(), DeviceState::failed);
  EXPECT_NE(d->deferred_reason().find("fail-probe"), std::string::npos);
}

TEST(Links, ConsumerDefersUntilSupplierBindsWithReason) {
  Kernel k;
  // The consumer's driver registers first: worst case for ordering.
  ASSERT_TRUE(k.boot(dts(kPair)).ok());
  Device* s = dev(k, "1000.supplier");
  Device* c = dev(k, "2000.consumer");
  EXPECT_EQ(s->state(), DeviceState::bound);
  EXPECT_EQ(c->state(), DeviceState::bound);
  auto links = k.core().links();
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].state, LinkState::active);
  EXPECT_EQ(links[0].kind, LinkKind::managed);

  // Unbind the supplier by hand: the consumer goes first and waits for it.
  ASSERT_TRUE(k.core().unbind(*s).ok());
  EXPECT_EQ(s->state(), DeviceState::unbound);
  EXPECT_EQ(c->state(), DeviceState::deferred);
  EXPECT_NE(c->deferred_reason().find("1000.supplier"), std::string::npos);
  auto log = k.log().entries();
  size_t ci = 0, si = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].subject == "2000.consumer" && log[i].message.find("unbound") != std::string::npos) ci = i;
    if (log[i].subject == "1000.supplier" && log[i].message.find("unbound") != std::string::npos) si = i;
  }
  EXPECT_LT(ci, si) << "consumer must be unbound before its supplier";

  // Rebinding the supplier brings the consumer back by itself.
  ASSERT_TRUE(k.core().bind(*s, *k.core().find_driver("test-supplier")).ok());
  EXPECT_EQ(c->state(), DeviceState::bound);
}

TEST(Links, CycleIsRefusedNotFollowed) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(R"(
    a: a@1 { compatible = "x,none"; reg = <1 1>; };
    b: b@2 { compatible = "x,none"; reg = <2 1>; };
    c: c@3 { compatible = "x,none"; reg = <3 1>; };
  )")).ok());
  Device *a = dev(k, "1.a"), *b = dev(k, "2.b"), *c = dev(k, "3.c");
  ASSERT_TRUE(k.core().link_add(*a, *b, LinkKind::managed, "t").ok());
  ASSERT_TRUE(k.core().link_add(*b, *c, LinkKind::managed, "t").ok());
  auto r = k.core().link_add(*c, *a, LinkKind::managed, "t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::loop);
  EXPECT_NE(r.error().message.find("3.c -> 1.a -> 2.b -> 3.c"), std::string::npos) << r.error().message;
  auto self = k.core().link_add(*a, *a, LinkKind::managed, "t");
  EXPECT_FALSE(self.ok());
  EXPECT_EQ(k.core().links().size(), 2u);
}

TEST(Links, ConsumerCycleInDeviceTreeDefersBothWithReasonsNoHang) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(R"(
    a: a@1 { compatible = "modiommu,test-consumer"; reg = <1 1>; modiommu,suppliers = <&b>; };
    b: b@2 { compatible = "modiommu,test-consumer"; reg = <2 1>; modiommu,suppliers = <&a>; };
  )")).ok());
  k.boot_complete();
  Device *a = dev(k, "1.a"), *b = dev(k, "2.b");
  // One of them defers on the other; the reverse link is refused as a cycle.
  EXPECT_NE(a->state(), DeviceState::bound);
  EXPECT_NE(b->state(), DeviceState::bound);
  EXPECT_GE(k.log().count("cycle"), 1u);
}

TEST(Links, FirmwareLinkFromIommusWaitsThenRelaxesWhenNoDriverCanAppear) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(R"(
    smmu: iommu@9050000 { compatible = "arm,smmu-v3"; reg = <0x9050000 0x20000>; #iommu-cells = <1>; };
    off: iommu@9060000 { compatible = "arm,smmu-v3"; reg = <0x9060000 0x20000>; #iommu-cells = <1>; status = "disabled"; };
    supplier@1000 { compatible = "modiommu,test-supplier"; reg = <0x1000 0x10>; iommus = <&smmu 5>; };
    supplier@2000 { compatible = "modiommu,test-supplier"; reg = <0x2000 0x10>; iommus = <&off 6>; };
  )")).ok());
  Device* m = dev(k, "1000.supplier");
  Device* d2 = dev(k, "2000.supplier");
  // Behind a disabled IOMMU: no link, binds at once.
  EXPECT_EQ(d2->state(), DeviceState::bound);
  // Behind an IOMMU with no driver yet: waits while module sources are open.
  EXPECT_EQ(m->state(), DeviceState::deferred);
  EXPECT_NE(m->deferred_reason().find("9050000.iommu"), std::string::npos) << m->deferred_reason();
  EXPECT_NE(m->deferred_reason().find("iommus"), std::string::npos);
  ASSERT_EQ(k.core().links().size(), 1u);
  EXPECT_EQ(k.core().links()[0].kind, LinkKind::firmware);
  // Sources final: nothing can drive the IOMMU, decided at once, no timeout.
  k.boot_complete();
  EXPECT_EQ(m->state(), DeviceState::bound);
  EXPECT_EQ(k.core().links()[0].state, LinkState::relaxed);
  EXPECT_GE(k.log().count("can never bind"), 1u);
}

TEST(Deferral, BackstopTimeoutOnVirtualClockOnlyWhileSourcesOpen) {
  KernelOptions o;
  o.await_module_sources = true;
  o.deferred_timeout = 5;
  Kernel k(o);
  ASSERT_TRUE(k.boot(dts(R"(
    smmu: iommu@9050000 { compatible = "arm,smmu-v3"; reg = <0x9050000 0x20000>; #iommu-cells = <1>; };
    supplier@1000 { compatible = "modiommu,test-supplier"; reg = <0x1000 0x10>; iommus = <&smmu 5>; };
  )")).ok());
  k.boot_complete();
  Device* m = dev(k, "1000.supplier");
  EXPECT_EQ(m->state(), DeviceState::deferred);  // answer unknown: waits
  k.clock().advance(4 * kNsPerSec);
  EXPECT_EQ(m->state(), DeviceState::deferred);
  k.clock().advance(2 * kNsPerSec);
  EXPECT_EQ(m->state(), DeviceState::bound);
  EXPECT_GE(k.log().count("deferred probe timeout"), 1u);
}

TEST(Deferral, ReasonsListedLikeDevicesDeferred) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(R"(
    supplier@1000 { compatible = "modiommu,test-supplier"; reg = <0x1000 0x10>; modiommu,defer-until-boot-complete; };
  )")).ok());
  auto d = k.core().deferred();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].first->name(), "1000.supplier");
  EXPECT_NE(d[0].second.find("boot-complete"), std::string::npos);
  k.boot_complete();
  EXPECT_TRUE(k.core().deferred().empty());
}

TEST(Unbind, ErrorsAreClear) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(kPair)).ok());
  Device* c = dev(k, "2000.consumer");
  ASSERT_TRUE(k.core().unbind(*c).ok());
  auto again = k.core().unbind(*c);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("not bound"), std::string::npos);
  auto wrong = k.core().bind(*c, *k.core().find_driver("test-supplier"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("does not match"), std::string::npos);
  // A manually unbound device stays unbound even when things change.
  k.boot_complete();
  EXPECT_EQ(c->state(), DeviceState::unbound);
}

TEST(Threads, ConcurrentBindUnbindIsSafe) {
  Kernel k;
  ASSERT_TRUE(k.boot(dts(kPair)).ok());
  Device* s = dev(k, "1000.supplier");
  Device* c = dev(k, "2000.consumer");
  Driver* sd = k.core().find_driver("test-supplier");
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      (void)k.core().deferred();
      (void)k.core().links();
    }
  });
  for (int i = 0; i < 200; ++i) {
    std::thread t1([&] { (void)k.core().unbind(*s); });
    std::thread t2([&] { (void)k.core().bind(*s, *sd); });
    t1.join();
    t2.join();
    (void)k.core().bind(*s, *sd);
    ASSERT_EQ(s->state(), DeviceState::bound);
    ASSERT_EQ(c->state(), DeviceState::bound) << "consumer must come back with its supplier";
  }
  stop = true;
  reader.join();
}

}  // namespace
