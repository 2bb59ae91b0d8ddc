#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "module/alias.h"
#include "module/host.h"
#include "module/loader.h"
#include "test_host.h"
#include "test_kernel.h"
#include "test_util.h"

using namespace modiommu;
using namespace modtest;

namespace {

class Loader : public ::testing::Test {
 protected:
  Loader() { tlog().clear(); }
  Kernel k;
  ModuleLoader loader{k};

  const ModuleStatus* status(const std::vector<ModuleStatus>& l, const std::string& name) {
    for (const auto& s : l)
      if (s.name == name) return &s;
    return nullptr;
  }
  void expect_error(const Status& st, Errc code, std::initializer_list<std::string> parts) {
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, code) << st.error().str();
    for (const auto& p : parts) EXPECT_NE(st.error().message.find(p), std::string::npos) << st.error().message;
  }
  template <class T>
  void expect_error(const Result<T>& r, Errc code, std::initializer_list<std::string> parts) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, code) << r.error().str();
    for (const auto& p : parts) EXPECT_NE(r.error().message.find(p), std::string::npos) << r.error().message;
  }
};

}  // namespace

TEST_F(Loader, InsmodWithParametersThenRmmod) {
  auto m = loader.insmod(mod("plain"), {"count=7", "verbose", "label=hi", "limit=0x10"});
  ASSERT_OK(m);
  EXPECT_EQ((*m)->name(), "plain");
  EXPECT_EQ((*m)->state(), ModuleState::live);
  EXPECT_EQ(tlog().events(), std::vector<std::string>{"plain:init count=7 verbose=1 label=hi limit=16 builtin=0"});
  auto l = loader.lsmod();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].name, "plain");
  EXPECT_EQ(l[0].version, "1.2");
  EXPECT_EQ(l[0].state, ModuleState::live);
  EXPECT_FALSE(l[0].builtin);
  EXPECT_EQ(l[0].refcount, 0);
  EXPECT_EQ(last_kernel(), &k);  // the Kernel& reached init untouched
  set_last_kernel(nullptr);
  ASSERT_OK(loader.rmmod("plain"));
  EXPECT_EQ(tlog().events().back(), "plain:exit count=7");
  EXPECT_EQ(last_kernel(), &k);
  EXPECT_TRUE(loader.lsmod().empty());
  expect_error(loader.rmmod("plain"), Errc::noent, {"module plain is not loaded"});
}

TEST_F(Loader, DefaultParameters) {
  ASSERT_OK(loader.insmod(mod("plain")));
  EXPECT_EQ(tlog().events(), std::vector<std::string>{"plain:init count=5 verbose=0 label=x limit=256 builtin=0"});
  auto m = loader.find("plain");
  ASSERT_TRUE(m);
  expect_error(m->param_int("label"), Errc::inval, {"parameter 'label' is string, not int"});
  expect_error(m->param_bool("nope"), Errc::inval, {"no parameter 'nope'"});
}

TEST_F(Loader, BadParametersRejectedBeforeInit) {
  expect_error(loader.insmod(mod("plain"), {"bogus=1"}), Errc::inval, {"module plain: unknown parameter 'bogus'"});
  expect_error(loader.insmod(mod("plain"), {"count=abc"}), Errc::inval,
               {"parameter 'count' expects int, got 'abc'"});
  expect_error(loader.insmod(mod("plain"), {"limit=-1"}), Errc::inval, {"parameter 'limit' expects uint, got '-1'"});
  expect_error(loader.insmod(mod("plain"), {"verbose=maybe"}), Errc::inval, {"expects bool, got 'maybe'"});
  expect_error(loader.insmod(mod("plain"), {"count=99999999999999999999999"}), Errc::inval, {"expects int"});
  EXPECT_TRUE(loader.lsmod().empty());
  EXPECT_EQ(tlog().count("plain:init"), 0u);
}

TEST_F(Loader, WrongAbiRejectedBeforeAnyCodeRuns) {
  expect_error(loader.insmod(mod("badabi")), Errc::inval,
               {"module ABI version " + std::to_string(kModuleAbiVersion + 41),
                "host's ABI version " + std::to_string(kModuleAbiVersion)});
  EXPECT_EQ(tlog().count("badabi:ctor"), 0u);
  EXPECT_EQ(tlog().count("badabi:init"), 0u);
  EXPECT_TRUE(loader.lsmod().empty());
}

