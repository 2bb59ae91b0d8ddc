// The driver core: buses, devices, drivers, probe, deferral and device links
// (drivers/base/{core,dd,bus}.c in Linux).
//
// Deferral (BEHAVIOUR.md 1). With the targeted policy (default) a deferring
// device records WaitKeys; when the awaited thing changes (a device binds or
// fails, an IOMMU registers, an event fires) only its waiters are retried.
// With the linux policy every successful bind after boot-complete retries the
// whole deferred list, as driver_deferred_probe_trigger() does.
//
// Locking: lock_ is the driver-model lock, rank 1 (outermost) in the lock
// order of docs/architecture.md "Locks". It guards every Device field, the
// driver and link lists and the wait index, and is held across probe() and
// remove() as Linux holds device_lock. It is not recursive: each entry point
// takes it once and works through *_locked helpers. The one re-entry is a
// callout: driver code or a hook the core runs under lock_ (probe, remove,
// pre_probe, post_bind, ...) may call entry points again (add a child, add a
// link), which then run under the hold of the thread already in the core; a
// re-entry that is not from a callout is a bug and aborts. Hooks that can
// load modules (autoload) are queued and run by process() after the lock is
// released, so the module loader's lock is never taken inside lock_. DMA
// never takes lock_. Readers outside the core take snapshot().
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "core/bus.h"
#include "core/device.h"
#include "core/driver.h"
#include "core/link.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/wait.h"

namespace modiommu {

enum class DeferredPolicy { targeted, linux };

// Where the layers above plug in (IOMMU core, module loader).
struct CoreHooks {
  // really_probe()'s dma_configure step: before the driver's probe. May defer
  // (recording waits through dev.defer()) or fail.
  std::function<Status(Device&)> pre_probe;
  // After the driver's remove (dma_cleanup): release the IOMMU etc.
  std::function<void(Device&)> post_remove;
  // After a driver bound the device (its children are populated here).
  std::function<void(Device&)> post_bind;
  // Before a bound device's driver is removed, after its consumers unbound
  // (its populated children are removed here).
  std::function<void(Device&)> pre_unbind;
  // Device added to the system, before its first probe (a bus notifier's
  // BUS_NOTIFY_ADD_DEVICE: the IOMMU core gives PCI devices their groups).
  std::function<void(Device&)> device_added;
  // Device removed from the system.
  std::function<void(Device&)> device_removed;
  // A module in the index that could drive this device, described for
  // people ("module arm-smmu-v3 available, not loaded"), or "" (exact answer).
  std::function<std::string(const Device&)> module_for;
  // Load a module for this alias; queued, run without lock_ held.
  std::function<void(const std::string& alias)> request_module;
};

class MODIOMMU_API DriverCore {
 public:
  DriverCore(Log& log, VirtualClock& clock);
  ~DriverCore();

  void set_policy(DeferredPolicy p) { policy_ = p; }
  DeferredPolicy policy() const { return policy_; }
  CoreHooks& hooks() { return hooks_; }
  // Runs fn with the driver model quiet: no probe, remove, bind, unbind or
  // device removal runs meanwhile, so a bound device stays bound for the
  // call (Linux's device_lock() around a sysfs store). For a subsystem core
  // that walks devices (the IOMMU core) and for calls into a bound driver
  // from outside (a PCI rescan, a DMA endpoint call). Not for reading state:
  // take snapshot().
  Status exclusive(const std::function<Status()>& fn);
  // Every device, link and counter as one consistent value, taken under
  // lock_ (readers: report/, sim/, dsim/). `availability` also fills each
  // device's availability() text (asks the module index: not for hot paths).
  CoreSnapshot snapshot(bool availability = false) const;
  // One device the same way (without availability).
  DeviceSnapshot device_snapshot(const Device& dev) const;

  // --- buses, devices, drivers --------------------------------------------
  void register_bus(Bus* bus);
  Bus* find_bus(const std::string& name) const;
  // device_add(): registers and tries to probe it.
  Device* add_device(std::shared_ptr<Device> dev);
  // device_del(): children and consumers first.
  void remove_device(Device& dev);
  // driver_register(): attaches to every matching unbound device.
  Status register_driver(Driver* drv);
  // driver_unregister(): unbinds its devices (consumers first).
  void unregister_driver(Driver* drv);

