#include "module/loader.h"

#include <cxxabi.h>

#include <dlfcn.h>
#include <elf.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "base/fault_inject.h"
#include "module/alias.h"
#include "module/host.h"

namespace modiommu {

namespace {
// "_ZN8modiommu..." -> "modiommu::...(...)"; C names stay as they are.
std::string demangle(const std::string& sym) {
  int status = 0;
  char* d = abi::__cxa_demangle(sym.c_str(), nullptr, nullptr, &status);
  if (status != 0 || !d) return sym;
  std::string out(d);
  std::free(d);
  return out;
}
}  // namespace

namespace {

// Every dlopen/dlclose of the process, across kernels (`check` boots trees
// on several threads). glibc serialises them with its own loader lock; ours
// makes that order visible to ThreadSanitizer, which cannot see rtld's.
std::mutex& dl_lock() {
  static std::mutex m;  // docs/architecture.md "Locks"
  return m;
}
void* locked_dlopen(const char* path, int flags) {
  std::lock_guard g(dl_lock());
  return dlopen(path, flags);
}
void locked_dlclose(void* h) {
  std::lock_guard g(dl_lock());
  dlclose(h);
}

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
#else
#error "unsupported host architecture"
#endif

bool path_like(std::string_view s) { return s.find('/') != std::string_view::npos || s.ends_with(".so"); }

// An absolute, lexically normal path: the one identity of a module file
// for dlopen and the caches. (No realpath: a syscall per path
// component on every insmod; one file under two names still cannot load
// twice, the module name is unique.)
Result<std::string> canonical_path(const std::string& p) {
  if (p.empty()) return make_error(Errc::noent, "empty module path");
  std::error_code ec;
  std::filesystem::path a = std::filesystem::absolute(p, ec);
  if (ec) return make_error(Errc::noent, fmt::format("{}: {}", p, ec.message()));
  return a.lexically_normal().string();
}

// "…: undefined symbol: NAME" from glibc's dlerror().
std::string undefined_symbol(std::string_view dlerr) {
  constexpr std::string_view key = "undefined symbol: ";
  size_t at = dlerr.find(key);
  if (at == std::string_view::npos) return {};
  std::string_view rest = dlerr.substr(at + key.size());
  size_t end = rest.find_first_of(" ,\n");
  return std::string(rest.substr(0, end));
}

}  // namespace

struct ModuleLoader::Cached {
  uint64_t size = 0, ino = 0;
  int64_t mtime_ns = 0;
  ModuleInfo info;
  std::vector<std::string> imports, exports;
  // Weak definitions: C++ vtables and typeinfo of a class whose key
  // function the module defines are weak (COMDAT). They satisfy another
  // module's import like an export, but never clash: many modules may
  // carry the same weak definition.
  std::vector<std::string> weak_exports;
};

ModuleLoader::ModuleLoader(DriverContext& ctx) : ctx_(ctx) {
  (void)HostSymbols::self();  // record the host's objects before any module loads
}

ModuleLoader::~ModuleLoader() {
  // Dependents first: each round unloads a module nobody holds.
  for (;;) {
    std::string victim;
    {
      std::lock_guard<std::mutex> g(lock_);
      for (auto it = modules_.rbegin(); it != modules_.rend(); ++it)
        if (!(*it)->builtin_ && (*it)->holders_.empty() && (*it)->state() == ModuleState::live) {
          victim = (*it)->name_;
          break;
        }
    }
    if (victim.empty() || !rmmod(victim, {.wait = true})) break;
  }
  std::vector<std::shared_ptr<Module>> builtins;
  {
    std::lock_guard<std::mutex> g(lock_);
    for (auto& m : modules_)
      if (m->builtin_ && m->state() == ModuleState::live) builtins.push_back(m);
  }
  for (auto it = builtins.rbegin(); it != builtins.rend(); ++it) {
    Module& m = **it;
    m.set_state(ModuleState::unloading);
    m.wait_unpinned();
    notify(ModuleEvent::going, m);
    if (m.desc_->exit) m.desc_->exit(ctx_, m);
    std::lock_guard<std::mutex> g(lock_);
    unpublish_locked(m);
  }
}

// --- sources -------------------------------------------------------------------

Status ModuleLoader::announce_module_dir(const std::string& dir) {
  std::string c = TRY(canonical_path(dir));
  std::lock_guard<std::mutex> g(lock_);
  TRY(index_locked(c));  // a directory that cannot be read is not announced
  if (std::find(dirs_.begin(), dirs_.end(), c) == dirs_.end()) dirs_.push_back(c);
  return {};
}

std::vector<std::string> ModuleLoader::module_dirs() const {
  std::lock_guard<std::mutex> g(lock_);
  return dirs_;
}

void ModuleLoader::set_sources_final(bool final) {
  std::lock_guard<std::mutex> g(lock_);
  sources_final_ = final;
}

bool ModuleLoader::sources_final() const {
  std::lock_guard<std::mutex> g(lock_);
  return sources_final_;
}

Result<ModuleIndex> ModuleLoader::index(const std::string& dir) {
  std::string c = TRY(canonical_path(dir));
  std::lock_guard<std::mutex> g(lock_);
  return *TRY(index_locked(c));
}

void ModuleLoader::hold_index(int delta) {
  std::lock_guard<std::mutex> g(lock_);
  index_holds_ += delta;
  if (index_holds_ == 0) validated_.clear();
}

Result<ModuleIndex*> ModuleLoader::index_locked(const std::string& dir) {
  auto it = indexes_.find(dir);
  if (it != indexes_.end() && (validated_.count(dir) || !index_is_stale(it->second))) {
    if (index_holds_ > 0) validated_.insert(dir);
    return &it->second;
  }
  ModuleIndex idx = TRY(load_index(dir, HostSymbols::self()));
  auto& slot = indexes_[dir];
  slot = std::move(idx);
  if (index_holds_ > 0) validated_.insert(dir);
  return &slot;
}

Result<IndexEntry> ModuleLoader::index_entry_locked(std::string_view name, std::string* dir) {
  for (const auto& d : dirs_) {
    ModuleIndex* idx = TRY(index_locked(d));
    if (const IndexEntry* e = idx->find(name)) {
      if (dir) *dir = d;
      return *e;
    }
  }
  for (const auto& d : dirs_) {
    ModuleIndex* idx = TRY(index_locked(d));
    if (const IndexError* e = idx->find_error(name))
      return make_error(Errc::inval, fmt::format("module {}: {}", name, e->error));
  }
  if (dirs_.empty()) return make_error(Errc::noent, fmt::format("module {} not found (no module directory)", name));
  return make_error(Errc::noent, fmt::format("module {} not found in {}", name, fmt::join(dirs_, ", ")));
}

// --- policy ----------------------------------------------------------------------

void ModuleLoader::set_softdep_filter(std::function<bool(const std::string& module)> f) {
  std::lock_guard<std::mutex> g(lock_);
  softdep_filter_ = std::move(f);
}

void ModuleLoader::set_autoload(bool on) {
  std::lock_guard<std::mutex> g(lock_);
  autoload_ = on;
}

bool ModuleLoader::autoload() const {
  std::lock_guard<std::mutex> g(lock_);
  return autoload_;
}

void ModuleLoader::set_blacklist(std::vector<std::string> names) {
  std::lock_guard<std::mutex> g(lock_);
  blacklist_ = std::move(names);
}

bool ModuleLoader::blacklisted(std::string_view name) const {
  std::lock_guard<std::mutex> g(lock_);
  return std::any_of(blacklist_.begin(), blacklist_.end(), [&](const auto& b) { return module_name_eq(b, name); });
}

// --- helpers -----------------------------------------------------------------------

std::shared_ptr<Module> ModuleLoader::find_locked(std::string_view name) const {
  for (const auto& m : modules_)
    if (module_name_eq(m->name_, name)) return m;
  return nullptr;
}

std::shared_ptr<Module> ModuleLoader::find(std::string_view name) const {
  std::lock_guard<std::mutex> g(lock_);
  return find_locked(name);
}

ModuleRef ModuleLoader::try_get(std::string_view name) const { return ModuleRef::try_get(find(name)); }

void ModuleLoader::notify(ModuleEvent ev, Module& m) {
  std::vector<std::function<void(ModuleEvent, Module&)>> fns;
  {
    std::lock_guard<std::mutex> g(notifier_lock_);
    for (auto& [id, fn] : notifiers_) fns.push_back(fn);
  }
  for (auto& fn : fns) fn(ev, m);
}

int ModuleLoader::add_notifier(std::function<void(ModuleEvent, Module&)> fn) {
  std::lock_guard<std::mutex> g(notifier_lock_);
  notifiers_.emplace_back(next_notifier_, std::move(fn));
  return next_notifier_++;
}

void ModuleLoader::remove_notifier(int id) {
  std::lock_guard<std::mutex> g(notifier_lock_);
  std::erase_if(notifiers_, [&](const auto& n) { return n.first == id; });
}

void ModuleLoader::unpublish_locked(Module& m) {
  for (auto it = exports_.begin(); it != exports_.end();)
    it = it->second == m.name_ ? exports_.erase(it) : std::next(it);
  for (auto it = weak_exports_.begin(); it != weak_exports_.end();)
    it = it->second == m.name_ ? weak_exports_.erase(it) : std::next(it);
  for (const auto& d : m.depends_)
    if (auto dep = find_locked(d)) std::erase(dep->holders_, m.name_);
  std::erase_if(modules_, [&](const auto& p) { return p.get() == &m; });
}

Result<std::vector<std::pair<std::string, ParamValue>>> ModuleLoader::parse_params(
    const ModuleInfo& info, const std::vector<std::string>& kv) const {
  std::vector<std::pair<std::string, ParamValue>> vals;
  for (const auto& p : info.params) vals.emplace_back(p.name, TRY(parse_param(info.name, p, p.default_value)));
  for (const auto& s : kv) {
    size_t eq = s.find('=');
    std::string key = s.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : s.substr(eq + 1);
    auto it = std::find_if(info.params.begin(), info.params.end(),
                           [&](const ParamInfo& p) { return module_name_eq(p.name, key); });
    if (it == info.params.end())
      return make_error(Errc::inval, fmt::format("module {}: unknown parameter '{}'", info.name, key));
    vals[static_cast<size_t>(it - info.params.begin())].second = TRY(parse_param(info.name, *it, value));
  }
  return vals;
}

// Reads (or reuses) the descriptor and symbol lists of a file; keyed by
// inode, size and mtime so a replaced file is read again.
Result<std::shared_ptr<const ModuleLoader::Cached>> ModuleLoader::read_module_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(Errc::noent, fmt::format("{}: {}", path, std::strerror(errno)));
  int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  {
    std::lock_guard<std::mutex> g(cache_lock_);
    auto it = elf_cache_.find(path);
    if (it != elf_cache_.end() && it->second->size == static_cast<uint64_t>(st.st_size) &&
        it->second->ino == st.st_ino && it->second->mtime_ns == mtime)
      return it->second;
  }
  ElfFile elf = TRY(ElfFile::open(path));
  if (elf.machine() != kHostMachine)
    return make_error(Errc::inval,
                      fmt::format("{}: built for ELF machine {}, the host is machine {}", path, elf.machine(), kHostMachine));
  auto c = std::make_shared<Cached>();
  c->size = static_cast<uint64_t>(st.st_size);
  c->ino = st.st_ino;
  c->mtime_ns = mtime;
  c->info = TRY(module_info_from_elf(elf));
  c->imports = elf.imports(false);
  for (auto& s : elf.exports(false))
    if (s != kModuleDescriptorSymbol) c->exports.push_back(std::move(s));
  c->weak_exports = elf.weak_exports();
  std::lock_guard<std::mutex> g(cache_lock_);
  elf_cache_[path] = c;
  return std::shared_ptr<const Cached>(c);
}