TEST_F(Loader, MissingDescriptorRejected) {
  expect_error(loader.insmod(mod("nodesc")), Errc::noent, {"nodesc.so", "no module descriptor"});
  EXPECT_EQ(tlog().count("nodesc:ctor"), 0u);
}

TEST_F(Loader, UnresolvedSymbolNamed) {
  expect_error(loader.insmod(mod("unresolved")), Errc::noent,
               {"module unresolved: unresolved symbol modiommu_no_such_symbol"});
  EXPECT_TRUE(loader.lsmod().empty());
}

TEST_F(Loader, InitFailureUnloadsCleanly) {
  for (int i = 0; i < 2; ++i)
    expect_error(loader.insmod(mod("initfail")), Errc::nodev, {"module initfail: init failed", "no hardware here"});
  EXPECT_EQ(tlog().count("initfail:init"), 2u);
  EXPECT_EQ(tlog().count("initfail:exit"), 0u);
  EXPECT_TRUE(loader.lsmod().empty());
}

TEST_F(Loader, DuplicateNameRejected) {
  ASSERT_OK(loader.insmod(mod("plain")));
  expect_error(loader.insmod(mod("plain_dup")), Errc::exist, {"module plain is already live", "plain_dup.so"});
  expect_error(loader.insmod(mod("plain")), Errc::exist, {"module plain is already live"});
  EXPECT_EQ(tlog().count("plain_dup:init"), 0u);
  EXPECT_EQ(loader.lsmod().size(), 1u);
}

TEST_F(Loader, DependenciesMustBeLiveAndHoldTheirSupplier) {
  ASSERT_OK(loader.announce_module_dir(mods_dir()));
  expect_error(loader.insmod(mod("consumer")), Errc::noent,
               {"unresolved symbol provider_add: exported by module provider, not loaded"});
  ASSERT_OK(loader.insmod(mod("provider")));
  // A module's export is not the host's, even though dlsym now finds it.
  EXPECT_FALSE(HostSymbols::self().provides("provider_add"));
  ASSERT_OK(loader.insmod(mod("consumer")));
  EXPECT_EQ(tlog().events(), (std::vector<std::string>{"provider:init", "consumer:init sum=5"}));
  auto l = loader.lsmod();
  ASSERT_TRUE(status(l, "provider") && status(l, "consumer"));
  EXPECT_EQ(status(l, "provider")->holders, std::vector<std::string>{"consumer"});
  EXPECT_EQ(status(l, "provider")->refcount, 1);
  EXPECT_EQ(status(l, "consumer")->depends, std::vector<std::string>{"provider"});
  expect_error(loader.rmmod("provider"), Errc::busy, {"module provider is in use by: consumer"});
  ASSERT_OK(loader.rmmod("consumer"));
  ASSERT_OK(loader.rmmod("provider"));
  EXPECT_EQ(tlog().events().back(), "provider:exit");
}

TEST_F(Loader, ModprobeLoadsDependenciesFirst) {
  ASSERT_OK(loader.announce_module_dir(mods_dir()));
  ASSERT_OK(loader.modprobe("top"));
  EXPECT_EQ(tlog().events(), (std::vector<std::string>{"provider:init", "consumer:init sum=5", "top:init value=42"}));
  ASSERT_OK(loader.modprobe("top"));  // already live: nothing to do
  EXPECT_EQ(tlog().events().size(), 3u);
  expect_error(loader.rmmod("consumer"), Errc::busy, {"in use by: top"});
}

TEST_F(Loader, ModprobeCycleIsAnError) {
  ASSERT_OK(loader.announce_module_dir(cycle_dir()));
  expect_error(loader.modprobe("cyc_a"), Errc::loop, {"module dependency cycle: cyc_a -> cyc_b -> cyc_a"});
  EXPECT_TRUE(loader.lsmod().empty());
}

TEST_F(Loader, ModprobeNamesUnresolvedAndUnknown) {
  ASSERT_OK(loader.announce_module_dir(mods_dir()));
  expect_error(loader.modprobe("unresolved"), Errc::noent, {"module unresolved: unresolved symbol modiommu_no_such_symbol"});
  expect_error(loader.modprobe("no_such_module"), Errc::noent, {"module no_such_module not found in"});
  expect_error(loader.modprobe("badabi"), Errc::inval, {"module ABI version"});
}

