#include "module/depmod.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/json_text.h"
#include "base/text.h"

namespace modiommu {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kIndexVersion = 1;
constexpr const char kFormat[] = "modiommu-modules.dep";

struct FileStat {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

std::optional<FileStat> stat_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FileStat{static_cast<uint64_t>(st.st_size), int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

// What a DIR/*.so entry that is not a regular file is, for a note.
std::string odd_kind(const fs::directory_entry& e) {
  struct stat st {};
  if (::stat(e.path().c_str(), &st) != 0) {
    if (errno == ELOOP) return "a symbolic link loop";
    if (errno == ENOENT) return "a dangling symbolic link";
    return std::strerror(errno);
  }
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a fifo";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device file";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  return "not a regular file";
}

// Sorted basenames of DIR/*.so that are regular files with UTF-8 names
// (the index is JSON); the others, with why, go to *skipped.
Result<std::vector<std::string>> list_modules(const std::string& dir, std::vector<std::string>* skipped = nullptr) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return make_error(Errc::noent, ec.message());
  std::vector<std::string> out;
  for (const auto& e : it) {
    std::string n = e.path().filename().string();
    if (n.size() <= 3 || !n.ends_with(".so")) continue;
    if (!e.is_regular_file(ec)) {
      if (skipped) skipped->push_back(fmt::format("{}: skipped: {}", n, odd_kind(e)));
    } else if (!is_utf8(n)) {
      if (skipped) skipped->push_back(fmt::format("{}: skipped: its name is not UTF-8", utf8_escaped(n)));
    } else {
      out.push_back(n);
    }
  }
  std::sort(out.begin(), out.end());
  if (skipped) std::sort(skipped->begin(), skipped->end());
  return out;
}

// The first descriptor field that is not UTF-8 (the index is JSON, and a
// replaced byte would make the name or an alias another one), or "".
std::string non_utf8_field(const ModuleInfo& m) {
  if (!is_utf8(m.name)) return "name";
  for (const auto* f : {&m.version, &m.license, &m.description, &m.author})
    if (!is_utf8(*f)) return f == &m.version ? "version" : f == &m.license ? "license" : f == &m.description ? "description" : "author";
  for (const auto& a : m.aliases)
    if (!is_utf8(a)) return "alias";
  for (const auto& d : m.softdeps)
    if (!is_utf8(d)) return "softdep";
  for (const auto& p : m.params)
    if (!is_utf8(p.name) || !is_utf8(p.default_value) || !is_utf8(p.description)) return "parameter " + utf8_escaped(p.name);
  return "";
}

std::string stem(std::string_view file) { return std::string(file.ends_with(".so") ? file.substr(0, file.size() - 3) : file); }

}  // namespace

bool module_name_eq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];
    if (x != y) return false;
  }
  return true;
}

const IndexEntry* ModuleIndex::find(std::string_view name) const {
  const IndexEntry* by_stem = nullptr;
  // A file named after the module wins when two files claim one name.
  const IndexEntry* first = nullptr;
  for (const auto& e : modules) {
    if (module_name_eq(e.info.name, name)) {
      if (module_name_eq(stem(e.file), name)) return &e;
      if (!first) first = &e;
    } else if (!by_stem && module_name_eq(stem(e.file), name)) {
      by_stem = &e;
    }
  }
  return first ? first : by_stem;
}

const IndexError* ModuleIndex::find_error(std::string_view name) const {
  for (const auto& e : errors)
    if (module_name_eq(stem(e.file), name)) return &e;
  return nullptr;
}

