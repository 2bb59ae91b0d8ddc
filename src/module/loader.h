// The module loader (kernel/module/main.c + kmod's insmod/modprobe/rmmod).
//
// Load: resolve the file (by path, or by name through the module index),
// read and check the descriptor from the ELF image (magic, size, ABI) before
// any module code runs, check every import against the host's exports and
// the live modules' exports (naming each unresolved symbol), then dlopen
// with RTLD_NOW | RTLD_GLOBAL (so later modules bind to this one's exports,
// as Linux resolves against all loaded modules' EXPORT_SYMBOLs), check the
// live descriptor again and call init. Init failure unloads cleanly.
//
// Unload (rmmod): refused with EPERM for built-in modules, EBUSY while
// other modules depend on it (its holders) or while pinned by a call in
// progress (unless `wait`). Then: state unloading (new pins fail), "going"
// notifiers (the core unbinds the module's drivers), exit, exports dropped,
// dlclose, "gone" notifiers.
//
// Locking: lock_ guards the module table, the export table, holders, the
// index cache and the options. It is never held while module code runs
// (init, exit), while notifiers run, or across dlopen/dlclose, so init may
// call back into the loader (request_module). Each Module's state and pins
// have a lock of their own (module.h), so pinning never takes lock_.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "module/depmod.h"
#include "module/info.h"
#include "module/module.h"

namespace modiommu {

// lsmod / JSON "modules" entry.
struct MODIOMMU_API ModuleStatus {
  std::string name, version, path;
  ModuleState state = ModuleState::loading;
  bool builtin = false;
  int refcount = 0;  // holders + pins (Linux: module_refcount)
  std::vector<std::string> holders;
  std::vector<std::string> depends;
};

enum class ModuleEvent { live, going, gone };

struct MODIOMMU_API RmmodFlags {
  bool wait = false;  // wait for in-flight calls (pins) instead of EBUSY
};

class MODIOMMU_API ModuleLoader {
 public:
  explicit ModuleLoader(DriverContext& ctx);
  // Host shutdown: unloads every loadable module (dependents first, waiting
  // for pins), then runs built-in modules' exit in reverse order.
  ~ModuleLoader();
  ModuleLoader(const ModuleLoader&) = delete;
  ModuleLoader& operator=(const ModuleLoader&) = delete;

  // --- module sources -------------------------------------------------------
  // A directory of *.so modules; its index is read (rebuilt if stale).
  // Directories are searched in announcement order.
  Status announce_module_dir(const std::string& dir);
  std::vector<std::string> module_dirs() const;
  // Every lookup checks a directory's index against its files (a listing
  // and a stat of each). While an IndexHold is alive a directory is checked
  // once: a boot looks up every device's aliases, and the files do not
  // change under it.
  class IndexHold {
   public:
    explicit IndexHold(ModuleLoader& l) : l_(l) { l_.hold_index(+1); }
    ~IndexHold() { l_.hold_index(-1); }
    IndexHold(const IndexHold&) = delete;
    IndexHold& operator=(const IndexHold&) = delete;

   private:
    ModuleLoader& l_;
  };
  // No more module directories will appear (BEHAVIOUR.md 1: "module sources
  // final"); the policy uses it to decide instead of timing out.
  void set_sources_final(bool final);
  bool sources_final() const;
  // The index of an announced directory (refreshed if stale).
  Result<ModuleIndex> index(const std::string& dir);

  // --- autoload policy --------------------------------------------------------
  void set_autoload(bool on);  // --no-autoload => false
  bool autoload() const;
  void set_blacklist(std::vector<std::string> names);  // --blacklist
  bool blacklisted(std::string_view name) const;

  // --- loading and unloading ----------------------------------------------------
  // Built-in modules (builtin_modules()), in registration order, as the
  // initcall phase runs them. `params` by module name: key=value strings.
  // A failing init is reported and the rest still run.
  Status load_builtins(const std::map<std::string, std::vector<std::string>>& params = {});
  // One built-in module by name (tests; a host that initialises selectively).
  // ENOENT if no built-in module has that name; success if already live.
  Status load_builtin(std::string_view name, const std::vector<std::string>& params = {});
  // insmod FILE.so | NAME [key=value...]: dependencies must be live.
  Result<Module*> insmod(const std::string& path_or_name, const std::vector<std::string>& params = {});
  // modprobe NAME: dependencies first (from the index), recursively; a cycle
  // is ELOOP naming it. Already live or built in: success.
  Status modprobe(const std::string& name, const std::vector<std::string>& params = {});
  Status rmmod(const std::string& name, RmmodFlags flags = {});