TEST_F(Loader, InsmodByNameUsesIndex) {
  expect_error(loader.insmod("plain"), Errc::noent, {"no module directory"});
  ASSERT_OK(loader.announce_module_dir(mods_dir()));
  auto m = loader.insmod("plain");
  ASSERT_OK(m);
  EXPECT_EQ((*m)->path().substr((*m)->path().rfind('/') + 1), "plain.so");
  EXPECT_EQ(tlog().count("plain:init"), 1u);
}

TEST_F(Loader, RmmodRefusedWhilePinned) {
  ASSERT_OK(loader.insmod(mod("plain")));
  {
    ModuleRef ref = loader.try_get("plain");
    ASSERT_TRUE(ref.ok());
    EXPECT_EQ(loader.lsmod()[0].refcount, 1);
    expect_error(loader.rmmod("plain"), Errc::busy, {"module plain is in use (1 call(s) in progress)"});
    EXPECT_EQ(ref.get()->state(), ModuleState::live);
  }
  ASSERT_OK(loader.rmmod("plain"));
}

TEST_F(Loader, RmmodWaitDrainsPins) {
  ASSERT_OK(loader.insmod(mod("plain")));
  auto m = loader.find("plain");
  ModuleRef ref = ModuleRef::try_get(m);
  ASSERT_TRUE(ref.ok());
  Status result = make_error(Errc::inval, "not run");
  std::thread t([&] { result = loader.rmmod("plain", {.wait = true}); });
  while (m->state() != ModuleState::unloading) std::this_thread::yield();
  // Unloading has begun: no new pin, and exit has not run while pinned.
  EXPECT_FALSE(loader.try_get("plain").ok());
  EXPECT_EQ(tlog().count("plain:exit"), 0u);
  ref.reset();
  t.join();
  EXPECT_OK(result);
  EXPECT_EQ(tlog().count("plain:exit"), 1u);
  EXPECT_TRUE(loader.lsmod().empty());
}

TEST_F(Loader, BuiltinBehavesLikeTheModuleButCannotBeRemoved) {
  {
    Kernel k2;
    ModuleLoader host(k2);
    // Only plain: the full host may link other built-in modules in.
    expect_error(host.load_builtin("plain", {"count=x"}), Errc::inval, {"parameter 'count' expects int"});
    expect_error(host.load_builtin("no_such_builtin"), Errc::noent, {"no built-in module no_such_builtin"});
    ASSERT_OK(host.load_builtin("plain", {"count=9"}));
    EXPECT_EQ(tlog().events(), std::vector<std::string>{"plain:init count=9 verbose=0 label=x limit=256 builtin=1"});
    auto l = host.lsmod();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].name, "plain");
    EXPECT_TRUE(l[0].builtin);
    EXPECT_EQ(l[0].state, ModuleState::live);
    expect_error(host.rmmod("plain"), Errc::perm, {"module plain is built in; it cannot be unloaded"});
    expect_error(host.insmod(mod("plain")), Errc::exist, {"module plain is already live (built in)"});
    ASSERT_OK(host.modprobe("plain"));  // built in: already there
    EXPECT_TRUE(host.can_provide("of:modiommu,plain-test"));
    EXPECT_EQ(last_kernel(), &k2);
  }
  // Host shutdown runs the built-in's exit.
  EXPECT_EQ(tlog().events().back(), "plain:exit count=9");
  tlog().clear();
  // Same source as a .so: the same init, the same parameters.
  ASSERT_OK(loader.insmod(mod("plain"), {"count=9"}));
  EXPECT_EQ(tlog().events(), std::vector<std::string>{"plain:init count=9 verbose=0 label=x limit=256 builtin=0"});
  EXPECT_EQ(last_kernel(), &k);
}

TEST_F(Loader, NotifiersSeeLiveGoingGone) {
  loader.add_notifier([&](ModuleEvent ev, Module& m) {
    const char* n = ev == ModuleEvent::live ? "live" : ev == ModuleEvent::going ? "going" : "gone";
    tlog().record(std::string("notify:") + n + ":" + m.name());
  });
  ASSERT_OK(loader.insmod(mod("plain")));
  ASSERT_OK(loader.rmmod("plain"));
  (void)loader.insmod(mod("initfail"));
  EXPECT_EQ(tlog().events(), (std::vector<std::string>{"plain:init count=5 verbose=0 label=x limit=256 builtin=0",
                                                  "notify:live:plain", "notify:going:plain", "plain:exit count=5",
                                                  "notify:gone:plain", "initfail:init", "notify:going:initfail"}));
}