Result<ModuleIndex> depmod_scan(const std::string& dir, const HostSymbols& host) {
  ModuleIndex idx;
  idx.dir = dir;
  auto listed = list_modules(dir, &idx.notes);
  if (!listed.ok()) return make_error(listed.error().code, fmt::format("module directory {}: {}", dir, listed.error().message));
  std::vector<std::string> files = std::move(listed).value();
  std::vector<std::vector<std::string>> imports, weak_exports;
  for (const std::string& f : files) {
    std::string path = (fs::path(dir) / f).string();
    FileStat st = stat_file(path).value_or(FileStat{});
    auto fail = [&](std::string msg) { idx.errors.push_back({f, std::move(msg), st.size, st.mtime_ns}); };
    auto elf = ElfFile::open(path);
    if (!elf) {
      fail(elf.error().message);
      continue;
    }
    auto info = module_info_from_elf(*elf);
    if (!info) {
      fail(info.error().message);
      continue;
    }
    if (auto field = non_utf8_field(*info); !field.empty()) {
      fail(fmt::format("its descriptor's {} is not UTF-8", field));
      continue;
    }
    IndexEntry e;
    e.info = std::move(info).value();
    e.file = f;
    e.size = st.size;
    e.mtime_ns = st.mtime_ns;
    for (auto& s : elf->exports(false))
      if (s != kModuleDescriptorSymbol) e.exports.push_back(std::move(s));
    std::sort(e.exports.begin(), e.exports.end());
    imports.push_back(elf->imports(false));
    // Weak definitions (C++ vtables, typeinfo) resolve another module's
    // import when no strong export does; they never clash (module/loader.cpp).
    weak_exports.push_back(elf->weak_exports());
    idx.modules.push_back(std::move(e));
  }
  // Who exports what (first in file order wins, as the note says).
  std::map<std::string, size_t> provider, weak_provider;
  for (size_t i = 0; i < weak_exports.size(); ++i)
    for (const auto& s : weak_exports[i]) weak_provider.emplace(s, i);
  for (size_t i = 0; i < idx.modules.size(); ++i) {
    for (const auto& s : idx.modules[i].exports) {
      auto [it, ins] = provider.emplace(s, i);
      if (!ins)
        idx.notes.push_back(fmt::format("symbol {} exported by both {} and {}; using {}", s,
                                        idx.modules[it->second].file, idx.modules[i].file,
                                        idx.modules[it->second].file));
    }
    for (size_t j = 0; j < i; ++j)
      if (module_name_eq(idx.modules[j].info.name, idx.modules[i].info.name))
        idx.notes.push_back(fmt::format("module name {} used by both {} and {}", idx.modules[i].info.name,
                                        idx.modules[j].file, idx.modules[i].file));
  }
  for (size_t i = 0; i < idx.modules.size(); ++i) {
    IndexEntry& e = idx.modules[i];
    for (const auto& sym : imports[i]) {
      // Host first: the dynamic linker searches the executable and its
      // libraries before any RTLD_GLOBAL module.
      if (host.provides(sym)) continue;
      std::optional<size_t> from;
      if (auto it = provider.find(sym); it != provider.end()) from = it->second;
      else if (auto w = weak_provider.find(sym); w != weak_provider.end()) from = w->second;
      if (!from) {
        e.unresolved.push_back(sym);
      } else if (*from != i) {
        const std::string& dep = idx.modules[*from].info.name;
        if (std::find(e.depends.begin(), e.depends.end(), dep) == e.depends.end()) e.depends.push_back(dep);
      }
    }
  }
  std::stable_sort(idx.modules.begin(), idx.modules.end(),
                   [](const IndexEntry& a, const IndexEntry& b) { return a.info.name < b.info.name; });
  return idx;
}

std::string ModuleIndex::to_json() const {
  json j;
  j["format"] = kFormat;
  j["version"] = kIndexVersion;
  j["abi"] = kModuleAbiVersion;
  j["modules"] = json::array();
  for (const auto& e : modules) {
    json m;
    m["name"] = e.info.name;
    m["file"] = e.file;
    m["version"] = e.info.version;
    m["license"] = e.info.license;
    m["description"] = e.info.description;
    m["author"] = e.info.author;
    m["aliases"] = e.info.aliases;
    m["softdeps"] = e.info.softdeps;
    m["params"] = json::array();
    for (const auto& p : e.info.params)
      m["params"].push_back(
          {{"name", p.name}, {"type", param_type_name(p.type)}, {"default", p.default_value}, {"description", p.description}});
    m["exports"] = e.exports;
    m["depends"] = e.depends;
    m["unresolved"] = e.unresolved;
    m["size"] = e.size;
    m["mtime_ns"] = e.mtime_ns;
    j["modules"].push_back(std::move(m));
  }
  j["errors"] = json::array();
  for (const auto& e : errors)
    j["errors"].push_back({{"file", e.file}, {"error", e.error}, {"size", e.size}, {"mtime_ns", e.mtime_ns}});
  j["notes"] = notes;
  return json_text(j, 1);
}