// --- load ----------------------------------------------------------------------------

Status ModuleLoader::init_builtin(const ModuleDescriptor* d, const std::vector<std::string>& params) {
  ModuleInfo info = TRY(module_info_from_descriptor(*d, "built-in module"));
  std::shared_ptr<Module> m;
  {
    std::lock_guard<std::mutex> g(lock_);
    if (find_locked(info.name)) return {};  // already initialised
    auto vals = TRY(parse_params(info, params));
    m = std::make_shared<Module>(d, "", true);
    m->version_ = info.version;
    m->aliases_ = info.aliases;
    m->params_ = std::move(vals);
    modules_.push_back(m);
  }
  Status st = d->init ? d->init(ctx_, *m) : Status{};
  if (!st) {
    m->set_state(ModuleState::unloading);
    notify(ModuleEvent::going, *m);
    m->wait_unpinned();
    std::lock_guard<std::mutex> g(lock_);
    unpublish_locked(*m);
    return make_error(st.error().code, fmt::format("built-in module {}: init failed: {}", info.name, st.error().str()));
  }
  m->set_state(ModuleState::live);
  notify(ModuleEvent::live, *m);
  return {};
}

Status ModuleLoader::load_builtins(const std::map<std::string, std::vector<std::string>>& params) {
  std::vector<std::string> errors;
  Errc first = Errc::inval;
  for (const ModuleDescriptor* d : builtin_modules()) {
    auto it = d->name ? params.find(d->name) : params.end();
    Status st = init_builtin(d, it == params.end() ? std::vector<std::string>{} : it->second);
    if (st) continue;
    if (errors.empty()) first = st.error().code;
    errors.push_back(st.error().message);
  }
  if (errors.empty()) return {};
  return make_error(first, fmt::format("{}", fmt::join(errors, "; ")));
}

