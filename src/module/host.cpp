#include "module/host.h"

#include <dlfcn.h>
#include <link.h>

#include "module/elf.h"

namespace modiommu {

Result<HostSymbols> HostSymbols::from_file(const std::string& path) {
  ElfFile elf = TRY(ElfFile::open(path, ElfRead::symbols));
  HostSymbols h;
  for (auto& s : elf.exports(true)) h.exe_.insert(std::move(s));
  return h;
}

const HostSymbols& HostSymbols::self() {
  static const HostSymbols h = [] {
    auto r = from_file("/proc/self/exe");
    // An unreadable /proc leaves provides() to the dynamic linker alone.
    HostSymbols s = r ? std::move(r).value() : HostSymbols{};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
          if (info->dlpi_name && info->dlpi_name[0])
            static_cast<HostSymbols*>(data)->startup_objects_.insert(info->dlpi_name);
          return 0;
        },
        &s);
    return s;
  }();
  return h;
}

bool HostSymbols::provides(const std::string& sym) const {
  if (exe_.count(sym)) return true;
  void* addr = dlsym(RTLD_DEFAULT, sym.c_str());
  if (!addr) return false;
  Dl_info info{};
  // Not attributable (unmapped meanwhile): not the host's.
  if (!dladdr(addr, &info) || !info.dli_fname) return false;
  return startup_objects_.count(info.dli_fname) != 0;
}

}  // namespace modiommu
