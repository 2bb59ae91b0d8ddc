#include "module/info.h"

#include <elf.h>
#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <set>

#include "module/alias.h"

namespace modiommu {

namespace {

constexpr size_t kMaxString = 4096;
constexpr size_t kMaxParamString = 1024;

// Where descriptor bytes come from: the live struct, or the ELF image.
// Offsets are from the start of the descriptor.
class DescSource {
 public:
  virtual ~DescSource() = default;
  virtual Result<uint64_t> u64(size_t off) const = 0;
  virtual Result<uint32_t> u32(size_t off) const = 0;
  virtual Result<uint64_t> ptr(size_t off) const = 0;
  virtual Result<std::string> str(uint64_t p) const = 0;
};

class LiveSource : public DescSource {
 public:
  explicit LiveSource(const ModuleDescriptor& d) : base_(reinterpret_cast<const uint8_t*>(&d)) {}
  Result<uint64_t> u64(size_t off) const override { return get<uint64_t>(off); }
  Result<uint32_t> u32(size_t off) const override { return get<uint32_t>(off); }
  Result<uint64_t> ptr(size_t off) const override { return get<uint64_t>(off); }
  Result<std::string> str(uint64_t p) const override {
    const char* s = reinterpret_cast<const char*>(p);
    size_t n = strnlen(s, kMaxString + 1);
    if (n > kMaxString) return make_error(Errc::inval, fmt::format("string longer than {} bytes", kMaxString));
    return std::string(s, n);
  }

 private:
  template <class T>
  T get(size_t off) const {
    T v;
    std::memcpy(&v, base_ + off, sizeof v);
    return v;
  }
  const uint8_t* base_;
};

class ElfSource : public DescSource {
 public:
  ElfSource(const ElfFile& e, uint64_t vaddr) : e_(e), vaddr_(vaddr) {}
  Result<uint64_t> u64(size_t off) const override {
    auto b = TRY(e_.read_vaddr(vaddr_ + off, 8));
    uint64_t v;
    std::memcpy(&v, b.data(), 8);
    return v;
  }
  Result<uint32_t> u32(size_t off) const override {
    auto b = TRY(e_.read_vaddr(vaddr_ + off, 4));
    uint32_t v;
    std::memcpy(&v, b.data(), 4);
    return v;
  }
  Result<uint64_t> ptr(size_t off) const override { return e_.read_pointer(vaddr_ + off); }
  Result<std::string> str(uint64_t p) const override { return e_.read_cstring(p, kMaxString); }

