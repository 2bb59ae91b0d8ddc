// The module: registers the virtio driver for device ID 23 (virtio 1.2
// 5.13.1) at init and unregisters it at exit (the driver core then unbinds
// every virtio-iommu, its consumers first through the IOMMU core's device
// links). Its undefined symbols from virtio.h make depmod record the
// dependency on the `virtio` module.
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/virtio-iommu/virtio-iommu.h"
#include "kernel/driver_context.h"
#include "module/module.h"

namespace modiommu::virtio_iommu {
namespace {

class VIommuDriver : public virtio::VirtioDriver {
 public:
  explicit VIommuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "virtio-iommu";
    id_table = {uv::kDeviceId};
    // 5.13.3. Legacy BYPASS is left out: it would make unattached endpoints
    // bypass with no way to turn that off.
    features = uv::kFInputRange | uv::kFDomainRange | uv::kFMapUnmap | uv::kFProbe | uv::kFMmio | uv::kFBypassConfig;
  }
  Status probe(virtio::VirtioDevice& vdev) override {
    auto v = std::make_shared<VIommu>(ctx_, vdev, owner);
    TRY(v->probe());
    vdev.set_drvdata(v);
    return {};
  }
  void remove(virtio::VirtioDevice& vdev) override {
    if (auto* v = vdev.drvdata<VIommu>()) v->remove();
    vdev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
};

Status viommu_init(DriverContext& ctx, Module& m) {
  auto drv = std::make_unique<VIommuDriver>(ctx);
  drv->owner = &m;
  TRY(virtio::register_virtio_driver(ctx, *drv));
  m.set_private(drv.release());
  return {};
}

void viommu_exit(DriverContext& ctx, Module& m) {
  auto* drv = static_cast<VIommuDriver*>(m.private_data());
  if (!drv) return;
  virtio::unregister_virtio_driver(ctx, *drv);
  m.set_private(nullptr);
  delete drv;
}

}  // namespace
}  // namespace modiommu::virtio_iommu

MODIOMMU_MODULE(virtio_iommu, .version = "1.0", .license = "GPL-2.0",
                .description = "virtio-iommu driver (virtio 1.2 5.13)", .aliases = {"virtio:d00000017v*"},
                // The transports, loaded first by modprobe when this machine
                // has a device for them (the virtio core is a hard dependency).
                .softdeps = {"virtio_mmio", "virtio_pci"},
                .init = modiommu::virtio_iommu::viommu_init, .exit = modiommu::virtio_iommu::viommu_exit);
