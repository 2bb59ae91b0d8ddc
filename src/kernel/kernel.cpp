#include "kernel/kernel.h"

#include "core/of_platform.h"

namespace modiommu {

std::vector<Initcall>& builtin_initcalls() {
  static std::vector<Initcall> calls;
  return calls;
}

Kernel::Kernel(KernelOptions opts) : opts_(std::move(opts)) {
  if (opts_.verbose) log_.set_min_level(LogLevel::debug);
  core_.set_policy(opts_.deferred_probe);
  core_.set_deferred_timeout(opts_.deferred_timeout);
  core_.register_bus(&platform_bus_);
}

Kernel::~Kernel() {
  // Unbind everything before the drivers' objects go away.
  for (auto it = owned_drivers_.rbegin(); it != owned_drivers_.rend(); ++it) core_.unregister_driver(it->get());
}

void Kernel::own_driver(std::unique_ptr<Driver> drv) { owned_drivers_.push_back(std::move(drv)); }

Status Kernel::boot(const std::string& platform_path) {
  auto tree = of::Tree::load_file(platform_path);
  if (!tree.ok()) return std::move(tree).error();
  return boot(std::move(tree).value());
}

Status Kernel::boot(std::unique_ptr<of::Tree> tree) {
  tree_ = std::move(tree);
  log_.info("", "booting {}", tree_->source());
  auto n = of_platform_populate(core_, platform_bus_, *tree_, log_);
  if (!n.ok()) return std::move(n).error();
  log_.info("", "{} platform devices from the device tree", *n);
  for (auto& ic : builtin_initcalls()) {
    Status s = ic.init(*this);
    if (!s.ok()) log_.err("", "initcall {} failed: {}", ic.name, s.error().str());
  }
  core_.process();
  return {};
}

void Kernel::boot_complete() {
  core_.boot_complete(opts_.await_module_sources);
  core_.process();
}

}  // namespace modiommu