Status ModuleLoader::load_builtin(std::string_view name, const std::vector<std::string>& params) {
  for (const ModuleDescriptor* d : builtin_modules())
    if (d->magic == kModuleMagic && d->name && module_name_eq(d->name, name)) return init_builtin(d, params);
  return make_error(Errc::noent, fmt::format("no built-in module {}", name));
}

Result<std::string> ModuleLoader::resolve_locked(const std::string& what) {
  if (path_like(what)) return canonical_path(what);
  std::string dir;
  IndexEntry e = TRY(index_entry_locked(what, &dir));
  return canonical_path(e.info.file);
}

Result<Module*> ModuleLoader::insmod(const std::string& what, const std::vector<std::string>& params) {
  std::string path;
  {
    std::lock_guard<std::mutex> g(lock_);
    if (!path_like(what)) {
      if (auto m = find_locked(what))
        return make_error(Errc::exist, fmt::format("module {} is already {}{}", m->name_, module_state_name(m->state()),
                                                   m->builtin_ ? " (built in)" : ""));
    }
    path = TRY(resolve_locked(what));
  }
  return load_file(path, params);
}

Result<Module*> ModuleLoader::load_file(const std::string& path, const std::vector<std::string>& params) {
  // Everything checkable is checked from the file before its code runs.
  std::shared_ptr<const Cached> file = TRY(read_module_file(path));
  const ModuleInfo& info = file->info;
  auto m = std::make_shared<Module>(nullptr, path, false);
  {
    std::lock_guard<std::mutex> g(lock_);
    if (auto other = find_locked(info.name))
      return make_error(Errc::exist, fmt::format("module {} is already {} ({}); not loading {}", info.name,
                                                 module_state_name(other->state()),
                                                 other->builtin_ ? "built in" : other->path_, path));
    auto vals = TRY(parse_params(info, params));
    std::vector<std::string> deps, unresolved;
    for (const auto& sym : file->imports) {
      if (HostSymbols::self().provides(sym)) continue;
      const std::string* from = nullptr;
      if (auto it = exports_.find(sym); it != exports_.end()) from = &it->second;
      else if (auto w = weak_exports_.find(sym); w != weak_exports_.end()) from = &w->second;
      if (!from) {
        unresolved.push_back(sym);
        continue;
      }
      auto dep = find_locked(*from);
      if (!dep) {  // cannot happen: exports_ and modules_ change together
        unresolved.push_back(sym);
        continue;
      }
      if (dep->state() != ModuleState::live)
        return make_error(Errc::busy, fmt::format("module {}: symbol {} comes from module {}, which is {}", info.name,
                                                  sym, dep->name_, module_state_name(dep->state())));
      if (std::find(deps.begin(), deps.end(), dep->name_) == deps.end()) deps.push_back(dep->name_);
    }
    if (!unresolved.empty()) {
      // Name a provider the index knows of, so the user knows to modprobe;
      // symbols in C++ form, a few each (a class pulls in many).
      std::map<std::string, std::vector<std::string>> by_provider;
      std::vector<std::string> orphans;
      for (const auto& sym : unresolved) {
        std::string provider;
        for (const auto& [dir, idx] : indexes_)
          for (const auto& e : idx.modules)
            if (provider.empty() && std::binary_search(e.exports.begin(), e.exports.end(), sym)) provider = e.info.name;
        (provider.empty() ? orphans : by_provider[provider]).push_back(demangle(sym));
      }
      auto some = [](const std::vector<std::string>& v) {
        std::vector<std::string> head(v.begin(), v.begin() + static_cast<long>(std::min<size_t>(v.size(), 3)));
        return fmt::format("{}{}", fmt::join(head, ", "), v.size() > 3 ? fmt::format(" and {} more", v.size() - 3) : "");
      };
      std::vector<std::string> parts;
      if (!orphans.empty())
        parts.push_back(fmt::format("unresolved symbol{} {}", orphans.size() > 1 ? "s" : "", some(orphans)));
      for (const auto& [mod, syms] : by_provider)
        parts.push_back(fmt::format("unresolved symbol{} {}: exported by module {}, not loaded (modprobe {} loads it "
                                    "first)", syms.size() > 1 ? "s" : "", some(syms), mod, info.name));
      return make_error(Errc::noent, fmt::format("module {}: {}", info.name, fmt::join(parts, "; ")));
    }
    for (const auto& sym : file->exports)
      if (auto it = exports_.find(sym); it != exports_.end())
        return make_error(Errc::exist, fmt::format("module {}: exports {}, already exported by module {}", info.name,
                                                   sym, it->second));
    m->name_ = info.name;
    m->version_ = info.version;
    m->aliases_ = info.aliases;
    m->params_ = std::move(vals);
    m->exports_ = file->exports;
    m->depends_ = deps;
    for (const auto& d : deps) find_locked(d)->holders_.push_back(m->name_);
    for (const auto& sym : file->exports) exports_[sym] = m->name_;
    for (const auto& sym : file->weak_exports) weak_exports_.emplace(sym, m->name_);  // first provider wins
    modules_.push_back(m);
  }
  dlerror();
  void* h = locked_dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  auto rollback = [&] {
    {
      std::lock_guard<std::mutex> g(lock_);
      unpublish_locked(*m);
    }
    if (h) locked_dlclose(h);
  };
  if (!h) {
    const char* e = dlerror();
    std::string why = e ? e : "unknown dlopen error";
    rollback();
    std::string sym = undefined_symbol(why);
    if (!sym.empty())
      return make_error(Errc::noent, fmt::format("module {}: unresolved symbol {} ({})", info.name, sym, why));
    return make_error(Errc::inval, fmt::format("module {}: dlopen failed: {}", info.name, why));
  }
  auto* d = static_cast<const ModuleDescriptor*>(dlsym(h, kModuleDescriptorSymbol));
  if (!d) {
    rollback();
    return make_error(Errc::noent, fmt::format("{}: no module descriptor after load", path));
  }
  // Check the live copy too: it is what init and exit are called through.
  auto live = module_info_from_descriptor(*d, path);
  if (!live || live->name != info.name) {
    rollback();
    if (!live) return std::move(live).error();
    return make_error(Errc::inval, fmt::format("{}: descriptor changed while loading", path));
  }
  {
    std::lock_guard<std::mutex> g(lock_);
    m->desc_ = d;
    m->handle_ = h;
  }
  if (d->init) {
    // Fault point: the init fails as a driver's probe-time setup would.
    Status st = fault_point("module.init") ? Status(make_error(Errc::nomem, "injected fault module.init"))
                                           : d->init(ctx_, *m);
    if (!st) {
      m->set_state(ModuleState::unloading);
      notify(ModuleEvent::going, *m);
      m->wait_unpinned();
      rollback();
      return make_error(st.error().code, fmt::format("module {}: init failed: {}", info.name, st.error().str()));
    }
  }
  m->set_state(ModuleState::live);
  notify(ModuleEvent::live, *m);
  return m.get();
}

