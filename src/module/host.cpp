#include "module/host.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <map>

#include "module/elf.h"

namespace modiommu {

namespace {
std::mutex g_objects_lock;
std::map<std::string, int>& module_objects() {  // guarded by g_objects_lock; path -> load count
  static std::map<std::string, int> m;
  return m;
}
}  // namespace

Result<HostSymbols> HostSymbols::from_file(const std::string& path) {
  ElfFile elf = TRY(ElfFile::open(path));
  HostSymbols h;
  for (auto& s : elf.exports(true)) h.exe_.insert(std::move(s));
  return h;
}

const HostSymbols& HostSymbols::self() {
  static const HostSymbols h = [] {
    auto r = from_file("/proc/self/exe");
    // An unreadable /proc leaves provides() to the dynamic linker alone.
    return r ? std::move(r).value() : HostSymbols{};
  }();
  return h;
}

bool HostSymbols::provides(const std::string& sym) const {
  if (exe_.count(sym)) return true;
  void* addr = dlsym(RTLD_DEFAULT, sym.c_str());
  if (!addr) return false;
  Dl_info info{};
  if (!dladdr(addr, &info) || !info.dli_fname) return true;
  std::lock_guard<std::mutex> g(g_objects_lock);
  auto& objs = module_objects();
  if (objs.empty()) return true;
  // Modules are dlopen'ed by canonical path, so dli_fname is that path.
  return objs.count(info.dli_fname) == 0;
}

void HostSymbols::register_module_object(const std::string& path) {
  std::lock_guard<std::mutex> g(g_objects_lock);
  ++module_objects()[path];
}

void HostSymbols::unregister_module_object(const std::string& path) {
  std::lock_guard<std::mutex> g(g_objects_lock);
  auto& objs = module_objects();
  if (auto it = objs.find(path); it != objs.end() && --it->second == 0) objs.erase(it);
}

}  // namespace modiommu