  // By name, device-tree node name or full path; null when none, or when
  // the name is ambiguous (two nodes dma@1000 under two buses).
  Device* find_device(std::string_view name) const;
  // The same, with an error that says which: none, or the full paths of
  // every device an ambiguous name matches.
  Result<Device*> resolve_device(std::string_view name) const;
  Device* find_device_by_fwnode(const void* node) const;
  // Is some device called exactly `name`? (device names are made unique)
  bool name_in_use(std::string_view name) const;
  // Every device of a firmware node, in the order they were added: the
  // node's own device first, then devices its driver created for the same
  // node (a virtio device behind its transport shares the transport's node).
  std::vector<Device*> fwnode_devices(const void* node) const;
  Driver* find_driver(std::string_view name) const;
  std::vector<Device*> devices() const;
  std::vector<Driver*> drivers() const;
  std::vector<DeviceLink> links() const;
  std::vector<Device*> children(const Device& parent) const;

  // --- bind / unbind --------------------------------------------------------
  // sysfs bind: probe `dev` with `drv` now.
  Status bind(Device& dev, Driver& drv);
  // sysfs unbind: consumers first; the device stays unbound until bound again.
  Status unbind(Device& dev);
  // Retry a device now (e.g. after something it waits on changed).
  void probe_device(Device& dev);
  // Unbind `dev` if bound and make it wait for `supplier` to bind (again):
  // a device that fell back to running without its IOMMU is moved under it
  // this way once the IOMMU registers. Relaxed links to `supplier` are
  // enforced again.
  void requeue_after(Device& dev, Device& supplier, std::string reason);
  // The deferred reason with the live state of what it waits for appended
  // ("waiting for supplier 9050000.iommu (iommus): module arm-smmu-v3
  // available, not loaded"). Use this, not Device::deferred_reason(), for people.
  std::string reason(const Device& dev) const;

  // --- device links -----------------------------------------------------------
  // device_link_add(). A link that would close a cycle is refused (ELOOP)
  // with the cycle named, never followed.
  Result<DeviceLink*> link_add(Device& consumer, Device& supplier, LinkKind kind, std::string why);
  void link_del(Device& consumer, Device& supplier);
  std::vector<Device*> suppliers(const Device& consumer) const;
  std::vector<Device*> consumers(const Device& supplier) const;

  // --- deferral -----------------------------------------------------------------
  // Something changed: retry whoever waits for it.
  void kick(const WaitKey& key);
  // Deferred devices with their reasons (debugfs devices_deferred).
  std::vector<std::pair<Device*, std::string>> deferred() const;
  // Can a driver still bind `dev`? (bound, a registered driver matches, a
  // module may provide one, or module sources are not final yet)
  bool driver_may_appear(const Device& dev) const;
  // Human text for why a supplier can or cannot still bind.
  std::string availability(const Device& dev) const;

  // --- boot phases ------------------------------------------------------------
  // late_initcall: deferred probing (linux policy) is enabled; module sources
  // become final unless `more_sources` says a later module directory comes.
  void boot_complete(bool more_sources = false);
  bool boot_completed() const { return boot_complete_; }
  void set_sources_final(bool final);
  bool sources_final() const { return sources_final_; }
  // Backstop (--deferred-timeout, virtual seconds; <0 = never): when it fires
  // while sources are still not final, they are treated as final.
  void set_deferred_timeout(double seconds) { deferred_timeout_s_ = seconds; }
  double deferred_timeout() const { return deferred_timeout_s_; }

  // While held, added devices are queued instead of probed (populate a whole
  // tree, then add its firmware links, then probe).
  void hold_probes();
  void release_probes();

  // Runs queued work (autoload requests) outside lock_. Call after every
  // top-level operation; returns when nothing is left.
  void process();

  CoreStats stats() const;

