// The split between a virtio transport (virtio-mmio here; virtio 1.2 4.2) and
// the device type behind it (e.g. virtio-iommu, 5.13). The transport owns the
// register file, the status handshake and the virtqueues; the device model
// owns feature bits, the config space and what queue notifications mean.
#pragma once

#include <cstdint>
#include <string>

#include "base/api.h"
#include "hw/virtio/virtqueue.h"
#include "uapi/virtio_config.h"

namespace modiommu::hw::virtio {

// Status bits and VERSION_1: uapi/virtio_config.h.
using uapi::virtio::kFVersion1;
using uapi::virtio::kStatusAcknowledge;
using uapi::virtio::kStatusDriver;
using uapi::virtio::kStatusDriverOk;
using uapi::virtio::kStatusFailed;
using uapi::virtio::kStatusFeaturesOk;
using uapi::virtio::kStatusNeedsReset;

// What the transport offers its device model. Every call may be made from any
// thread; the transport does its own locking. None may be called with a
// model lock held that the transport's callers into the model also take
// (see each model's locking comment).
class MODIOMMU_API VirtioHost {
 public:
  virtual ~VirtioHost() = default;
  // Queue q (always valid for q < the model's num_queues()).
  virtual Virtqueue& queue(unsigned q) = 0;
  // Used buffers were added to queue q: interrupt if the driver wants one.
  virtual void notify_used(unsigned q) = 0;
  // The device changed its config space (bumps ConfigGeneration, interrupts).
  virtual void notify_config() = 0;
  // The device hit an error it cannot recover from without a reset: sets
  // DEVICE_NEEDS_RESET and raises a config-change interrupt (2.1.2).
  virtual void device_error(const std::string& why) = 0;
};

class MODIOMMU_API VirtioDeviceModel {
 public:
  virtual ~VirtioDeviceModel() = default;
  virtual uint32_t device_id() const = 0;
  // Offered device features (without VIRTIO_F_VERSION_1: the transport adds it).
  virtual uint64_t device_features() const = 0;
  virtual unsigned num_queues() const = 0;
  virtual uint32_t queue_max_size(unsigned q) const = 0;
  virtual uint32_t config_size() const = 0;
  // Config space accesses (offset relative to the config start; 1, 2, 4 or 8
  // bytes inside config_size()).
  virtual uint64_t config_read(uint64_t offset, unsigned size) = 0;
  virtual void config_write(uint64_t offset, uint64_t value, unsigned size) = 0;
  // The driver set FEATURES_OK with these features (a subset of the offered
  // ones plus VERSION_1). Returning false leaves FEATURES_OK clear (3.1.1).
  virtual bool set_driver_features(uint64_t features) = 0;
  // The driver notified queue q (called with no transport lock held).
  virtual void queue_notify(unsigned q) = 0;
  // Device reset (Status written 0); queues were already reset.
  virtual void reset() = 0;
  // Connects the model to its transport (nullptr disconnects; the transport
  // does this before it goes away).
  virtual void bind(VirtioHost* host) = 0;
};

// The parts of the device status machine every transport shares.
// 32-bit page `sel` of the offered features (VERSION_1 added); 0 beyond.
MODIOMMU_API uint32_t offered_features_page(const VirtioDeviceModel& model, uint32_t sel);
// A driver's non-zero Status write (2.1, 3.1.1) applied to `status`: the
// driver only adds bits; DEVICE_NEEDS_RESET stays the device's; FEATURES_OK
// is kept only if `driver_features` are a subset of the offered ones,
// include VERSION_1 and the model accepts them; DRIVER_OK needs FEATURES_OK.
// Returns the new status.
MODIOMMU_API uint32_t apply_driver_status(uint32_t status, uint32_t written, uint64_t driver_features,
                                          VirtioDeviceModel& model);

}  // namespace modiommu::hw::virtio