  // --- queries ----------------------------------------------------------------
  std::vector<ModuleStatus> lsmod() const;
  std::shared_ptr<Module> find(std::string_view name) const;
  // try_module_get by name; empty if absent or unloading.
  ModuleRef try_get(std::string_view name) const;
  // modinfo NAME|FILE.so: from the loaded module, else the index, else the file.
  Result<ModuleInfo> modinfo(const std::string& name_or_path);
  // Modules whose aliases match a device modalias: loaded or built-in ones
  // and every module in the indexes (blacklisted ones included).
  std::vector<std::string> find_by_alias(std::string_view modalias);
  // Exact: a module for this modalias is loaded, loading, built in, or in
  // an index (even if blacklisted for autoload).
  bool can_provide(std::string_view modalias);
  // Autoload (request_module): honours set_autoload(false) (EPERM) and the
  // blacklist (EPERM if every candidate is blacklisted); ENOENT if no module
  // has the alias. Success if a matching module is already live.
  Status request_module(std::string_view modalias);

  // Which pre-softdeps modprobe loads: those the filter says a device
  // present wants. No filter: all of them (Linux). Called without the
  // loader's lock held.
  void set_softdep_filter(std::function<bool(const std::string& module)> f);

  // --- notifiers (register_module_notifier) -----------------------------------
  // live: after a successful init; going: after rmmod committed, before
  // exit (and after a failed init); gone: after dlclose. Called without any
  // loader lock held, on the loading/unloading thread.
  int add_notifier(std::function<void(ModuleEvent, Module&)> fn);
  void remove_notifier(int id);

 private:
  struct Cached;
  Result<std::string> resolve_locked(const std::string& path_or_name);
  Result<std::shared_ptr<const Cached>> read_module_file(const std::string& path);
  Result<std::vector<std::pair<std::string, ParamValue>>> parse_params(const ModuleInfo& info,
                                                                      const std::vector<std::string>& kv) const;
  Result<Module*> load_file(const std::string& path, const std::vector<std::string>& params);
  Status init_builtin(const ModuleDescriptor* d, const std::vector<std::string>& params);
  void unpublish_locked(Module& m);
  void notify(ModuleEvent ev, Module& m);
  std::shared_ptr<Module> find_locked(std::string_view name) const;
  Result<IndexEntry> index_entry_locked(std::string_view name, std::string* dir);
  Result<ModuleIndex*> index_locked(const std::string& dir);
  Status modprobe_visit(const std::string& name, std::vector<std::string>& stack, std::vector<std::string>& order);

  DriverContext& ctx_;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<std::shared_ptr<Module>> modules_;  // load order
  std::map<std::string, std::string> exports_;    // symbol -> module name (loadable modules)
  std::map<std::string, std::string> weak_exports_;  // weak definitions -> first module providing one
  std::vector<std::string> dirs_;
  std::map<std::string, ModuleIndex> indexes_;
  int index_holds_ = 0;              // IndexHold scopes alive (lock_)
  std::set<std::string> validated_;  // directories checked within them (lock_)
  void hold_index(int delta);
  bool sources_final_ = false;
  bool autoload_ = true;
  std::vector<std::string> blacklist_;
  std::function<bool(const std::string&)> softdep_filter_;  // guarded by lock_; called unlocked (a copy)

  std::mutex cache_lock_;  // guards elf_cache_ only; docs/architecture.md "Locks"
  std::map<std::string, std::shared_ptr<const Cached>> elf_cache_;

  std::mutex notifier_lock_;  // guards notifiers_ only; docs/architecture.md "Locks"
  std::vector<std::pair<int, std::function<void(ModuleEvent, Module&)>>> notifiers_;
  int next_notifier_ = 1;
};

}  // namespace modiommu
