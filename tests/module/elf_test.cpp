#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <random>

#include "module/abi.h"
#include "module/elf.h"
#include "module/host.h"
#include "module/info.h"
#include "test_util.h"

using namespace modiommu;
using namespace modtest;

namespace {
bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

template <class T>
void poke(std::vector<uint8_t>& b, size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
}
}  // namespace

TEST(Elf, ExportsAndImports) {
  auto provider = ElfFile::open(mod("provider"));
  ASSERT_OK(provider);
#if defined(__x86_64__)
  EXPECT_EQ(provider->machine(), EM_X86_64);
#elif defined(__aarch64__)
  EXPECT_EQ(provider->machine(), EM_AARCH64);
#endif
  EXPECT_TRUE(has(provider->exports(false), "provider_add"));
  EXPECT_TRUE(has(provider->exports(false), "modiommu_module_descriptor"));
  EXPECT_FALSE(has(provider->imports(false), "provider_add"));

  auto consumer = ElfFile::open(mod("consumer"));
  ASSERT_OK(consumer);
  EXPECT_TRUE(has(consumer->imports(false), "provider_add"));
  EXPECT_TRUE(has(consumer->exports(false), "consumer_value"));
  EXPECT_FALSE(has(consumer->exports(false), "provider_add"));
  // Hidden (static) functions are not exported.
  for (const auto& s : consumer->exports(true)) EXPECT_EQ(s.find("consumer_init"), std::string::npos) << s;
}

TEST(Elf, HostExportsFromProcSelfExe) {
  const HostSymbols& h = HostSymbols::self();
  EXPECT_GT(h.exe_export_count(), 0u);
  EXPECT_TRUE(h.exe_exports("modiommu_test_host_marker"));
  EXPECT_FALSE(h.exe_exports("modiommu_no_such_symbol"));
  EXPECT_TRUE(h.provides("modiommu_test_host_marker"));
  EXPECT_TRUE(h.provides("malloc"));  // from libc, through the dynamic linker
  EXPECT_FALSE(h.provides("modiommu_no_such_symbol"));
}

TEST(Elf, SymbolsAloneGiveTheSameExportsAndNoPointers) {
  auto all = ElfFile::open(mod("plain"));
  auto syms = ElfFile::open(mod("plain"), ElfRead::symbols);
  ASSERT_OK(all);
  ASSERT_OK(syms);
  EXPECT_EQ(syms->exports(true), all->exports(true));
  EXPECT_EQ(syms->imports(true), all->imports(true));
  // The descriptor needs relocated pointers: refused, not read unrelocated.
  const ElfSymbol* desc = all->find_symbol(kModuleDescriptorSymbol);
  ASSERT_NE(desc, nullptr);
  EXPECT_OK(all->read_pointer(desc->value));
  auto p = syms->read_pointer(desc->value);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("symbols alone"), std::string::npos) << p.error().message;
  EXPECT_FALSE(module_info_from_elf(*syms).ok());
}

TEST(Elf, DescriptorReadWithoutRunningCode) {
  auto elf = ElfFile::open(mod("plain"));
  ASSERT_OK(elf);
  auto info = module_info_from_elf(*elf);
  ASSERT_OK(info);
  EXPECT_EQ(info->name, "plain");
  EXPECT_EQ(info->version, "1.2");
  EXPECT_EQ(info->license, "GPL-2.0");
  EXPECT_EQ(info->description, "plain test module");
  EXPECT_EQ(info->author, "modiommu tests");
  EXPECT_EQ(info->abi_version, kModuleAbiVersion);
  ASSERT_EQ(info->params.size(), 4u);
  EXPECT_EQ(info->params[0].name, "count");
  EXPECT_EQ(info->params[0].type, ModuleParamType::int_);
  EXPECT_EQ(info->params[0].default_value, "5");
  EXPECT_EQ(info->params[1].name, "verbose");
  EXPECT_EQ(info->params[1].default_value, "0");  // omitted default: zero
  EXPECT_EQ(info->params[3].default_value, "0x100");
  EXPECT_EQ(info->aliases, (std::vector<std::string>{"of:modiommu,plain-test", "pci:v00001234d*"}));
  EXPECT_TRUE(info->has_init);
  EXPECT_TRUE(info->has_exit);
  EXPECT_NE(info->to_text().find("alias: of:modiommu,plain-test"), std::string::npos);
}

TEST(Elf, SameSourceBuiltinDescriptorMatchesModuleFile) {
  const ModuleDescriptor* builtin = nullptr;
  for (auto* d : builtin_modules())
    if (std::string(d->name) == "plain") builtin = d;
  ASSERT_NE(builtin, nullptr) << "plain.cpp compiled in should have registered itself";
  auto a = module_info_from_descriptor(*builtin, "built-in");
  auto elf = ElfFile::open(mod("plain"));
  ASSERT_OK(elf);
  auto b = module_info_from_elf(*elf);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->name, b->name);
  EXPECT_EQ(a->version, b->version);
  EXPECT_EQ(a->aliases, b->aliases);
  ASSERT_EQ(a->params.size(), b->params.size());
  for (size_t i = 0; i < a->params.size(); ++i) {
    EXPECT_EQ(a->params[i].name, b->params[i].name);
    EXPECT_EQ(a->params[i].type, b->params[i].type);
    EXPECT_EQ(a->params[i].default_value, b->params[i].default_value);
  }
}

