#include "core/driver_core.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/fault_inject.h"
#include "core/owner.h"
#include "of/tree.h"

namespace modiommu {

// lock_ once per entry point (see driver_core.h): a thread that already
// holds it is inside a callout and runs under that hold.
class DriverCore::Guard {
 public:
  explicit Guard(const DriverCore& c) : c_(c) {
    if (c.owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
      if (c.callouts_ == 0) {
        std::fputs("modiommu: the driver-model lock was re-entered outside a callout\n", stderr);
        std::abort();
      }
      return;
    }
    c.lock_.lock();
    c.owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    took_ = true;
  }
  ~Guard() {
    if (!took_) return;
    c_.owner_.store(std::thread::id{}, std::memory_order_relaxed);
    c_.lock_.unlock();
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  const DriverCore& c_;
  bool took_ = false;
};

class DriverCore::Callout {
 public:
  explicit Callout(const DriverCore& c) : c_(c) { ++c_.callouts_; }
  ~Callout() { --c_.callouts_; }
  Callout(const Callout&) = delete;
  Callout& operator=(const Callout&) = delete;

 private:
  const DriverCore& c_;
};

DriverCore::DriverCore(Log& log, VirtualClock& clock) : log_(log), clock_(clock) {}

DriverCore::~DriverCore() {
  if (timeout_timer_) clock_.cancel(timeout_timer_);
}

void DriverCore::register_bus(Bus* bus) {
  Guard g(*this);
  buses_.push_back(bus);
}

Bus* DriverCore::find_bus(const std::string& name) const {
  Guard g(*this);
  for (Bus* b : buses_)
    if (b->name() == name) return b;
  return nullptr;
}

// --- devices -------------------------------------------------------------------

Device* DriverCore::add_device(std::shared_ptr<Device> dev) {
  Guard g(*this);
  Device* d = dev.get();
  const uint64_t seq = next_seq_++;
  seq_[d] = seq;
  devices_.emplace(seq, std::move(dev));
  index_device(*d, seq, true);
  if (d->fwnode()) by_fwnode_[d->fwnode()].push_back(d);
  log_.debug(d->name(), "device added ({})", d->path());
  if (hooks_.device_added) {
    Callout c(*this);
    hooks_.device_added(*d);
  }
  kick_locked(WaitKey::fwnode(d->fwnode()));
  if (!d->bus()) return d;
  if (!first_match_locked(*d, false) && hooks_.request_module) {
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
  Guard g(*this);
  ++hold_;
}

void DriverCore::release_probes() {
  Guard g(*this);
  if (--hold_ == 0) drain();
}

void DriverCore::remove_device(Device& dev) {
  Guard g(*this);
  remove_device_locked(dev);
}

void DriverCore::remove_device_locked(Device& dev) {
  if (dev.removed_) return;
  for (Device* c : children_locked(dev)) remove_device_locked(*c);
  if (dev.state_ == DeviceState::bound) unbind_locked(dev, false, nullptr);
  clear_waits(dev);
  retry_queue_.erase(seq_[&dev]);
  std::erase(linux_pending_, &dev);
  std::vector<Device*> orphans;
  while (!dev.consumer_links_.empty()) {
    DeviceLink* l = dev.consumer_links_.begin()->second;
    orphans.push_back(l->consumer);
    unlink(l);
  }
  while (!dev.supplier_links_.empty()) unlink(dev.supplier_links_.begin()->second);
  if (dev.fwnode()) {
    auto f = by_fwnode_.find(dev.fwnode());
    if (f != by_fwnode_.end()) {
      std::erase(f->second, &dev);
      if (f->second.empty()) by_fwnode_.erase(f);
    }
  }
  if (hooks_.device_removed) {
    Callout c(*this);
    hooks_.device_removed(dev);
  }
  dev.removed_ = true;
  log_.info(dev.name(), "device removed");
  // Keep the object alive for this call; the shared_ptr owners elsewhere
  // (DMA threads) may keep it longer.
  std::shared_ptr<Device> keep;
  if (auto s = seq_.find(&dev); s != seq_.end()) {
    index_device(dev, s->second, false);
    auto it = devices_.find(s->second);
    keep = std::move(it->second);
    devices_.erase(it);
    seq_.erase(s);
  }
  kick_locked(WaitKey::device(&dev));
  for (Device* c : orphans)
    if (!c->removed_ && c->state_ != DeviceState::bound) schedule(*c);
  drain();
}

std::vector<Device*> DriverCore::children(const Device& parent) const {
  Guard g(*this);
  return children_locked(parent);
}

std::vector<Device*> DriverCore::children_locked(const Device& parent) const {
  std::vector<Device*> out;
  auto it = children_.find(&parent);
  if (it != children_.end())
    for (auto& [seq, d] : it->second) out.push_back(d);
  return out;
}

void DriverCore::index_device(Device& dev, uint64_t seq, bool add) {
  auto put = [&](auto& index, const auto& key) {
    if (add) {
      index[key].emplace(seq, &dev);
      return;
    }
    auto it = index.find(key);
    if (it == index.end()) return;
    it->second.erase(seq);
    if (it->second.empty()) index.erase(it);
  };
  put(by_name_, dev.name());
  std::string fwpath;
  if (dev.fwnode()) {
    fwpath = dev.fwnode()->path();
    put(by_node_name_, dev.fwnode()->name());
    put(by_fwpath_, fwpath);
  }
  if (std::string p = dev.path(); !dev.fwnode() || p != fwpath) put(by_path_, p);
  put(children_, static_cast<const Device*>(dev.parent()));
}

// The devices `name` names, at the first level that has any: device
// names, then node names or paths, then bus paths. More than one is an
// ambiguous name; a second device of the same node (virtio behind its
// transport) is not a second match. Index lookups, in add order.
std::vector<Device*> DriverCore::lookup_locked(std::string_view name) const {
  std::vector<Device*> out;
  auto all = [&](const auto& index) {
    auto it = index.find(name);
    if (it == index.end()) return;
    for (const auto& entry : it->second) {
      Device* d = entry.second;  // not a structured binding: clang 14 cannot capture those
      if (!d->fwnode() || std::none_of(out.begin(), out.end(), [&](Device* o) { return o->fwnode() == d->fwnode(); }))
        out.push_back(d);
    }
  };
  all(by_name_);
  if (!out.empty()) return out;
  all(by_node_name_);
  all(by_fwpath_);
  if (!out.empty()) return out;
  all(by_path_);
  return out;
}

Device* DriverCore::find_device(std::string_view name) const {
  Guard g(*this);
  auto m = lookup_locked(name);
  return m.size() == 1 ? m.front() : nullptr;
}

Result<Device*> DriverCore::resolve_device(std::string_view name) const {
  Guard g(*this);
  auto m = lookup_locked(name);
  if (m.empty()) return make_error(Errc::noent, fmt::format("no device named '{}' (see lsdev)", name));
  if (m.size() > 1) {
    std::vector<std::string> paths;
    for (Device* d : m) paths.push_back(d->fwnode() ? d->fwnode()->path() : d->path());
    return make_error(Errc::inval, fmt::format("'{}' is ambiguous: it names {} devices ({}); give the full path", name,
                                               m.size(), fmt::join(paths, ", ")));
  }
  return m.front();
}

bool DriverCore::name_in_use(std::string_view name) const {
  Guard g(*this);
  return by_name_.find(name) != by_name_.end();
}

Device* DriverCore::find_device_by_fwnode(const void* node) const {
  Guard g(*this);
  auto it = by_fwnode_.find(node);
  return it == by_fwnode_.end() ? nullptr : it->second.front();
}

std::vector<Device*> DriverCore::fwnode_devices(const void* node) const {
  Guard g(*this);
  auto it = by_fwnode_.find(node);
  return it == by_fwnode_.end() ? std::vector<Device*>{} : it->second;
}

Driver* DriverCore::find_driver(std::string_view name) const {
  Guard g(*this);
  for (Driver* d : drivers_)
    if (d->name == name) return d;
  return nullptr;
}

std::vector<Device*> DriverCore::devices() const {
  Guard g(*this);
  std::vector<Device*> out;
  out.reserve(devices_.size());
  for (auto& [seq, d] : devices_) out.push_back(d.get());
  return out;
}

std::vector<Driver*> DriverCore::drivers() const {
  Guard g(*this);
  return drivers_;
}

std::vector<DeviceLink> DriverCore::links() const {
  Guard g(*this);
  std::vector<DeviceLink> out;
  for (auto& [seq, l] : links_) out.push_back(*l);
  return out;
}

// --- drivers -----------------------------------------------------------------

Status DriverCore::register_driver(Driver* drv) {
  Guard g(*this);
  if (!drv->bus) return make_error(Errc::inval, "driver '" + drv->name + "' has no bus");
  for (Driver* d : drivers_)
    if (d->name == drv->name) return make_error(Errc::exist, "driver '" + drv->name + "' is already registered");
  drivers_.push_back(drv);
  log_.debug("", "driver {} registered on bus {}", drv->name, drv->bus->name());
  // driver_attach(): devices that had no driver, or whose probe failed, get
  // a try. Deferred ones already have a driver and wait for something known.
  std::vector<Device*> cands;
  for (auto& [seq, d] : devices_)
    if (!d->manual_unbind_ && (d->state_ == DeviceState::unbound || d->state_ == DeviceState::failed) &&
        driver_matches(*d, *drv, false))
      cands.push_back(d.get());
  for (Device* d : cands) {
    if (hold_ > 0) retry_queue_[seq_[d]] = d;
    else probe_locked(*d, nullptr);
  }
  drain();
  return {};
}

void DriverCore::unregister_driver(Driver* drv) {
  Guard g(*this);
  // driver_detach(): newest device first, each one's consumers before it.
  std::vector<Device*> bound;
  for (auto& [seq, d] : devices_)
    if (d->driver_ == drv) bound.push_back(d.get());
  for (auto it = bound.rbegin(); it != bound.rend(); ++it)
    if ((*it)->driver_ == drv) unbind_locked(**it, false, nullptr);
  // Deferred devices whose pending probe was this driver's go back to waiting for a driver.
  for (auto& [seq, d] : devices_) {
    if (d->state_ == DeviceState::deferred && d->driver_ == drv) d->driver_ = nullptr;
    std::erase(d->declined_, drv);  // the same object may register again: a fresh chance
  }
  std::erase(drivers_, drv);
  log_.debug("", "driver {} unregistered", drv->name);
  drain();
}

// --- probe ---------------------------------------------------------------------

void DriverCore::probe_device(Device& dev) {
  Guard g(*this);
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
      if (driver_matches(dev, *d, true)) cands.push_back(d);
  clear_waits(dev);
  if (cands.empty()) {  // no driver, or every driver here already said "not mine"
    dev.state_ = DeviceState::unbound;
    dev.deferred_reason_.clear();
    return;
  }
  ++dev.probe_attempts_;
  ++stats_.probe_attempts;
  {
    Callout c(*this);  // timers (the deferred-probe timeout) fire here
    clock_.advance(10'000);  // a probe attempt's virtual cost: keeps log order readable
  }
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
    if (s.error().code == Errc::nodev) {  // "not mine": try the next driver
      log_.debug(dev.name(), "driver {} declined it: {}", drv->name, s.error().message);
      if (std::find(dev.declined_.begin(), dev.declined_.end(), drv) == dev.declined_.end())
        dev.declined_.push_back(drv);
      dev.declined_why_ = s.error().message;
      continue;
    }
    dev.state_ = DeviceState::failed;
    dev.deferred_reason_ = s.error().str();
    log_.err(dev.name(), "probe with driver {} failed: {}", drv->name, s.error().str());
    kick_locked(WaitKey::device(&dev));  // waiters learn it can no longer bind
    return;
  }
  dev.state_ = DeviceState::unbound;
  // No driver took it: whoever waits on it decides now whether anything
  // else can still bind it (BEHAVIOUR.md 1), instead of waiting forever.
  if (!fault_point("core.skip_unbound_kick")) kick_locked(WaitKey::device(&dev));
}

Status DriverCore::really_probe(Device& dev, Driver& drv) {
  OwnerPin pin(drv.owner);
  if (!pin.ok()) return make_error(Errc::nodev, "module " + drv.owner->owner_name() + " is going away");
  dev.driver_ = &drv;
  dev.pending_waits_.clear();
  dev.pending_reason_.clear();
  Callout c(*this);
  if (hooks_.pre_probe) {
    Status s = hooks_.pre_probe(dev);
    if (!s.ok()) {
      dev.driver_ = nullptr;
      return s;
    }
  }
  Status s = drv.probe(dev);
  if (!s.ok()) {
    devres_release_all(dev);
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
  for (auto& [n, l] : dev.supplier_links_)
    if (l->state != LinkState::relaxed) l->state = LinkState::active;
  for (auto& [n, l] : dev.consumer_links_)
    if (l->state == LinkState::dormant) l->state = LinkState::available;
  log_.info(dev.name(), "bound to driver {}", dev.driver_->name);
  if (hooks_.post_bind) {
    Callout c(*this);
    hooks_.post_bind(dev);
  }
  if (policy_ == DeferredPolicy::targeted) {
    kick_locked(WaitKey::device(&dev));
    kick_locked(WaitKey::any_bind());
  } else {
    linux_trigger();
  }
}

bool DriverCore::check_suppliers(Device& dev) {
  std::vector<WaitKey> waits;
  std::string reason;
  for (auto& [n, l] : dev.supplier_links_) {
    if (l->state == LinkState::relaxed) continue;
    Device& s = *l->supplier;
    if (s.state_ == DeviceState::bound) continue;
    if (l->kind == LinkKind::firmware && !driver_may_appear_locked(s)) {
      l->state = LinkState::relaxed;
      log_.warn(dev.name(), "supplier {} ({}) can never bind: {}; probing without it", s.name(), l->why,
                availability_locked(s));
      continue;
    }
    waits.push_back(WaitKey::device(&s));
    if (!sources_final_) waits.push_back(WaitKey::event(WaitEvent::sources_final));
    if (reason.empty()) reason = "waiting for supplier " + s.name() + " (" + l->why + ")";
  }
  if (waits.empty()) return true;
  set_deferred(dev, std::move(waits), std::move(reason));
  return false;
}

// --- deferral ------------------------------------------------------------------

const char* wait_event_name(WaitEvent e) {
  switch (e) {
    case WaitEvent::boot_complete: return "boot-complete";
    case WaitEvent::sources_final: return "sources-final";
  }
  return "?";
}

void Device::record_wait(WaitKey key) { pending_waits_.push_back(key); }

Error Device::defer(WaitKey key, std::string reason) {
  record_wait(key);
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
  Guard g(*this);
  kick_locked(key);
}

void DriverCore::kick_locked(const WaitKey& key) {
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
  Guard g(*this);
  std::vector<std::pair<Device*, std::string>> out;
  for (auto& [seq, d] : devices_)
    if (d->state_ == DeviceState::deferred) out.emplace_back(d.get(), reason_locked(*d));
  return out;
}

std::string DriverCore::reason(const Device& dev) const {
  Guard g(*this);
  return reason_locked(dev);
}

std::string DriverCore::reason_locked(const Device& dev) const {
  if (dev.state_ != DeviceState::deferred) return dev.deferred_reason_;
  for (const auto& w : dev.waits_)
    if (w.kind == WaitKey::Kind::device) {
      auto s = seq_.find(static_cast<const Device*>(w.ptr));
      if (s != seq_.end()) return dev.deferred_reason_ + ": " + availability_locked(*devices_.at(s->second));
      return dev.deferred_reason_ + ": it was removed";
    }
  return dev.deferred_reason_;
}

void DriverCore::requeue_after(Device& dev, Device& supplier, std::string why) {
  Guard g(*this);
  for (auto& [n, l] : dev.supplier_links_)
    if (l->supplier == &supplier && l->state == LinkState::relaxed) l->state = LinkState::dormant;
  // Unbound by hand: it stays unbound; a later bind goes under the IOMMU.
  if (dev.manual_unbind_ && dev.state_ != DeviceState::bound) return;
  if (dev.state_ == DeviceState::bound) unbind_locked(dev, false, nullptr);
  clear_waits(dev);
  set_deferred(dev, {WaitKey::device(&supplier)}, std::move(why));
  if (supplier.state_ == DeviceState::bound) schedule(dev);
  drain();
}

bool DriverCore::driver_matches(const Device& dev, const Driver& drv, bool skip_declined) const {
  if (!dev.bus() || drv.bus != dev.bus() || !dev.bus()->match(dev, drv)) return false;
  return !skip_declined || std::find(dev.declined_.begin(), dev.declined_.end(), &drv) == dev.declined_.end();
}

Driver* DriverCore::first_match_locked(const Device& dev, bool skip_declined) const {
  for (Driver* d : drivers_)
    if (driver_matches(dev, *d, skip_declined)) return d;
  return nullptr;
}

// Every registered driver that matches `dev` declined it ("not mine").
bool DriverCore::declined_by_all(const Device& dev) const {
  if (!dev.bus() || dev.declined_.empty()) return false;
  return !first_match_locked(dev, true);
}

bool DriverCore::driver_may_appear(const Device& dev) const {
  Guard g(*this);
  return driver_may_appear_locked(dev);
}

bool DriverCore::driver_may_appear_locked(const Device& dev) const {
  if (dev.state_ == DeviceState::bound || dev.state_ == DeviceState::deferred) return true;
  if (dev.state_ == DeviceState::failed) return false;
  if (first_match_locked(dev, true)) return true;
  if (hooks_.module_for) {
    Callout c(*this);
    if (!hooks_.module_for(dev).empty()) return true;
  }
  return !sources_final_;
}

std::string DriverCore::availability(const Device& dev) const {
  Guard g(*this);
  return availability_locked(dev);
}

std::string DriverCore::availability_locked(const Device& dev) const {
  switch (dev.state_) {
    case DeviceState::bound: return "bound to " + dev.driver_->name;
    case DeviceState::deferred: return "itself deferred (" + dev.deferred_reason_ + ")";
    case DeviceState::failed: return "its probe failed (" + dev.deferred_reason_ + ")";
    case DeviceState::unbound: break;
  }
  if (dev.manual_unbind_) return "unbound by hand";
  if (const Driver* d = first_match_locked(dev, true)) return "driver " + d->name + " registered, not bound";
  std::string declined;
  if (declined_by_all(dev)) {
    for (const Driver* d : dev.declined_) declined += (declined.empty() ? "" : ", ") + d->name;
    declined = "driver " + declined + " declined it (" + dev.declined_why_ + ")";
  }
  if (hooks_.module_for) {
    Callout c(*this);
    std::string m = hooks_.module_for(dev);
    if (!m.empty()) return declined.empty() ? m : declined + "; " + m;
  }
  if (!sources_final_) return declined.empty() ? "no driver yet; module sources are not final"
                                               : declined + "; module sources are not final";
  return declined.empty() ? "no driver for it exists" : declined + "; no other driver for it exists";
}

// --- bind / unbind ---------------------------------------------------------------

Status DriverCore::bind(Device& dev, Driver& drv) {
  Guard g(*this);
  if (dev.state_ == DeviceState::bound)
    return make_error(Errc::busy, dev.name() + " is already bound to " + dev.driver_->name);
  if (!driver_matches(dev, drv, false))
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
  Guard g(*this);
  if (dev.state_ != DeviceState::bound) return make_error(Errc::inval, dev.name() + " is not bound to a driver");
  unbind_locked(dev, true, nullptr);
  drain();
  return {};
}

void DriverCore::unbind_locked(Device& dev, bool manual, const Device* because) {
  if (dev.state_ != DeviceState::bound) return;
  // Consumers first (device_links_unbind_consumers()). One at a time, from
  // the live list in link order: unbinding one may remove another (a parent
  // depopulates its children), together with its link.
  for (auto& [n, l] : dev.consumer_links_)
    if (l->state != LinkState::relaxed) l->state = LinkState::supplier_unbind;
  for (uint64_t from = 0;;) {
    auto it = dev.consumer_links_.lower_bound(from);
    while (it != dev.consumer_links_.end() &&
           !(it->second->state == LinkState::supplier_unbind && it->second->consumer->state_ == DeviceState::bound))
      ++it;
    if (it == dev.consumer_links_.end()) break;
    from = it->first + 1;
    unbind_locked(*it->second->consumer, false, &dev);
  }
  Driver* drv = dev.driver_;
  {
    Callout c(*this);
    // Children its driver populated go before it (of_platform_depopulate in remove()).
    if (hooks_.pre_unbind) hooks_.pre_unbind(dev);
    {
      // remove() runs even while the owner is unloading: its exit path is
      // what calls us, and the code stays mapped until exit returns.
      OwnerPin pin(drv->owner);
      drv->remove(dev);
    }
    if (hooks_.post_remove) hooks_.post_remove(dev);
    devres_release_all(dev);
  }
  dev.driver_ = nullptr;
  ++stats_.unbinds;
  for (auto& [n, l] : dev.consumer_links_)
    if (l->state != LinkState::relaxed) l->state = LinkState::dormant;
  for (auto& [n, l] : dev.supplier_links_)
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
    for (auto& [n, l] : d->supplier_links_)
      if (!parent.count(l->supplier)) {
        parent[l->supplier] = d;
        stack.push_back(l->supplier);
      }
  }
  return false;
}

Result<DeviceLink*> DriverCore::link_add(Device& consumer, Device& supplier, LinkKind kind, std::string why) {
  Guard g(*this);
  if (&consumer == &supplier) return make_error(Errc::loop, "device link from " + consumer.name() + " to itself");
  for (auto& [n, l] : consumer.supplier_links_)
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
  l->seq = next_link_seq_++;
  DeviceLink* out = l.get();
  consumer.supplier_links_.emplace(out->seq, out);
  supplier.consumer_links_.emplace(out->seq, out);
  links_.emplace(out->seq, std::move(l));
  return out;
}

void DriverCore::unlink(DeviceLink* l) {
  l->consumer->supplier_links_.erase(l->seq);
  l->supplier->consumer_links_.erase(l->seq);
  links_.erase(l->seq);  // frees l
}

void DriverCore::link_del(Device& consumer, Device& supplier) {
  Guard g(*this);
  std::vector<DeviceLink*> gone;
  for (auto& [n, l] : consumer.supplier_links_)
    if (l->supplier == &supplier) gone.push_back(l);
  for (DeviceLink* l : gone) unlink(l);
  if (consumer.state_ == DeviceState::deferred) schedule(consumer);
  drain();
}

std::vector<Device*> DriverCore::suppliers(const Device& consumer) const {
  Guard g(*this);
  std::vector<Device*> out;
  for (auto& [n, l] : consumer.supplier_links_) out.push_back(l->supplier);
  return out;
}

std::vector<Device*> DriverCore::consumers(const Device& supplier) const {
  Guard g(*this);
  std::vector<Device*> out;
  for (auto& [n, l] : supplier.consumer_links_) out.push_back(l->consumer);
  return out;
}

// --- boot phases ---------------------------------------------------------------

void DriverCore::boot_complete(bool more_sources) {
  Guard g(*this);
  if (boot_complete_) return;
  boot_complete_ = true;
  log_.info("", "boot complete (late_initcall): deferred probing enabled");
  if (!more_sources) {
    set_sources_final_locked(true);
  } else if (deferred_timeout_s_ >= 0) {
    const auto at = add_saturating(clock_.now(), seconds_to_nanos(deferred_timeout_s_));
    timeout_timer_ = clock_.arm(at, "deferred_probe_timeout", [this] { on_timeout(); });
  }
  kick_locked(WaitKey::event(WaitEvent::boot_complete));
  if (policy_ == DeferredPolicy::linux) linux_trigger();
}

void DriverCore::set_sources_final(bool final) {
  Guard g(*this);
  set_sources_final_locked(final);
}

void DriverCore::set_sources_final_locked(bool final) {
  if (sources_final_ == final) return;
  sources_final_ = final;
  if (!final) return;
  if (timeout_timer_) {
    clock_.cancel(timeout_timer_);
    timeout_timer_ = 0;
  }
  log_.info("", "module sources are final: no driver that is not known now can appear");
  kick_locked(WaitKey::event(WaitEvent::sources_final));
  if (policy_ == DeferredPolicy::linux) linux_trigger();
}

void DriverCore::on_timeout() {
  Guard g(*this);
  timeout_timer_ = 0;
  if (sources_final_) return;
  log_.warn("", "deferred probe timeout ({} s) expired while module sources were not final: treating them as final",
            deferred_timeout_s_);
  set_sources_final_locked(true);
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

void DriverCore::devres_release_all(Device& dev) {
  for (auto it = dev.devres_.rbegin(); it != dev.devres_.rend(); ++it) it->second();
  dev.devres_.clear();
  dev.drvdata_.reset();
}

Status DriverCore::exclusive(const std::function<Status()>& fn) {
  Guard g(*this);
  Callout c(*this);  // fn may call entry points (a rescan adds devices)
  return fn();
}

DeviceSnapshot DriverCore::device_snapshot_locked(const Device& d, bool availability) const {
  DeviceSnapshot s;
  s.state = d.state_;
  if (d.state_ == DeviceState::bound && d.driver_) {
    s.driver = d.driver_->name;
    s.bound_driver = d.driver_;
    if (d.driver_->owner) s.driver_module = d.driver_->owner->owner_name();
  }
  if (d.state_ == DeviceState::deferred || d.state_ == DeviceState::failed) s.reason = reason_locked(d);
  if (availability) {
    s.availability = availability_locked(d);
    s.may_appear = driver_may_appear_locked(d);
  }
  s.waits = d.waits_;
  s.probe_attempts = d.probe_attempts_;
  s.manual_unbind = d.manual_unbind_;
  s.populated_by_parent = d.populated_by_parent_;
  return s;
}

DeviceSnapshot DriverCore::device_snapshot(const Device& dev) const {
  Guard g(*this);
  DeviceSnapshot s = device_snapshot_locked(dev, false);
  if (auto it = seq_.find(&dev); it != seq_.end()) s.dev = devices_.at(it->second);
  return s;
}

CoreSnapshot DriverCore::snapshot(bool availability) const {
  Guard g(*this);
  CoreSnapshot out;
  out.devices.reserve(devices_.size());
  for (const auto& entry : devices_) {
    out.devices.push_back(device_snapshot_locked(*entry.second, availability));
    out.devices.back().dev = entry.second;
  }
  for (const auto& entry : links_) out.links.push_back(*entry.second);
  out.drivers.assign(drivers_.begin(), drivers_.end());
  out.stats = stats_;
  out.boot_complete = boot_complete_;
  out.sources_final = sources_final_;
  out.index();
  return out;
}

CoreStats DriverCore::stats() const {
  Guard g(*this);
  return stats_;
}

}  // namespace modiommu