 private:
  const ElfFile& e_;
  uint64_t vaddr_;
};

Error bad(std::string_view where, std::string what) {
  return make_error(Errc::inval, fmt::format("{}: {}", where, what));
}

// An optional string field: null pointer => empty.
Result<std::string> field(const DescSource& src, size_t off, std::string_view where, std::string_view what) {
  uint64_t p = TRY(src.ptr(off));
  if (p == 0) return std::string();
  auto s = src.str(p);
  if (!s) return bad(where, fmt::format("descriptor field {}: {}", what, s.error().message));
  return std::move(s).value();
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

Result<ModuleInfo> build(const DescSource& src, size_t avail, std::string_view where) {
  // The fixed header (magic, size, abi_version, name) never moves between
  // ABI versions, so a mismatch can still be reported by module name.
  constexpr size_t kHeader = offsetof(ModuleDescriptor, name) + sizeof(const char*);
  if (avail < kHeader)
    return bad(where, fmt::format("module descriptor is {} bytes, too small for its header ({})", avail, kHeader));
  uint64_t magic = TRY(src.u64(offsetof(ModuleDescriptor, magic)));
  if (magic != kModuleMagic)
    return bad(where, fmt::format("bad module descriptor magic {:#018x} (expected {:#018x})", magic, kModuleMagic));
  uint32_t size = TRY(src.u32(offsetof(ModuleDescriptor, size)));
  uint32_t abi = TRY(src.u32(offsetof(ModuleDescriptor, abi_version)));
  ModuleInfo info;
  info.abi_version = abi;
  info.name = TRY(field(src, offsetof(ModuleDescriptor, name), where, "name"));
  std::string who = info.name.empty() ? std::string(where) : fmt::format("{} ({})", where, info.name);
  if (abi != kModuleAbiVersion)
    return bad(who, fmt::format("module ABI version {} does not match the host's ABI version {}", abi,
                                kModuleAbiVersion));
  if (size != sizeof(ModuleDescriptor) || avail < sizeof(ModuleDescriptor))
    return bad(who, fmt::format("module descriptor size {} (object holds {}), host expects {}", size, avail,
                                sizeof(ModuleDescriptor)));
  if (!valid_name(info.name))
    return bad(who, fmt::format("module name '{}' must be 1-64 of [A-Za-z0-9_-]", info.name));
  info.version = TRY(field(src, offsetof(ModuleDescriptor, version), who, "version"));
  info.license = TRY(field(src, offsetof(ModuleDescriptor, license), who, "license"));
  info.description = TRY(field(src, offsetof(ModuleDescriptor, description), who, "description"));
  info.author = TRY(field(src, offsetof(ModuleDescriptor, author), who, "author"));

  std::set<std::string> seen;
  for (unsigned i = 0; i < kModuleMaxParams; ++i) {
    size_t base = offsetof(ModuleDescriptor, params) + i * sizeof(ModuleParamDesc);
    ParamInfo p;
    p.name = TRY(field(src, base + offsetof(ModuleParamDesc, name), who, fmt::format("params[{}].name", i)));
    if (p.name.empty()) break;
    if (!valid_name(p.name)) return bad(who, fmt::format("params[{}]: bad parameter name '{}'", i, p.name));
    if (!seen.insert(p.name).second) return bad(who, fmt::format("params[{}]: duplicate parameter '{}'", i, p.name));
    uint32_t t = TRY(src.u32(base + offsetof(ModuleParamDesc, type)));
    if (t < 1 || t > 4) return bad(who, fmt::format("parameter '{}': unknown type {}", p.name, t));
    p.type = static_cast<ModuleParamType>(t);
    p.default_value = TRY(field(src, base + offsetof(ModuleParamDesc, default_value), who, "default_value"));
    p.description = TRY(field(src, base + offsetof(ModuleParamDesc, description), who, "description"));
    // No default: the type's zero, as a Linux module_param's static is.
    if (p.default_value.empty() && p.type != ModuleParamType::string_) p.default_value.push_back('0');
    auto def = parse_param(info.name, p, p.default_value);
    if (!def) return bad(who, fmt::format("default value: {}", def.error().message));
    info.params.push_back(std::move(p));
  }
  for (unsigned i = 0; i < kModuleMaxAliases; ++i) {
    std::string a = TRY(field(src, offsetof(ModuleDescriptor, aliases) + i * sizeof(const char*), who,
                              fmt::format("aliases[{}]", i)));
    if (a.empty()) break;
    if (auto st = validate_alias(a); !st) return bad(who, fmt::format("aliases[{}]: {}", i, st.error().message));
    info.aliases.push_back(std::move(a));
  }
  for (unsigned i = 0; i < kModuleMaxSoftdeps; ++i) {
    std::string d = TRY(field(src, offsetof(ModuleDescriptor, softdeps) + i * sizeof(const char*), who,
                              fmt::format("softdeps[{}]", i)));
    if (d.empty()) break;
    if (d.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
      return bad(who, fmt::format("softdeps[{}]: '{}' is not a module name", i, d));
    info.softdeps.push_back(std::move(d));
  }
  info.has_init = TRY(src.ptr(offsetof(ModuleDescriptor, init))) != 0;
  info.has_exit = TRY(src.ptr(offsetof(ModuleDescriptor, exit))) != 0;
  return info;
}

}  // namespace

const char* param_type_name(ModuleParamType t) {
  switch (t) {
    case ModuleParamType::bool_: return "bool";
    case ModuleParamType::int_: return "int";
    case ModuleParamType::uint_: return "uint";
    case ModuleParamType::string_: return "string";
    case ModuleParamType::none_: break;
  }
  return "none";
}

Result<ParamValue> parse_param(std::string_view module, const ParamInfo& p, std::string_view text) {
  ParamValue v;
  v.type = p.type;
  auto fail = [&] {
    return make_error(Errc::inval, fmt::format("module {}: parameter '{}' expects {}, got '{}'", module, p.name,
                                               param_type_name(p.type), text));
  };
  switch (p.type) {
    case ModuleParamType::bool_:
      if (text.empty() || text == "1" || text == "y" || text == "Y" || text == "true" || text == "on")
        v.b = true;
      else if (text == "0" || text == "n" || text == "N" || text == "false" || text == "off")
        v.b = false;
      else
        return fail();
      return v;
    case ModuleParamType::int_:
    case ModuleParamType::uint_: {
      std::string s(text);
      if (s.empty() || s.size() > 32 || std::isspace(static_cast<unsigned char>(s[0]))) return fail();
      char* end = nullptr;
      errno = 0;
      if (p.type == ModuleParamType::int_) {
        long long x = std::strtoll(s.c_str(), &end, 0);
        if (errno != 0 || *end != '\0') return fail();
        v.i = x;
      } else {
        if (s[0] == '-' || s[0] == '+') return fail();
        unsigned long long x = std::strtoull(s.c_str(), &end, 0);
        if (errno != 0 || *end != '\0') return fail();
        v.u = x;
      }
      return v;
    }
    case ModuleParamType::string_:
      if (text.size() > kMaxParamString) return fail();
      v.s = std::string(text);
      return v;
    case ModuleParamType::none_: break;
  }
  return fail();
}

Result<ModuleInfo> module_info_from_descriptor(const ModuleDescriptor& d, std::string_view where) {
  LiveSource src(d);
  // The live object's size is what the module says it is; trust it only up
  // to our own struct size (a larger one is refused by the size check).
  return build(src, std::min<size_t>(d.size, sizeof(ModuleDescriptor)), where);
}

Result<ModuleInfo> module_info_from_elf(const ElfFile& elf) {
  const ElfSymbol* s = elf.find_symbol(kModuleDescriptorSymbol);
  if (!s || !s->defined)
    return make_error(Errc::noent, fmt::format("{}: no module descriptor (symbol '{}' not exported)", elf.where(),
                                               kModuleDescriptorSymbol));
  if (s->type != STT_OBJECT || !s->exported())
    return make_error(Errc::inval,
                      fmt::format("{}: '{}' is not an exported data object", elf.where(), kModuleDescriptorSymbol));
  ElfSource src(elf, s->value);
  auto info = build(src, s->size, elf.where());
  if (info) info->file = elf.where();
  return info;
}

std::string ModuleInfo::to_text() const {
  std::string out;
  auto line = [&](std::string_view k, std::string_view v) {
    if (!v.empty()) out += fmt::format("{}: {}\n", k, v);
  };
  line("filename", file.empty() ? "(builtin)" : file);
  line("name", name);
  line("version", version);
  line("license", license);
  line("description", description);
  line("author", author);
  for (const auto& a : aliases) line("alias", a);
  if (!softdeps.empty()) line("softdep", "pre: " + fmt::format("{}", fmt::join(softdeps, " ")));
  for (const auto& p : params)
    out += fmt::format("parm: {}:{} ({}, default '{}')\n", p.name, p.description, param_type_name(p.type),
                       p.default_value);
  out += fmt::format("abi: {}\n", abi_version);
  return out;
}

}  // namespace modiommu
