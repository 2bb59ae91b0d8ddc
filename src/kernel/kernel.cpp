#include "kernel/kernel.h"

#include <charconv>

#include "core/of_platform.h"
#include "module/loader.h"
#include "hw/mmio.h"
#include "board/pci_model.h"

namespace modiommu {

Kernel::Kernel(KernelOptions opts) : opts_(std::move(opts)) {
  if (opts_.verbose) log_.set_min_level(LogLevel::debug);
  core_.set_policy(opts_.deferred_probe);
  core_.set_deferred_timeout(opts_.deferred_timeout);
  core_.register_bus(&platform_bus_);
  core_.register_bus(&pci_.bus());
  iommu_.set_policy(opts_.iommu);
  core_.hooks().pre_probe = [this](Device& d) {
    Status s = iommu_.dma_configure(d);
    if (KernelObserver* o = observer()) o->dma_policy_changed(d, DmaPolicyEvent::configured);
    return s;
  };
  core_.hooks().post_remove = [this](Device& d) {
    iommu_.dma_cleanup(d);
    if (KernelObserver* o = observer()) o->dma_policy_changed(d, DmaPolicyEvent::released);
  };
  // A bound platform device's children become devices, as its driver's
  // of_platform_populate() would make them; they go before it unbinds.
  core_.hooks().post_bind = [this](Device& d) {
    if (opts_.populate_policy() != PopulatePolicy::drivers || d.bus() != &platform_bus_) return;
    if (d.driver() && d.driver()->populates_children) of_platform_populate_children(core_, platform_bus_, d, log_);
  };
  core_.hooks().pre_unbind = [this](Device& d) { of_platform_depopulate(core_, d); };
  core_.hooks().device_added = [this](Device& d) {
    iommu_.add_device(d);
    if (KernelObserver* o = observer()) o->dma_policy_changed(d, DmaPolicyEvent::added);
  };
  core_.hooks().device_removed = [this](Device& d) { iommu_.remove_device(d); };
  modules_ = std::make_unique<ModuleLoader>(*this);
  modules_->add_notifier([this](ModuleEvent ev, Module& m) {
    switch (ev) {
      case ModuleEvent::live: log_.info(m.name(), "module loaded{}", m.builtin() ? " (built in)" : ""); break;
      case ModuleEvent::going: log_.info(m.name(), "module going: its drivers unbind, consumers first"); break;
      case ModuleEvent::gone: log_.info(m.name(), "module unloaded"); break;
    }
  });
  modules_->set_autoload(opts_.autoload);
  modules_->set_blacklist(opts_.blacklist);
  // "Can a driver for this still appear?" (BEHAVIOUR.md 1): a module in the
  // index whose alias matches, blacklisted or not.
  core_.hooks().module_for = [this](const Device& d) -> std::string {
    if (!d.bus()) return "";
    for (const auto& alias : d.bus()->modaliases(d)) {
      auto names = modules_->find_by_alias(alias);
      if (names.empty()) continue;
      auto m = modules_->find(names.front());
      if (m && m->state() == ModuleState::live) continue;  // loaded, and it did not take the device
      std::string what = "module " + names.front() + (m ? " loading" : " available, not loaded");
      if (!m && modules_->blacklisted(names.front())) what += " (blacklisted for autoload: modprobe it)";
      return what;
    }
    return "";
  };
  // A pre-softdep is wanted when a device here that no driver holds
  // announces an alias it serves (virtio_iommu's transports: the machine's).
  modules_->set_softdep_filter([this](const std::string& module) {
    for (Device* d : core_.devices()) {
      if (!d->bus() || d->state() == DeviceState::bound) continue;
      for (const auto& alias : d->bus()->modaliases(*d))
        for (const auto& m : modules_->find_by_alias(alias))
          if (module_name_eq(m, module)) return true;
    }
    return false;
  });
  core_.hooks().request_module = [this](const std::string& alias) {
    Status s = modules_->request_module(alias);
    // ENOENT (no module has the alias) and EPERM (autoload off, or
    // blacklisted) are normal answers; anything else is a real failure.
    if (s.ok()) return;
    if (s.error().code == Errc::noent || s.error().code == Errc::perm)
      log_.debug("", "autoload {}: {}", alias, s.error().message);
    else
      log_.err("", "autoload {}: {}", alias, s.error().message);
  };
}

Kernel::~Kernel() {
  modules_.reset();  // rmmod everything first: their devices unbind while all else exists
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
  ModuleLoader::IndexHold hold(*modules_);
  tree_ = std::move(tree);
  log_.info("", "booting {}", tree_->source());
  auto plat = Platform::build(*tree_, log_);
  if (!plat.ok()) return std::move(plat).error();
  platform_ = std::move(plat).value();
  auto pages = mm::PageAllocator::create(machine().memory(), platform_->kernel_ram_base(), platform_->kernel_ram_size());
  if (!pages.ok()) return make_error(Errc::nomem, "kernel memory: " + pages.error().message);
  pages_ = std::move(pages).value();
  if (KernelObserver* o = observer()) o->platform_built();
  dma_ = std::make_unique<iommu::DmaApi>(iommu_, *pages_);
  iommu_.set_dma_domain_init([this](iommu::IommuDomain& d, Device& dev) { return dma_->init_domain(d, dev); });
  iommu_.set_dma_domain_fini([this](iommu::IommuDomain& d) { dma_->fini_domain(d); });
  auto n = of_platform_populate(core_, platform_bus_, *tree_, log_);
  if (!n.ok()) return std::move(n).error();
  log_.info("", "{} platform devices from the device tree", *n);
  for (const auto& dir : opts_.module_dirs) {
    Status s = modules_->announce_module_dir(dir);
    if (!s.ok()) {
      log_.warn("", "{}", s.error().message);
      continue;
    }
    // A file the index could not take is named once, at boot.
    if (auto idx = modules_->index(dir); idx.ok())
      for (const auto& e : idx->errors) log_.warn("", "module {}/{} skipped: {}", dir, e.file, e.error);
  }
  // device_initcall: built-in modules register their drivers.
  Status b = modules_->load_builtins();
  if (!b.ok()) log_.err("", "built-in modules: {}", b.error().message);
  // An initramfs's modules (--preload), loaded before boot-complete.
  for (const auto& name : opts_.preload) {
    Status s = modules_->modprobe(name);
    if (!s.ok()) log_.err("", "preload {}: {}", name, s.error().message);
  }
  core_.process();
  return {};
}

Result<IoMem> Kernel::ioremap(Device& dev, size_t index) {
  if (const PciDevice* pd = to_pci(&dev)) {
    if (index >= 6 || !pd->info().bars[index].size)
      return make_error(Errc::inval, fmt::format("{}: no memory BAR {}", dev.name(), index));
    return IoMem(&machine().bus(), pd->info().bars[index].addr, pd->info().bars[index].size);
  }
  const of::Node* n = dev.fwnode();
  if (!n) return make_error(Errc::nodev, dev.name() + " has no firmware node to map");
  auto reg = n->reg();
  if (!reg.ok()) return std::move(reg).error();
  if (index >= reg->size()) return make_error(Errc::inval, fmt::format("{}: no reg entry {}", dev.name(), index));
  auto base = n->translated_address(index);
  if (!base.ok()) return std::move(base).error();
  const uint64_t size = (*reg)[index].size;
  // Registers that are not this device's own are never handed out: a
  // driver would program RAM or another device's model through them.
  if (size && *base + (size - 1) < *base)
    return make_error(Errc::range, fmt::format("{}: reg {} [{:#x}, +{:#x}) wraps past 2^64", dev.name(), index, *base, size));
  if (platform_) {
    if (const std::string* why = platform_->refusal(n))
      return make_error(Errc::nodev, fmt::format("{}: registers not mapped: {}", dev.name(), *why));
    if (const PlatformModel* o = platform_->model_overlapping(*base, size, n))
      return make_error(Errc::busy, fmt::format("{}: reg {} [{:#x}, +{:#x}) overlaps the registers of {}", dev.name(),
                                                index, *base, size, o->node->path()));
  }
  return IoMem(&machine().bus(), *base, size);
}

Result<IrqHandle> Kernel::request_irq(Device& dev, const std::string& name, std::function<void()> handler) {
  if (const PciDevice* pd = to_pci(&dev)) {
    // INTx: one interrupt, "0", routed by the host bridge's interrupt-map
    // after swizzling across the bridges above (board/pci_model.h).
    if (name != "0")
      return make_error(Errc::inval, fmt::format("{}: a PCI device has one INTx interrupt, \"0\" (asked for \"{}\")", dev.name(), name));
    if (!pd->info().irq_pin) return make_error(Errc::noent, dev.name() + ": no INTx (Interrupt Pin is 0)");
    const of::Node* host = pd->host() ? pd->host()->fwnode() : nullptr;
    if (!host || !platform_) return make_error(Errc::nodev, dev.name() + ": no host bridge node to route INTx");
    std::vector<uint16_t> bridges;
    for (const PciDevice* up = pd->upstream(); up; up = up->upstream()) bridges.push_back(up->info().rid());
    auto num = pci_intx_irq(*host, pd->info().rid(), pd->info().irq_pin, bridges);
    if (!num.ok()) return std::move(num).error();
    hw::IrqLine& line = machine().irq(*num);
    return IrqHandle(&line, line.add_listener(std::move(handler)));
  }
  const of::Node* n = dev.fwnode();
  if (!n) return make_error(Errc::nodev, dev.name() + " has no firmware node");
  size_t idx = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), idx);
  auto num = ec == std::errc() && p == name.data() + name.size() ? platform_->irq_number(*n, idx)
                                                                 : platform_->irq_number(*n, std::string_view(name));
  if (!num.ok()) return std::move(num).error();
  hw::IrqLine& line = machine().irq(*num);
  return IrqHandle(&line, line.add_listener(std::move(handler)));
}

std::vector<std::string> Kernel::modules_for_alias(const std::string& modalias) {
  return modules_->find_by_alias(modalias);
}

void Kernel::register_endpoint(Device& dev, DmaEndpoint* ep, CodeOwner* owner) {
  if (KernelObserver* o = observer()) o->endpoint_registered(dev, ep, owner);
}

void Kernel::unregister_endpoint(Device& dev) {
  if (KernelObserver* o = observer()) o->endpoint_unregistered(dev);
}

void Kernel::boot_complete() {
  ModuleLoader::IndexHold hold(*modules_);
  if (!opts_.await_module_sources) modules_->set_sources_final(true);
  core_.boot_complete(opts_.await_module_sources);
  core_.process();
}

}  // namespace modiommu