TEST_F(Loader, AutoloadHonoursPolicyAndBlacklist) {
  ASSERT_OK(loader.announce_module_dir(mods_dir()));
  EXPECT_TRUE(loader.can_provide("of:modiommu,plain-test"));
  EXPECT_TRUE(loader.can_provide("pci:v00001234d00005678"));
  EXPECT_TRUE(loader.can_provide(virtio_modalias(23)));
  EXPECT_FALSE(loader.can_provide("of:arm,nothing"));
  EXPECT_EQ(loader.find_by_alias("pci:v00001234d00005678"), std::vector<std::string>{"plain"});

  loader.set_autoload(false);
  expect_error(loader.request_module("of:modiommu,plain-test"), Errc::perm, {"autoload disabled"});
  loader.set_autoload(true);
  loader.set_blacklist({"plain"});
  expect_error(loader.request_module("of:modiommu,plain-test"), Errc::perm, {"plain", "blacklisted"});
  EXPECT_TRUE(loader.can_provide("of:modiommu,plain-test"));  // still available, just not autoloaded
  EXPECT_TRUE(loader.lsmod().empty());
  expect_error(loader.request_module("of:arm,nothing"), Errc::noent, {"no module for of:arm,nothing"});

  ASSERT_OK(loader.request_module(virtio_modalias(23)));  // provider, not blacklisted
  EXPECT_EQ(tlog().count("provider:init"), 1u);
  ASSERT_OK(loader.modprobe("plain"));  // the blacklist is for autoload only
  ASSERT_OK(loader.request_module("of:modiommu,plain-test"));  // already live: fine
  EXPECT_EQ(tlog().count("plain:init"), 1u);
}

TEST_F(Loader, ModinfoFromIndexFileAndLiveModule) {
  ASSERT_OK(loader.announce_module_dir(mods_dir()));
  auto a = loader.modinfo("plain");
  ASSERT_OK(a);
  EXPECT_NE(a->to_text().find("parm: count:how many (int, default '5')"), std::string::npos) << a->to_text();
  auto b = loader.modinfo(mod("provider"));
  ASSERT_OK(b);
  EXPECT_EQ(b->name, "provider");
  ASSERT_OK(loader.insmod(mod("plain")));
  auto c = loader.modinfo("plain");
  ASSERT_OK(c);
  EXPECT_EQ(c->aliases, a->aliases);
  EXPECT_EQ(tlog().count("plain:init"), 1u);  // modinfo ran no code
  expect_error(loader.modinfo("zzz"), Errc::noent, {"module zzz not found"});
}

TEST_F(Loader, SourcesFinalFlagAndDirs) {
  EXPECT_FALSE(loader.sources_final());
  ASSERT_OK(loader.announce_module_dir(mods_dir()));
  ASSERT_OK(loader.announce_module_dir(mods_dir()));  // once only
  EXPECT_EQ(loader.module_dirs().size(), 1u);
  loader.set_sources_final(true);
  EXPECT_TRUE(loader.sources_final());
  EXPECT_FALSE(loader.announce_module_dir("/nonexistent-modiommu-dir").ok());
}

TEST_F(Loader, ShutdownUnloadsDependentsFirst) {
  {
    Kernel k2;
    {
      ModuleLoader host(k2);
      ASSERT_OK(host.insmod(mod("provider")));
      ASSERT_OK(host.insmod(mod("consumer")));
    }
    auto ev = tlog().events();
    ASSERT_EQ(ev.size(), 4u);
    EXPECT_EQ(ev[2], "consumer:exit");
    EXPECT_EQ(ev[3], "provider:exit");
  }
}

// Leak-free under ASan (the asan build runs this): every cycle maps and
// unmaps the object and frees the module's state.
TEST_F(Loader, ThousandLoadUnloadCycles) {
  for (int i = 0; i < 1000; ++i) {
    auto m = loader.insmod(mod("plain"), {"count=" + std::to_string(i)});
    ASSERT_OK(m);
    ASSERT_OK(loader.rmmod("plain"));
  }
  EXPECT_EQ(tlog().count("plain:init"), 1000u);
  EXPECT_EQ(tlog().count("plain:exit"), 1000u);
  EXPECT_EQ(tlog().events().back(), "plain:exit count=999");
  EXPECT_TRUE(loader.lsmod().empty());
  // rmmod really unmapped the object (dlclose was the last reference).
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) EXPECT_EQ(line.find(mod("plain")), std::string::npos) << line;
}