 private:
  void probe_locked(Device& dev, Driver* only);
  Status really_probe(Device& dev, Driver& drv);
  bool check_suppliers(Device& dev);
  void unbind_locked(Device& dev, bool manual, const Device* because);
  void driver_bound(Device& dev);
  void set_deferred(Device& dev, std::vector<WaitKey> waits, std::string reason);
  void clear_waits(Device& dev);
  void drain();
  void run_retry_queue();
  void linux_trigger();
  void schedule(Device& dev);
  bool declined_by_all(const Device& dev) const;
  bool would_cycle(const Device& consumer, const Device& supplier, std::vector<const Device*>& path) const;
  void on_timeout();
  std::vector<Device*> lookup_locked(std::string_view name) const;

  // lock_ held by this thread already: a re-entry from a callout.
  class Guard;
  // Marks a call out of the core under lock_ (driver code, a hook, a timer):
  // entry points it calls run under the caller's hold.
  class Callout;
  void remove_device_locked(Device& dev);
  std::vector<Device*> children_locked(const Device& parent) const;
  void kick_locked(const WaitKey& key);
  std::string reason_locked(const Device& dev) const;
  bool driver_may_appear_locked(const Device& dev) const;
  std::string availability_locked(const Device& dev) const;
  void set_sources_final_locked(bool final);
  // A registered driver on dev's bus matches it (and, with skip_declined,
  // has not said "not mine" to it).
  bool driver_matches(const Device& dev, const Driver& drv, bool skip_declined) const;
  Driver* first_match_locked(const Device& dev, bool skip_declined) const;
  // devm_* release, newest first, and the driver data (devres_release_all()).
  void devres_release_all(Device& dev);
  DeviceSnapshot device_snapshot_locked(const Device& dev, bool availability) const;

  Log& log_;
  VirtualClock& clock_;
  DeferredPolicy policy_ = DeferredPolicy::targeted;
  CoreHooks hooks_;
  mutable std::mutex lock_;  // rank 1, docs/architecture.md "Locks"
  mutable std::atomic<std::thread::id> owner_{};  // the thread holding lock_
  mutable int callouts_ = 0;  // callouts in progress on owner_ (guarded by lock_)

  std::vector<Bus*> buses_;
  // Indexes: every lookup and removal is O(log n), never a scan of all
  // devices (10^5 devices boot in seconds). Devices are keyed by their add
  // sequence, so iterating devices_ gives add order.
  using BySeq = std::map<uint64_t, Device*>;
  std::map<uint64_t, std::shared_ptr<Device>> devices_;
  std::map<const Device*, uint64_t> seq_;
  uint64_t next_seq_ = 0;
  std::map<std::string, BySeq, std::less<>> by_name_;       // Device::name()
  std::map<std::string, BySeq, std::less<>> by_node_name_;  // fwnode name ("dma@10000000")
  std::map<std::string, BySeq, std::less<>> by_fwpath_;     // fwnode path ("/soc/dma@10000000")
  std::map<std::string, BySeq, std::less<>> by_path_;       // Device::path() where not the fwnode path
  std::map<const Device*, BySeq> children_;                 // parent -> children
  std::vector<Driver*> drivers_;
  std::map<uint64_t, std::unique_ptr<DeviceLink>> links_;  // by DeviceLink::seq
  uint64_t next_link_seq_ = 0;
  std::map<const void*, std::vector<Device*>> by_fwnode_;  // in add order
  void unlink(DeviceLink* l);
  void index_device(Device& dev, uint64_t seq, bool add);

  // targeted: WaitKey -> waiters (by add sequence, so retries are ordered)
  std::map<WaitKey, std::map<uint64_t, Device*>> waiters_;
  std::map<uint64_t, Device*> retry_queue_;
  bool draining_ = false;
  int hold_ = 0;
  // linux: the deferred list in deferral order
  std::deque<Device*> linux_pending_;
  bool linux_triggered_ = false;

  bool boot_complete_ = false;
  bool sources_final_ = false;
  double deferred_timeout_s_ = 10.0;
  uint64_t timeout_timer_ = 0;

  std::mutex work_lock_;  // guards autoload_queue_ only; a leaf (docs/architecture.md "Locks")
  std::deque<std::string> autoload_queue_;

  CoreStats stats_;
};

}  // namespace modiommu
