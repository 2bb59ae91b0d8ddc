#include "hw/virtio/virtio_device.h"

namespace modiommu::hw::virtio {

uint32_t offered_features_page(const VirtioDeviceModel& model, uint32_t sel) {
  const uint64_t f = model.device_features() | kFVersion1;
  return sel == 0 ? static_cast<uint32_t>(f) : sel == 1 ? static_cast<uint32_t>(f >> 32) : 0;
}

uint32_t apply_driver_status(uint32_t status, uint32_t v, uint64_t driver_features, VirtioDeviceModel& model) {
  const uint32_t added = (v & ~kStatusNeedsReset) & ~status;
  if (added & kStatusFeaturesOk) {
    const uint64_t offered = model.device_features() | kFVersion1;
    const bool ok = (driver_features & ~offered) == 0 && (driver_features & kFVersion1) &&
                    model.set_driver_features(driver_features);
    if (!ok) v &= ~kStatusFeaturesOk;
  }
  // DRIVER_OK before FEATURES_OK is a driver error; keep it out (3.1.1 order).
  if ((v & kStatusDriverOk) && !((status | v) & kStatusFeaturesOk)) v &= ~kStatusDriverOk;
  return status | (v & ~kStatusNeedsReset);
}

}  // namespace modiommu::hw::virtio
