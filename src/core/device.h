// struct device: a node of the driver model.
//
// Locking: a Device's mutable fields are guarded by DriverCore::lock_ (the
// driver-model lock); readers outside the core take a snapshot through
// DriverCore. Driver code runs under that lock during probe/remove, as Linux
// runs probe under device_lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/api.h"
#include "core/wait.h"

namespace modiommu {

namespace of {
class Node;
}
class Bus;
class Driver;
class DriverCore;
struct DeviceLink;

enum class DeviceState { unbound, deferred, bound, failed };
MODIOMMU_API const char* device_state_name(DeviceState s);

class MODIOMMU_API Device {
 public:
  Device(std::string name, Bus* bus, const of::Node* fwnode, Device* parent)
      : name_(std::move(name)), bus_(bus), fwnode_(fwnode), parent_(parent) {}
  virtual ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const std::string& name() const { return name_; }
  Bus* bus() const { return bus_; }
  const of::Node* fwnode() const { return fwnode_; }
  Device* parent() const { return parent_; }
  // Device-tree path, or the bus's own address form (PCI BDF).
  virtual std::string path() const;
  // Compatible strings (from the firmware node, or bus-specific).
  virtual std::vector<std::string> compatible() const;

  DeviceState state() const { return state_; }
  Driver* driver() const { return driver_; }
  const std::string& deferred_reason() const { return deferred_reason_; }
  const std::vector<WaitKey>& waits() const { return waits_; }
  uint64_t probe_attempts() const { return probe_attempts_; }

  // dev_err_probe() with a target: called by a probe (or by a core hook
  // during probe) to say what it waits for. Returns the EPROBE_DEFER error to
  // return from probe.
  struct Error defer(WaitKey key, std::string reason);
  // One more thing the probe that is about to defer waits for, when it
  // waits for several: the last one is given to defer() with the reason.
  void record_wait(WaitKey key);

  // devm_*: released in reverse order when the driver unbinds or probe fails.
  void devm_add(std::string what, std::function<void()> release);
  size_t devm_count() const { return devres_.size(); }

  // Driver's private data (dev_set_drvdata), owned by the device while bound.
  void set_drvdata(std::shared_ptr<void> data) { drvdata_ = std::move(data); }
  template <class T>
  T* drvdata() const { return static_cast<T*>(drvdata_.get()); }

  // Per-subsystem attachments (IOMMU fwspec, PCI config, ...), owned here.
  struct Attachment {
    virtual ~Attachment() = default;
  };
  std::shared_ptr<Attachment> iommu_data;  // the IOMMU core's per-device state
  // dev->dma_mask: the highest address the device can emit (dma_set_mask).
  uint64_t dma_mask = ~uint64_t{0};

  // A device added by hand with no autoprobe (e.g. user unbound it) stays
  // unbound until `bind` or re-add.
  bool manual_unbind() const { return manual_unbind_; }
  // Created by its parent's driver (of_platform_populate from a probe), not
  // by the bus walk at boot; removed when that parent unbinds.
  bool populated_by_parent() const { return populated_by_parent_; }
  void set_populated_by_parent() { populated_by_parent_ = true; }
  // driver_override: when set, only the driver of this name matches (how a
  // parent driver binds a device it made for a node with no compatible).
  const std::string& driver_override() const { return driver_override_; }
  void set_driver_override(std::string name) { driver_override_ = std::move(name); }
  // Drivers that said "not mine" (ENODEV) since they registered.
  const std::vector<const Driver*>& declined() const { return declined_; }

 private:
  friend class DriverCore;
  std::string name_;
  Bus* bus_;
  const of::Node* fwnode_;
  Device* parent_;

  DeviceState state_ = DeviceState::unbound;
  Driver* driver_ = nullptr;
  std::string deferred_reason_;
  std::vector<WaitKey> waits_;
  std::vector<WaitKey> pending_waits_;  // recorded by defer() during the current probe
  std::string pending_reason_;
  uint64_t probe_attempts_ = 0;
  bool manual_unbind_ = false;
  bool removed_ = false;
  bool linux_pending_ = false;
  bool populated_by_parent_ = false;
  std::string driver_override_;
  std::vector<const Driver*> declined_;
  std::string declined_why_;  // the last decline's message
  // By link creation order (DeviceLink::seq): an IOMMU has a link per
  // consumer, so removing one must not scan them all.
  std::map<uint64_t, DeviceLink*> supplier_links_;  // links where this device is the consumer
  std::map<uint64_t, DeviceLink*> consumer_links_;  // links where this device is the supplier
  std::vector<std::pair<std::string, std::function<void()>>> devres_;
  std::shared_ptr<void> drvdata_;
};

}  // namespace modiommu