Status ModuleLoader::modprobe_visit(const std::string& name, std::vector<std::string>& stack,
                                    std::vector<std::string>& order) {
  if (find_locked(name)) return {};
  for (size_t i = 0; i < stack.size(); ++i)
    if (module_name_eq(stack[i], name)) {
      std::vector<std::string> cycle(stack.begin() + static_cast<long>(i), stack.end());
      cycle.push_back(name);
      return make_error(Errc::loop, fmt::format("module dependency cycle: {}", fmt::join(cycle, " -> ")));
    }
  std::string dir;
  IndexEntry e = TRY(index_entry_locked(name, &dir));
  if (!e.unresolved.empty())
    return make_error(Errc::noent, fmt::format("module {}: unresolved symbol{} {} (exported by neither the host nor "
                                               "any module in {})",
                                               e.info.name, e.unresolved.size() > 1 ? "s" : "",
                                               fmt::join(e.unresolved, ", "), dir));
  stack.push_back(e.info.name);
  for (const auto& dep : e.depends) TRY(modprobe_visit(dep, stack, order));
  stack.pop_back();
  if (std::find(order.begin(), order.end(), e.info.file) == order.end()) order.push_back(e.info.file);
  return {};
}

Status ModuleLoader::modprobe(const std::string& name, const std::vector<std::string>& params) {
  std::vector<std::string> order, stack, softdeps;
  std::function<bool(const std::string&)> wanted;
  {
    std::lock_guard<std::mutex> g(lock_);
    if (auto m = find_locked(name)) {
      ModuleState s = m->state();
      if (s == ModuleState::live) return {};
      return make_error(Errc::busy, fmt::format("module {} is {}", m->name_, module_state_name(s)));
    }
    TRY(modprobe_visit(name, stack, order));
    softdeps = TRY(index_entry_locked(name, nullptr)).info.softdeps;
    wanted = softdep_filter_;
  }
  // Pre-softdeps first (modprobe.d "softdep X pre: ..."), the ones wanted.
  // Their dependencies are the hard ones of each; a softdep is never the
  // module itself.
  for (const auto& sd : softdeps) {
    if (module_name_eq(sd, name) || (wanted && !wanted(sd))) continue;
    Status s = modprobe(sd, {});
    if (!s.ok()) return make_error(s.error().code, fmt::format("modprobe {}: softdep {}: {}", name, sd, s.error().message));
  }
  for (size_t i = 0; i < order.size(); ++i) {
    bool target = i + 1 == order.size();
    std::string path = TRY(canonical_path(order[i]));
    auto r = load_file(path, target ? params : std::vector<std::string>{});
    if (r) continue;
    // Another thread may have loaded it meanwhile: fine if it is live.
    if (r.error().code == Errc::exist) {
      auto c = read_module_file(path);
      std::shared_ptr<Module> other = c ? find((*c)->info.name) : nullptr;  // one lookup: it may go meanwhile
      if (other && other->state() == ModuleState::live) continue;
    }
    if (target) return std::move(r).error();
    return make_error(r.error().code, fmt::format("modprobe {}: {}", name, r.error().message));
  }
  return {};
}

