#include "module/module.h"

#include <fmt/format.h>

#include <condition_variable>
#include <mutex>

#include "module/info.h"

namespace modiommu {

struct Module::Sync {
  mutable std::mutex lock;  // docs/architecture.md "Locks"
  std::condition_variable drained;  // pins reached 0
  ModuleState state = ModuleState::loading;
  unsigned pins = 0;
};

const char* module_state_name(ModuleState s) {
  switch (s) {
    case ModuleState::loading: return "loading";
    case ModuleState::live: return "live";
    case ModuleState::unloading: return "unloading";
  }
  return "?";
}

std::string ParamValue::str() const {
  switch (type) {
    case ModuleParamType::bool_: return b ? "true" : "false";
    case ModuleParamType::int_: return std::to_string(i);
    case ModuleParamType::uint_: return std::to_string(u);
    case ModuleParamType::string_: return s;
    case ModuleParamType::none_: break;
  }
  return "";
}

Module::Module(const ModuleDescriptor* desc, std::string path, bool builtin)
    : desc_(desc), name_(desc && desc->name ? desc->name : ""), path_(std::move(path)), builtin_(builtin),
      sync_(std::make_unique<Sync>()) {}

Module::~Module() = default;

ModuleState Module::state() const {
  std::lock_guard<std::mutex> g(sync_->lock);
  return sync_->state;
}

bool Module::try_pin() {
  std::lock_guard<std::mutex> g(sync_->lock);
  if (sync_->state == ModuleState::unloading) return false;
  ++sync_->pins;
  return true;
}

void Module::unpin() {
  std::lock_guard<std::mutex> g(sync_->lock);
  if (sync_->pins > 0 && --sync_->pins == 0) sync_->drained.notify_all();
}

unsigned Module::pins() const {
  std::lock_guard<std::mutex> g(sync_->lock);
  return sync_->pins;
}

void Module::set_state(ModuleState s) {
  std::lock_guard<std::mutex> g(sync_->lock);
  sync_->state = s;
}

Status Module::begin_unload(bool wait) {
  std::unique_lock<std::mutex> g(sync_->lock);
  if (sync_->state != ModuleState::live)
    return make_error(Errc::busy, fmt::format("module {} is {}", name_, module_state_name(sync_->state)));
  if (sync_->pins > 0 && !wait)
    return make_error(Errc::busy, fmt::format("module {} is in use ({} call(s) in progress)", name_, sync_->pins));
  // From here try_pin fails, so the pin count only goes down.
  sync_->state = ModuleState::unloading;
  return {};
}

void Module::wait_unpinned() {
  std::unique_lock<std::mutex> g(sync_->lock);
  sync_->drained.wait(g, [&] { return sync_->pins == 0; });
}

Result<const ParamValue*> Module::param(std::string_view name, ModuleParamType want) const {
  for (const auto& [n, v] : params_) {
    if (n != name) continue;
    if (v.type != want)
      return make_error(Errc::inval, fmt::format("module {}: parameter '{}' is {}, not {}", name_, name,
                                                 param_type_name(v.type), param_type_name(want)));
    return &v;
  }
  return make_error(Errc::inval, fmt::format("module {}: no parameter '{}'", name_, name));
}

Result<bool> Module::param_bool(std::string_view n) const { return TRY(param(n, ModuleParamType::bool_))->b; }
Result<int64_t> Module::param_int(std::string_view n) const { return TRY(param(n, ModuleParamType::int_))->i; }
Result<uint64_t> Module::param_uint(std::string_view n) const { return TRY(param(n, ModuleParamType::uint_))->u; }
Result<std::string> Module::param_string(std::string_view n) const {
  return TRY(param(n, ModuleParamType::string_))->s;
}

ModuleRef ModuleRef::try_get(const std::shared_ptr<Module>& m) {
  ModuleRef r;
  if (m && m->try_pin()) r.m_ = m;
  return r;
}

ModuleRef& ModuleRef::operator=(ModuleRef&& o) noexcept {
  if (this != &o) {
    reset();
    m_ = std::move(o.m_);
  }
  return *this;
}

void ModuleRef::reset() {
  if (m_) m_->unpin();
  m_.reset();
}

std::vector<const ModuleDescriptor*>& builtin_modules() {
  // Function-local: registrations run from static constructors in any order.
  static std::vector<const ModuleDescriptor*> list;
  return list;
}

BuiltinModuleRegistration::BuiltinModuleRegistration(const ModuleDescriptor* d) { builtin_modules().push_back(d); }

}  // namespace modiommu
