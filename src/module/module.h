// What a driver author includes: the module descriptor ABI, the one-line
// MODIOMMU_MODULE declaration and the Module handle passed to init/exit.
//
// The same source builds two ways (BEHAVIOUR.md 3): with MODIOMMU_BUILD_MODULE
// defined (a loadable .so) the macro emits the exported extern "C" symbol
// `modiommu_module_descriptor`; without it (built in) the descriptor goes on
// the static builtin_modules() list that the host initialises in its initcall
// phase.
//
//   static Status smmu_init(DriverContext& ctx, Module& m) { ... }
//   static void smmu_exit(DriverContext& ctx, Module& m) { ... }
//   MODIOMMU_MODULE(arm_smmu_v3, .version = "1.0", .license = "GPL-2.0",
//                   .description = "ARM SMMUv3",
//                   .params = {{.name = "cmdq_depth", .type = ModuleParamType::uint_,
//                               .default_value = "256", .description = "..."}},
//                   .aliases = {"of:arm,smmu-v3"},
//                   .init = smmu_init, .exit = smmu_exit);
//
// Fields are C++20 designated initialisers, so they must appear in this
// order: version, license, description, author, params, aliases, softdeps,
// init, exit
// (any may be left out). Aliases are Linux modalias strings with fnmatch
// wildcards (module/alias.h): "of:<compatible>", "pci:vVVVVVVVVdDDDDDDDD",
// "virtio:dNNNNNNNNvVVVVVVVV", "platform:<name>".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "core/owner.h"
#include "module/abi.h"

namespace modiommu {

class DriverContext;  // the host's, for drivers; passed through to init/exit, never looked into here
class Module;

enum class ModuleParamType : uint32_t { none_ = 0, bool_ = 1, int_ = 2, uint_ = 3, string_ = 4 };

// One module parameter (Linux module_param). The default is text, parsed by
// the same rules as a key=value given to insmod, so both are checked alike.
struct ModuleParamDesc {
  const char* name;
  ModuleParamType type;
  uint32_t reserved;
  const char* default_value;
  const char* description;
};

// The descriptor: one flat C-layout struct of PODs and const char*, so that
// its layout is fixed by kModuleAbiVersion and its data can be read from the
// ELF file without running any module code (depmod, modinfo).
struct ModuleDescriptor {
  uint64_t magic;        // kModuleMagic
  uint32_t size;         // sizeof(ModuleDescriptor) of the module's build
  uint32_t abi_version;  // kModuleAbiVersion of the module's build
  const char* name;
  const char* version;
  const char* license;
  const char* description;
  const char* author;
  ModuleParamDesc params[kModuleMaxParams];  // ends at the first null name
  const char* aliases[kModuleMaxAliases];    // ends at the first null
  // MODULE_SOFTDEP("pre: ..."): modules modprobe loads first, each only if
  // a device present wants it (virtio_iommu names the transports; the one
  // the machine has is loaded). Ends at the first null.
  const char* softdeps[kModuleMaxSoftdeps];
  Status (*init)(DriverContext& ctx, Module& module);
  // Like Linux module_exit: cannot fail; must undo everything init did.
  void (*exit)(DriverContext& ctx, Module& module);
};

enum class ModuleState { loading, live, unloading };
MODIOMMU_API const char* module_state_name(ModuleState s);  // JSON names

// A parsed parameter value.
struct MODIOMMU_API ParamValue {
  ModuleParamType type = ModuleParamType::none_;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  std::string s;
  std::string str() const;  // canonical text ("1", "-3", "true", ...)
};

// A module in the system (struct module). Created and owned by the
// ModuleLoader; the descriptor's init/exit get a reference to it.
//
// Locking: the mutable state (state, pins) is guarded by lock_, its own, so
// pinning never takes the loader's lock. Everything else is fixed once the
// module is published; holders are guarded by the loader's lock.
class MODIOMMU_API Module : public CodeOwner {
 public:
  Module(const ModuleDescriptor* desc, std::string path, bool builtin);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }  // empty for built-in
  bool builtin() const { return builtin_; }
  // Valid from init on (a loadable module's descriptor is mapped by then).
  const ModuleDescriptor& descriptor() const { return *desc_; }
  ModuleState state() const;

  // Parameter values as set at load (insmod key=value, else the default).
  // Unknown name or wrong type: EINVAL naming both.
  Result<bool> param_bool(std::string_view name) const;
  Result<int64_t> param_int(std::string_view name) const;
  Result<uint64_t> param_uint(std::string_view name) const;
  Result<std::string> param_string(std::string_view name) const;
  const std::vector<std::pair<std::string, ParamValue>>& params() const { return params_; }