// --- unload ---------------------------------------------------------------------------

Status ModuleLoader::rmmod(const std::string& name, RmmodFlags flags) {
  std::shared_ptr<Module> m;
  {
    std::lock_guard<std::mutex> g(lock_);
    m = find_locked(name);
    if (!m) return make_error(Errc::noent, fmt::format("module {} is not loaded", name));
    if (m->builtin_) return make_error(Errc::perm, fmt::format("module {} is built in; it cannot be unloaded", m->name_));
    if (!m->holders_.empty())
      return make_error(Errc::busy, fmt::format("module {} is in use by: {}", m->name_, fmt::join(m->holders_, ", ")));
    if (fault_point("module.unload"))
      return make_error(Errc::busy, fmt::format("module {} failed to unload (injected fault module.unload)", m->name_));
    // Under lock_, so no new dependent can bind to it after this check.
    TRY(m->begin_unload(flags.wait));
  }
  m->wait_unpinned();
  notify(ModuleEvent::going, *m);
  if (m->desc_->exit) m->desc_->exit(ctx_, *m);
  void* h;
  {
    std::lock_guard<std::mutex> g(lock_);
    unpublish_locked(*m);
    h = m->handle_;
    m->handle_ = nullptr;
  }
  locked_dlclose(h);
  notify(ModuleEvent::gone, *m);
  return {};
}