Result<ModuleIndex> ModuleIndex::from_json(std::string_view dir, std::string_view text) {
  auto bad = [&](std::string what) {
    return make_error(Errc::inval, fmt::format("{}/{}: {}", dir, kModuleIndexFile, what));
  };
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  ModuleIndex idx;
  idx.dir = std::string(dir);
  // Any shape error reads as "stale": the index is then rebuilt.
  auto str = [](const json& o, const char* k) -> std::optional<std::string> {
    auto it = o.find(k);
    if (it == o.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto strs = [](const json& o, const char* k) -> std::optional<std::vector<std::string>> {
    auto it = o.find(k);
    if (it == o.end() || !it->is_array()) return std::nullopt;
    std::vector<std::string> v;
    for (const auto& x : *it) {
      if (!x.is_string()) return std::nullopt;
      v.push_back(x.get<std::string>());
    }
    return v;
  };
  auto num = [](const json& o, const char* k) -> std::optional<int64_t> {
    auto it = o.find(k);
    if (it == o.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<int64_t>();
  };
  if (str(j, "format") != kFormat || num(j, "version") != kIndexVersion) return bad("unknown format or version");
  if (num(j, "abi") != int64_t{kModuleAbiVersion}) return bad("built for another module ABI");
  auto mods = j.find("modules");
  auto errs = j.find("errors");
  if (mods == j.end() || !mods->is_array() || errs == j.end() || !errs->is_array()) return bad("no module list");
  for (const auto& m : *mods) {
    if (!m.is_object()) return bad("module entry is not an object");
    IndexEntry e;
    auto name = str(m, "name"), file = str(m, "file");
    auto aliases = strs(m, "aliases"), exports = strs(m, "exports"), depends = strs(m, "depends"),
         unresolved = strs(m, "unresolved");
    auto size = num(m, "size"), mtime = num(m, "mtime_ns");
    auto params = m.find("params");
    if (!name || !file || !aliases || !exports || !depends || !unresolved || !size || !mtime || params == m.end() ||
        !params->is_array() || file->find('/') != std::string::npos)
      return bad("malformed module entry");
    e.info.name = *name;
    e.file = *file;
    e.info.file = (fs::path(dir) / *file).string();
    e.info.abi_version = kModuleAbiVersion;
    e.info.version = str(m, "version").value_or("");
    e.info.license = str(m, "license").value_or("");
    e.info.description = str(m, "description").value_or("");
    e.info.author = str(m, "author").value_or("");
    e.info.aliases = *aliases;
    if (auto sd = strs(m, "softdeps")) e.info.softdeps = *sd;
    e.exports = *exports;
    e.depends = *depends;
    e.unresolved = *unresolved;
    e.size = static_cast<uint64_t>(*size);
    e.mtime_ns = *mtime;
    for (const auto& p : *params) {
      if (!p.is_object()) return bad("malformed parameter entry");
      ParamInfo pi;
      pi.name = str(p, "name").value_or("");
      std::string t = str(p, "type").value_or("");
      pi.type = t == "bool" ? ModuleParamType::bool_
                : t == "int" ? ModuleParamType::int_
                : t == "uint" ? ModuleParamType::uint_
                : t == "string" ? ModuleParamType::string_
                                : ModuleParamType::none_;
      if (pi.name.empty() || pi.type == ModuleParamType::none_) return bad("malformed parameter entry");
      pi.default_value = str(p, "default").value_or("");
      pi.description = str(p, "description").value_or("");
      e.info.params.push_back(std::move(pi));
    }
    idx.modules.push_back(std::move(e));
  }
  for (const auto& x : *errs) {
    if (!x.is_object()) return bad("error entry is not an object");
    auto file = str(x, "file"), error = str(x, "error");
    auto size = num(x, "size"), mtime = num(x, "mtime_ns");
    if (!file || !error || !size || !mtime) return bad("malformed error entry");
    idx.errors.push_back({*file, *error, static_cast<uint64_t>(*size), *mtime});
  }
  idx.notes = strs(j, "notes").value_or(std::vector<std::string>{});
  return idx;
}

Status write_index(const ModuleIndex& idx) {
  static std::atomic<uint64_t> seq{0};
  fs::path final_path = fs::path(idx.dir) / kModuleIndexFile;
  // Unique temp name: several processes (ctest -j) may rebuild at once.
  fs::path tmp = fs::path(idx.dir) / fmt::format(".{}.{}.{}.tmp", kModuleIndexFile, getpid(), seq++);
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return make_error(Errc::io, fmt::format("{}: cannot write: {}", tmp.string(), std::strerror(errno)));
    f << idx.to_json() << '\n';
    if (!f.flush()) return make_error(Errc::io, fmt::format("{}: write failed", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, final_path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return make_error(Errc::io, fmt::format("{}: rename failed: {}", final_path.string(), ec.message()));
  }
  return {};
}

Result<ModuleIndex> read_index(const std::string& dir) {
  std::string path = (fs::path(dir) / kModuleIndexFile).string();
  std::ifstream f(path);
  if (!f) return make_error(Errc::noent, fmt::format("{}: no module index", path));
  std::stringstream ss;
  ss << f.rdbuf();
  return ModuleIndex::from_json(dir, ss.str());
}

bool index_is_stale(const ModuleIndex& idx) {
  auto files = list_modules(idx.dir);
  if (!files) return true;
  std::map<std::string, FileStat> recorded;
  for (const auto& e : idx.modules) recorded[e.file] = {e.size, e.mtime_ns};
  for (const auto& e : idx.errors) recorded[e.file] = {e.size, e.mtime_ns};
  if (recorded.size() != files->size()) return true;
  for (const auto& f : *files) {
    auto it = recorded.find(f);
    auto st = stat_file((fs::path(idx.dir) / f).string());
    if (it == recorded.end() || !st || st->size != it->second.size || st->mtime_ns != it->second.mtime_ns) return true;
  }
  return false;
}

Result<ModuleIndex> depmod(const std::string& dir, const HostSymbols& host) {
  ModuleIndex idx = TRY(depmod_scan(dir, host));
  TRY(write_index(idx));
  return idx;
}

Result<ModuleIndex> load_index(const std::string& dir, const HostSymbols& host, bool* rebuilt) {
  if (rebuilt) *rebuilt = false;
  if (auto idx = read_index(dir); idx && !index_is_stale(*idx)) return idx;
  ModuleIndex idx = TRY(depmod_scan(dir, host));
  if (rebuilt) *rebuilt = true;
  (void)write_index(idx);  // read-only directory: keep the in-memory index
  return idx;
}

}  // namespace modiommu
