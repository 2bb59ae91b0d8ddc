#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "module/depmod.h"
#include "test_host.h"
#include "test_kernel.h"
#include "test_util.h"

using namespace modiommu;
using namespace modtest;

namespace {
bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }
}  // namespace

TEST(Depmod, IndexContent) {
  auto idx = depmod(mods_dir());
  ASSERT_OK(idx);
  const IndexEntry* provider = idx->find("provider");
  const IndexEntry* consumer = idx->find("consumer");
  const IndexEntry* top = idx->find("top");
  const IndexEntry* unresolved = idx->find("unresolved");
  const IndexEntry* plain = idx->find("plain");
  ASSERT_TRUE(provider && consumer && top && unresolved && plain);
  EXPECT_TRUE(has(provider->exports, "provider_add"));
  EXPECT_FALSE(has(provider->exports, kModuleDescriptorSymbol));
  EXPECT_TRUE(provider->depends.empty());
  EXPECT_EQ(consumer->depends, std::vector<std::string>{"provider"});
  EXPECT_EQ(top->depends, std::vector<std::string>{"consumer"});
  EXPECT_EQ(unresolved->unresolved, std::vector<std::string>{"modiommu_no_such_symbol"});
  EXPECT_TRUE(consumer->unresolved.empty());  // host symbols (Kernel::record, libstdc++) resolve
  // Two files claim "plain": the one named plain.so is the module "plain".
  EXPECT_EQ(plain->file, "plain.so");
  EXPECT_EQ(plain->info.version, "1.2");
  EXPECT_EQ(plain->info.aliases, (std::vector<std::string>{"of:modiommu,plain-test", "pci:v00001234d*"}));
  bool dup_note = std::any_of(idx->notes.begin(), idx->notes.end(),
                              [](const std::string& n) { return n.find("module name plain used by both") != std::string::npos; });
  EXPECT_TRUE(dup_note);
  // Files that are not valid modules are listed with the reason.
  const IndexError* badabi = idx->find_error("badabi");
  const IndexError* nodesc = idx->find_error("nodesc");
  ASSERT_TRUE(badabi && nodesc);
  EXPECT_NE(badabi->error.find("module ABI version " + std::to_string(kModuleAbiVersion + 41)), std::string::npos);
  EXPECT_NE(nodesc->error.find("no module descriptor"), std::string::npos);
  // Reading descriptors ran no module code.
  EXPECT_EQ(tlog().count("badabi:ctor"), 0u);
  EXPECT_EQ(tlog().count("nodesc:ctor"), 0u);

  // The written file reads back the same.
  auto back = read_index(mods_dir());
  ASSERT_OK(back);
  EXPECT_EQ(back->to_json(), idx->to_json());
  EXPECT_FALSE(index_is_stale(*back));
}

TEST(Depmod, StaleOrMissingIndexIsRebuilt) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  dir.copy_in(mod("provider"), "provider.so");
  dir.copy_in(mod("consumer"), "consumer.so");
  bool rebuilt = false;
  auto idx = load_index(dir.path(), HostSymbols::self(), &rebuilt);
  ASSERT_OK(idx);
  EXPECT_TRUE(rebuilt);  // missing
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/" + kModuleIndexFile));
  EXPECT_EQ(idx->modules.size(), 2u);
  idx = load_index(dir.path(), HostSymbols::self(), &rebuilt);
  ASSERT_OK(idx);
  EXPECT_FALSE(rebuilt);  // fresh

  dir.copy_in(mod("plain"), "plain.so");  // a new file
  idx = load_index(dir.path(), HostSymbols::self(), &rebuilt);
  ASSERT_OK(idx);
  EXPECT_TRUE(rebuilt);
  EXPECT_NE(idx->find("plain"), nullptr);

  std::filesystem::remove(dir.path() + "/provider.so");  // a removed file
  idx = load_index(dir.path(), HostSymbols::self(), &rebuilt);
  ASSERT_OK(idx);
  EXPECT_TRUE(rebuilt);
  EXPECT_EQ(idx->find("provider"), nullptr);
  // consumer's provider is gone: its symbol is now unresolved.
  ASSERT_NE(idx->find("consumer"), nullptr);
  EXPECT_EQ(idx->find("consumer")->unresolved, std::vector<std::string>{"provider_add"});

  // A file replaced in place (different size) is noticed.
  dir.copy_in(mod("top"), "plain.so");
  idx = load_index(dir.path(), HostSymbols::self(), &rebuilt);
  ASSERT_OK(idx);
  EXPECT_TRUE(rebuilt);
  EXPECT_EQ(idx->find("plain")->info.name, "top");  // found by file stem

  // A corrupt index is rebuilt, not trusted.
  { std::ofstream(dir.path() + "/" + kModuleIndexFile) << "{ not json"; }
  idx = load_index(dir.path(), HostSymbols::self(), &rebuilt);
  ASSERT_OK(idx);
  EXPECT_TRUE(rebuilt);
}

TEST(Depmod, MalformedIndexJsonRejected) {
  EXPECT_FALSE(ModuleIndex::from_json("/d", "[]").ok());
  EXPECT_FALSE(ModuleIndex::from_json("/d", R"({"format":"modiommu-modules.dep","version":99})").ok());
  const std::string abi = std::to_string(kModuleAbiVersion);
  auto r = ModuleIndex::from_json(
      "/d", R"({"format":"modiommu-modules.dep","version":1,"abi":)" + abi + R"(,"modules":[{"name":"x"}],"errors":[]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("malformed module entry"), std::string::npos);
  // A file name may not escape the directory.
  auto esc = ModuleIndex::from_json("/d", R"({"format":"modiommu-modules.dep","version":1,"abi":)" + abi + R"(,"modules":[
      {"name":"x","file":"../x.so","aliases":[],"exports":[],"depends":[],"unresolved":[],"size":1,"mtime_ns":1,
       "params":[]}],"errors":[]})");
  EXPECT_FALSE(esc.ok());
}

TEST(Depmod, MissingDirectory) {
  auto r = depmod("/nonexistent-modiommu-dir");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent-modiommu-dir"), std::string::npos);
}

TEST(Depmod, ConcurrentRebuildsAgree) {
  TempDir dir;
  dir.copy_in(mod("provider"), "provider.so");
  dir.copy_in(mod("consumer"), "consumer.so");
  std::vector<std::thread> ts;
  std::vector<std::string> out(4);
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&, i] {
      auto r = depmod(dir.path());
      out[static_cast<size_t>(i)] = r ? r->to_json() : r.error().str();
    });
  for (auto& t : ts) t.join();
  for (const auto& o : out) EXPECT_EQ(o, out[0]);
  auto back = read_index(dir.path());
  ASSERT_OK(back);
  EXPECT_EQ(back->to_json(), out[0]);
}