// --- queries ----------------------------------------------------------------------------

std::vector<ModuleStatus> ModuleLoader::lsmod() const {
  std::lock_guard<std::mutex> g(lock_);
  std::vector<ModuleStatus> out;
  for (const auto& m : modules_) {
    ModuleStatus s;
    s.name = m->name_;
    s.version = m->version_;
    s.path = m->path_;
    s.state = m->state();
    s.builtin = m->builtin_;
    s.holders = m->holders_;
    s.depends = m->depends_;
    s.refcount = static_cast<int>(m->holders_.size() + m->pins());
    out.push_back(std::move(s));
  }
  return out;
}

Result<ModuleInfo> ModuleLoader::modinfo(const std::string& what) {
  if (path_like(what)) {
    std::string p = TRY(canonical_path(what));
    return TRY(read_module_file(p))->info;
  }
  std::lock_guard<std::mutex> g(lock_);
  if (auto m = find_locked(what); m && m->desc_) {
    auto info = TRY(module_info_from_descriptor(*m->desc_, m->builtin_ ? "built-in module" : m->path_));
    info.file = m->path_;
    return info;
  }
  return TRY(index_entry_locked(what, nullptr)).info;
}

std::vector<std::string> ModuleLoader::find_by_alias(std::string_view modalias) {
  std::vector<std::string> out;
  auto add = [&](const std::string& n) {
    if (std::none_of(out.begin(), out.end(), [&](const auto& o) { return module_name_eq(o, n); })) out.push_back(n);
  };
  std::lock_guard<std::mutex> g(lock_);
  for (const auto& m : modules_)
    for (const auto& a : m->aliases_)
      if (alias_matches(a, modalias)) add(m->name_);
  for (const auto& d : dirs_) {
    auto idx = index_locked(d);
    if (!idx) continue;
    for (const auto& e : (*idx)->modules)
      for (const auto& a : e.info.aliases)
        if (alias_matches(a, modalias)) add(e.info.name);
  }
  return out;
}

bool ModuleLoader::can_provide(std::string_view modalias) { return !find_by_alias(modalias).empty(); }

Status ModuleLoader::request_module(std::string_view modalias) {
  if (!autoload())
    return make_error(Errc::perm, fmt::format("autoload disabled: not loading a module for {}", modalias));
  std::vector<std::string> candidates = find_by_alias(modalias);
  if (candidates.empty()) return make_error(Errc::noent, fmt::format("no module for {}", modalias));
  for (const auto& c : candidates)
    if (auto m = find(c); m && m->state() == ModuleState::live) return {};
  std::optional<Error> last;
  for (const auto& c : candidates) {
    if (blacklisted(c)) continue;
    Status st = modprobe(c);
    if (st) return {};
    last = std::move(st).error();
  }
  if (!last)
    return make_error(Errc::perm, fmt::format("module{} {} for {} blacklisted for autoload",
                                              candidates.size() > 1 ? "s" : "", fmt::join(candidates, ", "), modalias));
  return *last;
}

}  // namespace modiommu