  // The module's own state (what a Linux driver keeps in file statics).
  void set_private(void* p) { private_ = p; }
  void* private_data() const { return private_; }

  // try_module_get/module_put: a pin keeps the module's code mapped. Pins
  // succeed while loading or live (init may register drivers whose probe
  // runs at once) and fail once unloading has begun. Prefer ModuleRef.
  bool try_pin() override;
  void unpin() override;
  std::string owner_name() const override { return name_; }
  unsigned pins() const;

 private:
  friend class ModuleLoader;
  Result<const ParamValue*> param(std::string_view name, ModuleParamType want) const;
  void set_state(ModuleState s);
  // live -> unloading. Refused (EBUSY) while not live, or while pinned
  // unless `wait` (then wait_unpinned() waits for the pins to drain).
  Status begin_unload(bool wait);
  void wait_unpinned();

  const ModuleDescriptor* desc_;
  std::string name_;
  std::string path_;
  std::string version_;
  std::vector<std::string> aliases_;
  bool builtin_;
  void* handle_ = nullptr;  // dlopen handle (loadable only)
  void* private_ = nullptr;
  std::vector<std::pair<std::string, ParamValue>> params_;
  std::vector<std::string> exports_;  // defined global symbols (loadable only)
  std::vector<std::string> depends_;  // modules whose exports it binds to
  std::vector<std::string> holders_;  // modules that depend on it (loader lock)

  struct Sync;
  std::unique_ptr<Sync> sync_;  // state + pins + their condition variable
};

// RAII pin (try_module_get/module_put), taken by the core around every call
// into module code. ok() is false if the module is unloading (or null).
class MODIOMMU_API ModuleRef {
 public:
  ModuleRef() = default;
  static ModuleRef try_get(const std::shared_ptr<Module>& m);
  ~ModuleRef() { reset(); }
  ModuleRef(ModuleRef&& o) noexcept : m_(std::move(o.m_)) {}
  ModuleRef& operator=(ModuleRef&& o) noexcept;
  ModuleRef(const ModuleRef&) = delete;
  ModuleRef& operator=(const ModuleRef&) = delete;
  bool ok() const { return m_ != nullptr; }
  explicit operator bool() const { return ok(); }
  Module* get() const { return m_.get(); }
  void reset();

 private:
  std::shared_ptr<Module> m_;
};

// Built-in modules, in link order (the initcall list).
MODIOMMU_API std::vector<const ModuleDescriptor*>& builtin_modules();
struct MODIOMMU_API BuiltinModuleRegistration {
  explicit BuiltinModuleRegistration(const ModuleDescriptor* d);
};

}  // namespace modiommu

#define MODIOMMU_MODULE_HEADER_(modname)                                        \
  .magic = ::modiommu::kModuleMagic, .size = sizeof(::modiommu::ModuleDescriptor), \
  .abi_version = ::modiommu::kModuleAbiVersion, .name = #modname
// A module names only the fields it sets; the rest are zero by design, so
// the descriptor must not warn under a module author's -Wextra.
#define MODIOMMU_MODULE_DIAG_PUSH_ \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")
#define MODIOMMU_MODULE_DIAG_POP_ _Pragma("GCC diagnostic pop")

#ifdef MODIOMMU_BUILD_MODULE
// Protected visibility: exported (dlsym, the ELF reader find it) but never
// interposed, so every module's own references bind to its own descriptor
// although all modules share the name in the RTLD_GLOBAL scope.
#define MODIOMMU_MODULE(modname, ...)                                                         \
  MODIOMMU_MODULE_DIAG_PUSH_                                                                  \
  extern "C" __attribute__((visibility("protected"))) const ::modiommu::ModuleDescriptor      \
      modiommu_module_descriptor;                                                             \
  extern "C" __attribute__((visibility("protected"), used)) const ::modiommu::ModuleDescriptor \
      modiommu_module_descriptor = {MODIOMMU_MODULE_HEADER_(modname), __VA_ARGS__};           \
  MODIOMMU_MODULE_DIAG_POP_ static_assert(true, "")
#else
#define MODIOMMU_MODULE(modname, ...)                                                       \
  MODIOMMU_MODULE_DIAG_PUSH_                                                                \
  static const ::modiommu::ModuleDescriptor modiommu_builtin_desc_##modname = {             \
      MODIOMMU_MODULE_HEADER_(modname), __VA_ARGS__};                                       \
  static const ::modiommu::BuiltinModuleRegistration modiommu_builtin_reg_##modname(        \
      &modiommu_builtin_desc_##modname);                                                    \
  MODIOMMU_MODULE_DIAG_POP_ static_assert(true, "")
#endif