TEST(Elf, WrongAbiNamesBothVersions) {
  auto elf = ElfFile::open(mod("badabi"));
  ASSERT_OK(elf);
  auto info = module_info_from_elf(*elf);
  ASSERT_FALSE(info.ok());
  const std::string& msg = info.error().message;
  EXPECT_NE(msg.find("module ABI version " + std::to_string(kModuleAbiVersion + 41)), std::string::npos) << msg;
  EXPECT_NE(msg.find("host's ABI version " + std::to_string(kModuleAbiVersion)), std::string::npos) << msg;
  EXPECT_NE(msg.find("badabi"), std::string::npos) << msg;
}

TEST(Elf, MissingDescriptor) {
  auto elf = ElfFile::open(mod("nodesc"));
  ASSERT_OK(elf);
  auto info = module_info_from_elf(*elf);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Errc::noent);
  EXPECT_NE(info.error().message.find("no module descriptor"), std::string::npos) << info.error().message;
}

TEST(Elf, DynamicSectionFallbackWithoutSectionHeaders) {
  auto bytes = read_bytes(mod("plain"));
  ASSERT_GT(bytes.size(), sizeof(Elf64_Ehdr));
  auto with = ElfFile::parse("plain.so", bytes);
  ASSERT_OK(with);
  poke<uint64_t>(bytes, offsetof(Elf64_Ehdr, e_shoff), 0);
  poke<uint16_t>(bytes, offsetof(Elf64_Ehdr, e_shnum), 0);
  poke<uint16_t>(bytes, offsetof(Elf64_Ehdr, e_shstrndx), 0);
  auto without = ElfFile::parse("plain-stripped.so", bytes);
  ASSERT_OK(without);
  auto e1 = with->exports(true), e2 = without->exports(true);
  std::sort(e1.begin(), e1.end());
  std::sort(e2.begin(), e2.end());
  EXPECT_EQ(e1, e2);
  auto i1 = with->imports(true), i2 = without->imports(true);
  std::sort(i1.begin(), i1.end());
  std::sort(i2.begin(), i2.end());
  EXPECT_EQ(i1, i2);
  auto info = module_info_from_elf(*without);
  ASSERT_OK(info);
  EXPECT_EQ(info->name, "plain");
}

TEST(Elf, MalformedHeadersNamed) {
  auto good = read_bytes(mod("plain"));
  {
    auto b = good;
    b[1] = 'X';
    auto r = ElfFile::parse("f.so", b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "f.so: ELF: bad magic (not an ELF file)");
  }
  {
    auto b = good;
    b[EI_CLASS] = ELFCLASS32;
    auto r = ElfFile::parse("f.so", b);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not ELFCLASS64"), std::string::npos);
  }
  {
    auto b = good;
    poke<uint64_t>(b, offsetof(Elf64_Ehdr, e_shoff), b.size() - 10);
    auto r = ElfFile::parse("f.so", b);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("section headers"), std::string::npos) << r.error().message;
  }
  {
    auto b = good;
    poke<uint64_t>(b, offsetof(Elf64_Ehdr, e_phoff), ~uint64_t{0} - 8);
    auto r = ElfFile::parse("f.so", b);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("program headers"), std::string::npos) << r.error().message;
  }
  {
    auto r = ElfFile::parse("tiny.so", std::vector<uint8_t>(good.begin(), good.begin() + 20));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("tiny.so: ELF: file too short"), std::string::npos);
  }
  {
    auto r = ElfFile::open("/nonexistent/x.so");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::noent);
  }
}

// Every truncation and many random corruptions: an error or a result, never
// a crash (ASan/UBSan builds check the "never").
TEST(Elf, TruncationsAndCorruptionsAreHandled) {
  auto good = read_bytes(mod("plain"));
  size_t failures = 0;
  for (size_t len = 0; len < good.size(); len += std::max<size_t>(1, good.size() / 128)) {
    auto r = ElfFile::parse("cut.so", std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(len)));
    if (!r) {
      ++failures;
      EXPECT_EQ(r.error().message.rfind("cut.so: ", 0), 0u) << r.error().message;
    } else {
      (void)module_info_from_elf(*r);
    }
  }
  EXPECT_GT(failures, 0u);
  std::mt19937 rng(1234);
  size_t parsed = 0;
  for (int i = 0; i < 600; ++i) {
    auto b = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    auto r = ElfFile::parse("fuzz.so", std::move(b));
    if (r) {
      ++parsed;
      auto info = module_info_from_elf(*r);
      if (!info) {
        EXPECT_FALSE(info.error().message.empty());
      }
    }
  }
  EXPECT_GT(parsed, 0u);  // most single-byte flips leave a parseable file
}
