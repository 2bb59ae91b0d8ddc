// insmod/rmmod/modprobe/pin from several threads at once (run under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "module/loader.h"
#include "test_host.h"
#include "test_kernel.h"
#include "test_util.h"

using namespace modiommu;
using namespace modtest;

TEST(LoaderConcurrency, InsmodRmmodPinFromThreads) {
  tlog().clear();
  Kernel k;
  ModuleLoader loader(k);
  ASSERT_OK(loader.announce_module_dir(mods_dir()));
  std::atomic<bool> stop{false};
  std::atomic<int> pinned_ok{0}, violations{0};
  constexpr int kIters = 150;

  auto churn = [&](const char* name) {
    for (int i = 0; i < kIters; ++i) {
      (void)loader.insmod(mod(name));
      (void)loader.rmmod(name);
    }
  };
  auto churn_chain = [&] {
    for (int i = 0; i < kIters; ++i) {
      (void)loader.modprobe("consumer");
      (void)loader.rmmod("consumer");
      (void)loader.rmmod("provider");
    }
  };
  auto pinner = [&] {
    while (!stop) {
      ModuleRef ref = loader.try_get("plain");
      if (!ref) continue;
      ++pinned_ok;
      // While pinned (and nobody rmmods with wait) the module stays.
      if (ref.get()->state() == ModuleState::unloading) ++violations;
      if (!ref.get()->param_int("count").ok()) ++violations;
    }
  };
  auto observer = [&] {
    while (!stop) {
      auto l = loader.lsmod();
      bool consumer = false, provider = false;
      for (const auto& s : l) {
        consumer |= s.name == "consumer";
        provider |= s.name == "provider";
      }
      // A consumer is never there without its supplier.
      if (consumer && !provider) ++violations;
      (void)loader.can_provide("of:modiommu,plain-test");
    }
  };
  std::vector<std::thread> ts;
  ts.emplace_back(churn, "plain");
  ts.emplace_back(churn, "plain");
  ts.emplace_back(churn_chain);
  ts.emplace_back(churn_chain);
  std::thread p1(pinner), p2(pinner), o(observer);
  for (auto& t : ts) t.join();
  stop = true;
  p1.join();
  p2.join();
  o.join();
  (void)loader.rmmod("plain", {.wait = true});
  (void)loader.rmmod("consumer", {.wait = true});
  (void)loader.rmmod("provider", {.wait = true});

  EXPECT_EQ(violations.load(), 0);
  EXPECT_TRUE(loader.lsmod().empty());
  // Every successful init was matched by exactly one exit.
  EXPECT_GT(tlog().count("plain:init"), 0u);
  EXPECT_EQ(tlog().count("plain:init"), tlog().count("plain:exit"));
  EXPECT_EQ(tlog().count("provider:init"), tlog().count("provider:exit"));
  EXPECT_EQ(tlog().count("consumer:init"), tlog().count("consumer:exit"));
}
