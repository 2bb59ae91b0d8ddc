#include "core/driver_core.h"

#include <algorithm>

#include "core/owner.h"
#include "of/tree.h"

namespace modiommu {

DriverCore::DriverCore(Log& log, VirtualClock& clock) : log_(log), clock_(clock) {}

DriverCore::~DriverCore() {
  if (timeout_timer_) clock_.cancel(timeout_timer_);
}

void DriverCore::register_bus(Bus* bus) {
  std::lock_guard g(lock_);
  buses_.push_back(bus);
}

Bus* DriverCore::find_bus(const std::string& name) const {
  std::lock_guard g(lock_);
  for (Bus* b : buses_)
    if (b->name() == name) return b;
  return nullptr;
}

// --- devices -------------------------------------------------------------------

Device* DriverCore::add_device(std::shared_ptr<Device> dev) {
  std::unique_lock g(lock_);
  Device* d = dev.get();
  seq_[d] = next_seq_++;
  devices_.push_back(std::move(dev));
  if (d->fwnode()) by_fwnode_[d->fwnode()].push_back(d);
  log_.debug(d->name(), "device added ({})", d->path());
  if (hooks_.device_added) hooks_.device_added(*d);
  kick(WaitKey::fwnode(d->fwnode()));
  if (!d->bus()) return d;
  bool any = false;
  for (Driver* drv : drivers_)
    if (drv->bus == d->bus() && d->bus()->match(*d, *drv)) any = true;
  if (!any && hooks_.request_module) {
    // udev + modprobe: announce the device's aliases; loaded after lock_ is dropped.
    std::lock_guard w(work_lock_);
    for (auto& a : d->bus()->modaliases(*d)) autoload_queue_.push_back(a);
  }
  if (hold_ > 0) {
    retry_queue_[seq_[d]] = d;
    return d;
  }
  probe_locked(*d, nullptr);
  drain();
  return d;
}

void DriverCore::hold_probes() {
  std::lock_guard g(lock_);
  ++hold_;
}

void DriverCore::release_probes() {
  std::lock_guard g(lock_);
  if (--hold_ == 0) drain();
}

void DriverCore::remove_device(Device& dev) {
  std::lock_guard g(lock_);
  if (dev.removed_) return;
  for (Device* c : children(dev)) remove_device(*c);
  if (dev.state_ == DeviceState::bound) unbind_locked(dev, false, nullptr);
  clear_waits(dev);
  retry_queue_.erase(seq_[&dev]);
  std::erase(linux_pending_, &dev);
  std::vector<Device*> orphans;
  for (DeviceLink* l : std::vector<DeviceLink*>(dev.consumer_links_)) {
    orphans.push_back(l->consumer);
    unlink(l);
  }
  for (DeviceLink* l : std::vector<DeviceLink*>(dev.supplier_links_)) unlink(l);
  if (dev.fwnode()) {
    auto f = by_fwnode_.find(dev.fwnode());
    if (f != by_fwnode_.end()) {
      std::erase(f->second, &dev);
      if (f->second.empty()) by_fwnode_.erase(f);
    }
  }
  if (hooks_.device_removed) hooks_.device_removed(dev);
  dev.removed_ = true;
  log_.info(dev.name(), "device removed");
  seq_.erase(&dev);
  // Keep the object alive for this call; the shared_ptr owners elsewhere
  // (DMA threads) may keep it longer.
  std::shared_ptr<Device> keep;
  for (auto it = devices_.begin(); it != devices_.end(); ++it)
    if (it->get() == &dev) {
      keep = *it;
      devices_.erase(it);
      break;
    }
  kick(WaitKey::device(&dev));
  for (Device* c : orphans)
    if (!c->removed_ && c->state_ != DeviceState::bound) schedule(*c);
  drain();
}

std::vector<Device*> DriverCore::children(const Device& parent) const {
  std::lock_guard g(lock_);
  std::vector<Device*> out;
  for (auto& d : devices_)
    if (d->parent() == &parent) out.push_back(d.get());
  return out;
}

Device* DriverCore::lookup_locked(std::string_view name) const {
  for (auto& d : devices_)
    if (d->name() == name) return d.get();
  for (auto& d : devices_)
    if (d->fwnode() && (d->fwnode()->name() == name || d->fwnode()->path() == name)) return d.get();
  for (auto& d : devices_)
    if (d->path() == name) return d.get();
  return nullptr;
}

Device* DriverCore::find_device(std::string_view name) const {
  std::lock_guard g(lock_);
  return lookup_locked(name);
}

Device* DriverCore::find_device_by_fwnode(const void* node) const {
  std::lock_guard g(lock_);
  auto it = by_fwnode_.find(node);
  return it == by_fwnode_.end() ? nullptr : it->second.front();
}

std::vector<Device*> DriverCore::fwnode_devices(const void* node) const {
  std::lock_guard g(lock_);
  auto it = by_fwnode_.find(node);
  return it == by_fwnode_.end() ? std::vector<Device*>{} : it->second;
}

Driver* DriverCore::find_driver(std::string_view name) const {
  std::lock_guard g(lock_);
  for (Driver* d : drivers_)
    if (d->name == name) return d;
  return nullptr;
}

std::vector<Device*> DriverCore::devices() const {
  std::lock_guard g(lock_);
  std::vector<Device*> out;
  for (auto& d : devices_) out.push_back(d.get());
  return out;
}

std::vector<Driver*> DriverCore::drivers() const {
  std::lock_guard g(lock_);
  return drivers_;
}

std::vector<DeviceLink> DriverCore::links() const {
  std::lock_guard g(lock_);
  std::vector<DeviceLink> out;
  for (auto& l : links_) out.push_back(*l);
  return out;
}

// --- drivers -----------------------------------------------------------------

Status DriverCore::register_driver(Driver* drv) {
  std::lock_guard g(lock_);
  if (!drv->bus) return make_error(Errc::inval, "driver '" + drv->name + "' has no bus");
  for (Driver* d : drivers_)
    if (d->name == drv->name) return make_error(Errc::exist, "driver '" + drv->name + "' is already registered");
  drivers_.push_back(drv);
  log_.debug("", "driver {} registered on bus {}", drv->name, drv->bus->name());
  // driver_attach(): devices that had no driver, or whose probe failed, get
  // a try. Deferred ones already have a driver and wait for something known.
  std::vector<Device*> cands;
  for (auto& d : devices_)
    if (d->bus() == drv->bus && !d->manual_unbind_ &&
        (d->state_ == DeviceState::unbound || d->state_ == DeviceState::failed) && drv->bus->match(*d, *drv))
      cands.push_back(d.get());
  for (Device* d : cands) {
    if (hold_ > 0) retry_queue_[seq_[d]] = d;
    else probe_locked(*d, nullptr);
  }
  drain();
  return {};
}

void DriverCore::unregister_driver(Driver* drv) {
  std::lock_guard g(lock_);
  // driver_detach(): newest device first, each one's consumers before it.
  std::vector<Device*> bound;
  for (auto& d : devices_)
    if (d->driver_ == drv) bound.push_back(d.get());
  for (auto it = bound.rbegin(); it != bound.rend(); ++it)
    if ((*it)->driver_ == drv) unbind_locked(**it, false, nullptr);
  // Deferred devices whose pending probe was this driver's go back to waiting for a driver.
  for (auto& d : devices_)
    if (d->state_ == DeviceState::deferred && d->driver_ == drv) d->driver_ = nullptr;
  std::erase(drivers_, drv);
  log_.debug("", "driver {} unregistered", drv->name);
  drain();
}

// --- probe ---------------------------------------------------------------------

void DriverCore::probe_device(Device& dev) {
  std::lock_guard g(lock_);
  probe_locked(dev, nullptr);
  drain();
}

void DriverCore::schedule(Device& dev) {
  auto it = seq_.find(&dev);
  if (it != seq_.end()) retry_queue_[it->second] = &dev;
}

void DriverCore::probe_locked(Device& dev, Driver* only) {
  if (dev.removed_ || dev.state_ == DeviceState::bound || !dev.bus()) return;
  if (!only && dev.manual_unbind_) return;
  std::vector<Driver*> cands;
  if (only) cands.push_back(only);
  else
    for (Driver* d : drivers_)
      if (d->bus == dev.bus() && dev.bus()->match(dev, *d)) cands.push_back(d);
  clear_waits(dev);
  if (cands.empty()) {
    dev.state_ = DeviceState::unbound;
    dev.deferred_reason_.clear();
    return;
  }
  ++dev.probe_attempts_;
  ++stats_.probe_attempts;
  clock_.advance(10'000);  // a probe attempt's virtual cost: keeps log order readable
  if (!check_suppliers(dev)) return;
  for (Driver* drv : cands) {
    Status s = really_probe(dev, *drv);
    if (s.ok()) {
      driver_bound(dev);
      return;
    }
    if (s.error().code == Errc::probe_defer) {
      std::vector<WaitKey> waits = std::move(dev.pending_waits_);
      std::string reason = dev.pending_reason_.empty() ? s.error().message : dev.pending_reason_;
      if (waits.empty()) waits.push_back(WaitKey::any_bind());
      dev.pending_reason_.clear();
      set_deferred(dev, std::move(waits), std::move(reason));
      return;
    }
    if (s.error().code == Errc::nodev) continue;  // "not mine": try the next driver
    dev.state_ = DeviceState::failed;
    dev.deferred_reason_ = s.error().str();
    log_.err(dev.name(), "probe with driver {} failed: {}", drv->name, s.error().str());
    kick(WaitKey::device(&dev));  // waiters learn it can no longer bind
    return;
  }
  dev.state_ = DeviceState::unbound;
}

Status DriverCore::really_probe(Device& dev, Driver& drv) {
  OwnerPin pin(drv.owner);
  if (!pin.ok()) return make_error(Errc::nodev, "module " + drv.owner->owner_name() + " is going away");
  dev.driver_ = &drv;
  dev.pending_waits_.clear();
  dev.pending_reason_.clear();
  if (hooks_.pre_probe) {
    Status s = hooks_.pre_probe(dev);
    if (!s.ok()) {
      dev.driver_ = nullptr;
      return s;
    }
  }
  Status s = drv.probe(dev);
  if (!s.ok()) {
    for (auto it = dev.devres_.rbegin(); it != dev.devres_.rend(); ++it) it->second();
    dev.devres_.clear();
    dev.drvdata_.reset();
    if (hooks_.post_remove) hooks_.post_remove(dev);
    dev.driver_ = nullptr;
  }
  return s;
}

void DriverCore::driver_bound(Device& dev) {
  dev.state_ = DeviceState::bound;
  dev.deferred_reason_.clear();
  dev.manual_unbind_ = false;
  ++stats_.binds;
  for (DeviceLink* l : dev.supplier_links_)
    if (l->state != LinkState::relaxed) l->state = LinkState::active;
  for (DeviceLink* l : dev.consumer_links_)
    if (l->state == LinkState::dormant) l->state = LinkState::available;
  log_.info(dev.name(), "bound to driver {}", dev.driver_->name);
  if (policy_ == DeferredPolicy::targeted) {
    kick(WaitKey::device(&dev));
    kick(WaitKey::any_bind());
  } else {
    linux_trigger();
  }
}

bool DriverCore::check_suppliers(Device& dev) {
  std::vector<WaitKey> waits;
  std::string reason;
  for (DeviceLink* l : dev.supplier_links_) {
    if (l->state == LinkState::relaxed) continue;
    Device& s = *l->supplier;
    if (s.state_ == DeviceState::bound) continue;
    if (l->kind == LinkKind::firmware && !driver_may_appear(s)) {
      l->state = LinkState::relaxed;
      log_.warn(dev.name(), "supplier {} ({}) can never bind: {}; probing without it", s.name(), l->why,
                availability(s));
      continue;
    }
    waits.push_back(WaitKey::device(&s));
    if (!sources_final_) waits.push_back(WaitKey::event("sources-final"));
    if (reason.empty()) reason = "waiting for supplier " + s.name() + " (" + l->why + ")";
  }
  if (waits.empty()) return true;
  set_deferred(dev, std::move(waits), std::move(reason));
  return false;
}

// --- deferral ------------------------------------------------------------------

Error Device::defer(WaitKey key, std::string reason) {
  pending_waits_.push_back(std::move(key));
  if (pending_reason_.empty()) pending_reason_ = reason;
  return make_error(Errc::probe_defer, std::move(reason));
}

void DriverCore::set_deferred(Device& dev, std::vector<WaitKey> waits, std::string reason) {
  dev.state_ = DeviceState::deferred;
  dev.deferred_reason_ = std::move(reason);
  ++stats_.deferrals;
  log_.debug(dev.name(), "probe deferred: {}", dev.deferred_reason_);
  if (policy_ == DeferredPolicy::targeted) {
    const uint64_t seq = seq_[&dev];
    for (auto& k : waits) waiters_[k][seq] = &dev;
  } else if (!dev.linux_pending_) {
    dev.linux_pending_ = true;
    linux_pending_.push_back(&dev);
  }
  dev.waits_ = std::move(waits);
}

void DriverCore::clear_waits(Device& dev) {
  auto it = seq_.find(&dev);
  if (it != seq_.end())
    for (auto& k : dev.waits_) {
      auto w = waiters_.find(k);
      if (w == waiters_.end()) continue;
      w->second.erase(it->second);
      if (w->second.empty()) waiters_.erase(w);
    }
  dev.waits_.clear();
  dev.linux_pending_ = false;  // lazily dropped from linux_pending_
}

void DriverCore::kick(const WaitKey& key) {
  std::lock_guard g(lock_);
  if (policy_ == DeferredPolicy::linux) return;  // Linux retries on binds only
  auto w = waiters_.find(key);
  if (w == waiters_.end()) return;
  for (auto& [seq, d] : w->second) retry_queue_[seq] = d;
  waiters_.erase(w);
  drain();
}

void DriverCore::drain() {
  if (draining_ || hold_ > 0) return;
  draining_ = true;
  run_retry_queue();
  draining_ = false;
  if (policy_ == DeferredPolicy::linux && linux_triggered_) linux_trigger();
}

// Probes queued devices in add order until none are left (probing may queue more).
void DriverCore::run_retry_queue() {
  while (!retry_queue_.empty()) {
    auto it = retry_queue_.begin();
    Device* d = it->second;
    retry_queue_.erase(it);
    probe_locked(*d, nullptr);
  }
}

// driver_deferred_probe_trigger(): the whole list, again, until nothing binds.
void DriverCore::linux_trigger() {
  if (!boot_complete_) return;
  linux_triggered_ = true;
  if (draining_) return;
  draining_ = true;
  while (linux_triggered_) {
    linux_triggered_ = false;
    std::deque<Device*> pass;
    pass.swap(linux_pending_);
    for (Device* d : pass) {
      if (!d->linux_pending_) continue;
      d->linux_pending_ = false;
      probe_locked(*d, nullptr);
    }
    run_retry_queue();
  }
  draining_ = false;
}

std::vector<std::pair<Device*, std::string>> DriverCore::deferred() const {
  std::lock_guard g(lock_);
  std::vector<std::pair<Device*, std::string>> out;
  for (auto& d : devices_)
    if (d->state_ == DeviceState::deferred) out.emplace_back(d.get(), reason(*d));
  return out;
}

std::string DriverCore::reason(const Device& dev) const {
  std::lock_guard g(lock_);
  if (dev.state_ != DeviceState::deferred) return dev.deferred_reason_;
  for (const auto& w : dev.waits_)
    if (w.kind == WaitKey::Kind::device) {
      for (auto& d : devices_)
        if (d.get() == w.ptr) return dev.deferred_reason_ + ": " + availability(*d);
      return dev.deferred_reason_ + ": it was removed";
    }
  return dev.deferred_reason_;
}

void DriverCore::requeue_after(Device& dev, Device& supplier, std::string why) {
  std::lock_guard g(lock_);
  for (DeviceLink* l : dev.supplier_links_)
    if (l->supplier == &supplier && l->state == LinkState::relaxed) l->state = LinkState::dormant;
  if (dev.state_ == DeviceState::bound) unbind_locked(dev, false, nullptr);
  clear_waits(dev);
  set_deferred(dev, {WaitKey::device(&supplier)}, std::move(why));
  if (supplier.state_ == DeviceState::bound) schedule(dev);
  drain();
}

bool DriverCore::driver_may_appear(const Device& dev) const {
  std::lock_guard g(lock_);
  if (dev.state_ == DeviceState::bound || dev.state_ == DeviceState::deferred) return true;
  if (dev.state_ == DeviceState::failed) return false;
  if (dev.bus())
    for (Driver* d : drivers_)
      if (d->bus == dev.bus() && dev.bus()->match(dev, *d)) return true;
  if (hooks_.module_for && !hooks_.module_for(dev).empty()) return true;
  return !sources_final_;
}

std::string DriverCore::availability(const Device& dev) const {
  std::lock_guard g(lock_);
  switch (dev.state_) {
    case DeviceState::bound: return "bound to " + dev.driver_->name;
    case DeviceState::deferred: return "itself deferred (" + dev.deferred_reason_ + ")";
    case DeviceState::failed: return "its probe failed (" + dev.deferred_reason_ + ")";
    case DeviceState::unbound: break;
  }
  if (dev.manual_unbind_) return "unbound by hand";
  if (dev.bus())
    for (Driver* d : drivers_)
      if (d->bus == dev.bus() && dev.bus()->match(dev, *d)) return "driver " + d->name + " registered, not bound";
  if (hooks_.module_for) {
    std::string m = hooks_.module_for(dev);
    if (!m.empty()) return m;
  }
  if (!sources_final_) return "no driver yet; module sources are not final";
  return "no driver for it exists";
}

// --- bind / unbind ---------------------------------------------------------------

Status DriverCore::bind(Device& dev, Driver& drv) {
  std::lock_guard g(lock_);
  if (dev.state_ == DeviceState::bound)
    return make_error(Errc::busy, dev.name() + " is already bound to " + dev.driver_->name);
  if (drv.bus != dev.bus() || !dev.bus()->match(dev, drv))
    return make_error(Errc::nodev, "driver " + drv.name + " does not match device " + dev.name());
  dev.manual_unbind_ = false;
  probe_locked(dev, &drv);
  drain();
  if (dev.state_ == DeviceState::bound) return {};
  if (dev.state_ == DeviceState::deferred)
    return make_error(Errc::probe_defer, dev.name() + " deferred: " + dev.deferred_reason_);
  return make_error(Errc::io, dev.name() + ": " + dev.deferred_reason_);
}

Status DriverCore::unbind(Device& dev) {
  std::lock_guard g(lock_);
  if (dev.state_ != DeviceState::bound) return make_error(Errc::inval, dev.name() + " is not bound to a driver");
  unbind_locked(dev, true, nullptr);
  drain();
  return {};
}

void DriverCore::unbind_locked(Device& dev, bool manual, const Device* because) {
  if (dev.state_ != DeviceState::bound) return;
  // Consumers first (device_links_unbind_consumers()).
  std::vector<Device*> cons;
  for (DeviceLink* l : dev.consumer_links_)
    if (l->state != LinkState::relaxed) {
      l->state = LinkState::supplier_unbind;
      cons.push_back(l->consumer);
    }
  for (Device* c : cons) unbind_locked(*c, false, &dev);
  Driver* drv = dev.driver_;
  {
    // remove() runs even while the owner is unloading: its exit path is
    // what calls us, and the code stays mapped until exit returns.
    OwnerPin pin(drv->owner);
    drv->remove(dev);
  }
  if (hooks_.post_remove) hooks_.post_remove(dev);
  for (auto it = dev.devres_.rbegin(); it != dev.devres_.rend(); ++it) it->second();
  dev.devres_.clear();
  dev.drvdata_.reset();
  dev.driver_ = nullptr;
  ++stats_.unbinds;
  for (DeviceLink* l : dev.consumer_links_)
    if (l->state != LinkState::relaxed) l->state = LinkState::dormant;
  for (DeviceLink* l : dev.supplier_links_)
    if (l->state == LinkState::active) l->state = LinkState::available;
  log_.info(dev.name(), "unbound from driver {}", drv->name);
  if (manual) {
    dev.manual_unbind_ = true;
    dev.state_ = DeviceState::unbound;
  } else if (because) {
    // It comes back by itself when the supplier binds again.
    set_deferred(dev, {WaitKey::device(because)}, "waiting for supplier " + because->name() + " (unbound)");
  } else {
    dev.state_ = DeviceState::unbound;
  }
}

// --- links ---------------------------------------------------------------------

bool DriverCore::would_cycle(const Device& consumer, const Device& supplier,
                             std::vector<const Device*>& path) const {
  // Is `consumer` reachable from `supplier` along supplier edges? Iterative
  // DFS with a visited set: terminates on any graph.
  std::map<const Device*, const Device*> parent;
  std::vector<const Device*> stack{&supplier};
  parent[&supplier] = nullptr;
  while (!stack.empty()) {
    const Device* d = stack.back();
    stack.pop_back();
    if (d == &consumer) {
      for (const Device* p = d; p; p = parent[p]) path.push_back(p);
      std::reverse(path.begin(), path.end());  // supplier ... consumer
      return true;
    }
    for (DeviceLink* l : d->supplier_links_)
      if (!parent.count(l->supplier)) {
        parent[l->supplier] = d;
        stack.push_back(l->supplier);
      }
  }
  return false;
}

Result<DeviceLink*> DriverCore::link_add(Device& consumer, Device& supplier, LinkKind kind, std::string why) {
  std::lock_guard g(lock_);
  if (&consumer == &supplier) return make_error(Errc::loop, "device link from " + consumer.name() + " to itself");
  for (DeviceLink* l : consumer.supplier_links_)
    if (l->supplier == &supplier) {
      if (kind == LinkKind::managed && l->kind == LinkKind::firmware) {
        l->kind = LinkKind::managed;  // a driver's explicit link supersedes the inferred one
        l->why = why;
        if (l->state == LinkState::relaxed)
          l->state = supplier.state_ == DeviceState::bound ? LinkState::available : LinkState::dormant;
      }
      return l;
    }
  std::vector<const Device*> path;
  if (would_cycle(consumer, supplier, path)) {
    std::string chain = consumer.name();
    for (const Device* p : path) chain += " -> " + p->name();
    log_.err(consumer.name(), "device link cycle refused: {} ({})", chain, why);
    return make_error(Errc::loop, "device link cycle: " + chain);
  }
  auto l = std::make_unique<DeviceLink>();
  l->consumer = &consumer;
  l->supplier = &supplier;
  l->kind = kind;
  l->why = std::move(why);
  if (supplier.state_ == DeviceState::bound)
    l->state = consumer.state_ == DeviceState::bound ? LinkState::active : LinkState::available;
  else
    l->state = LinkState::dormant;
  log_.debug(consumer.name(), "linked to supplier {} ({}, {})", supplier.name(), link_kind_name(kind), l->why);
  consumer.supplier_links_.push_back(l.get());
  supplier.consumer_links_.push_back(l.get());
  links_.push_back(std::move(l));
  return links_.back().get();
}

void DriverCore::unlink(DeviceLink* l) {
  std::erase(l->consumer->supplier_links_, l);
  std::erase(l->supplier->consumer_links_, l);
  std::erase_if(links_, [&](auto& p) { return p.get() == l; });
}

void DriverCore::link_del(Device& consumer, Device& supplier) {
  std::lock_guard g(lock_);
  for (DeviceLink* l : std::vector<DeviceLink*>(consumer.supplier_links_))
    if (l->supplier == &supplier) unlink(l);
  if (consumer.state_ == DeviceState::deferred) schedule(consumer);
  drain();
}

std::vector<Device*> DriverCore::suppliers(const Device& consumer) const {
  std::lock_guard g(lock_);
  std::vector<Device*> out;
  for (DeviceLink* l : consumer.supplier_links_) out.push_back(l->supplier);
  return out;
}

std::vector<Device*> DriverCore::consumers(const Device& supplier) const {
  std::lock_guard g(lock_);
  std::vector<Device*> out;
  for (DeviceLink* l : supplier.consumer_links_) out.push_back(l->consumer);
  return out;
}

// --- boot phases ---------------------------------------------------------------

void DriverCore::boot_complete(bool more_sources) {
  std::lock_guard g(lock_);
  if (boot_complete_) return;
  boot_complete_ = true;
  log_.info("", "boot complete (late_initcall): deferred probing enabled");
  if (!more_sources) {
    set_sources_final(true);
  } else if (deferred_timeout_s_ >= 0) {
    const auto at = clock_.now() + static_cast<VirtualClock::Nanos>(deferred_timeout_s_ * kNsPerSec);
    timeout_timer_ = clock_.arm(at, "deferred_probe_timeout", [this] { on_timeout(); });
  }
  kick(WaitKey::event("boot-complete"));
  if (policy_ == DeferredPolicy::linux) linux_trigger();
}

void DriverCore::set_sources_final(bool final) {
  std::lock_guard g(lock_);
  if (sources_final_ == final) return;
  sources_final_ = final;
  if (!final) return;
  if (timeout_timer_) {
    clock_.cancel(timeout_timer_);
    timeout_timer_ = 0;
  }
  log_.info("", "module sources are final: no driver that is not known now can appear");
  kick(WaitKey::event("sources-final"));
  if (policy_ == DeferredPolicy::linux) linux_trigger();
}

void DriverCore::on_timeout() {
  std::lock_guard g(lock_);
  timeout_timer_ = 0;
  if (sources_final_) return;
  log_.warn("", "deferred probe timeout ({} s) expired while module sources were not final: treating them as final",
            deferred_timeout_s_);
  set_sources_final(true);
}

void DriverCore::process() {
  for (;;) {
    std::string alias;
    {
      std::lock_guard w(work_lock_);
      if (autoload_queue_.empty()) return;
      alias = std::move(autoload_queue_.front());
      autoload_queue_.pop_front();
    }
    if (hooks_.request_module) hooks_.request_module(alias);
  }
}

CoreStats DriverCore::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

}  // namespace modiommu
