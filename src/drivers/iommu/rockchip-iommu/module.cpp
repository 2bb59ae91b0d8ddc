// The module: registers the platform driver for Rockchip IOMMU nodes at
// init and unregisters it at exit (the driver core then unbinds every
// IOMMU, consumers first through the IOMMU core's device links).
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/rockchip-iommu/rockchip-iommu.h"
#include "kernel/driver_context.h"
#include "kernel/driver_module.h"
#include "module/module.h"

namespace modiommu::rockchip_iommu {
namespace {

class RkIommuDriver : public Driver {
 public:
  explicit RkIommuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "rk_iommu";  // Linux's platform driver name
    bus = &ctx.platform_bus();
    // Linux rk_iommu_dt_ids (6.1, 6.12); RK3588 nodes match the rk3568 fallback.
    of_match = {"rockchip,iommu", "rockchip,rk3568-iommu"};
  }
  Status probe(Device& dev) override {
    auto iommu = std::make_shared<RkIommuDevice>(ctx_, dev, owner);
    TRY(iommu->probe());
    dev.set_drvdata(iommu);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* iommu = dev.drvdata<RkIommuDevice>()) iommu->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
};

}  // namespace
}  // namespace modiommu::rockchip_iommu

MODIOMMU_MODULE(rockchip_iommu, .version = "1.0", .license = "GPL-2.0",
                .description = "Rockchip IOMMU (v1 rockchip,iommu and v2 rockchip,rk3568-iommu) driver",
                .aliases = {"of:rockchip,iommu", "of:rockchip,rk3568-iommu"},
                .init = modiommu::driver_module_init<modiommu::rockchip_iommu::RkIommuDriver>,
                .exit = modiommu::driver_module_exit<modiommu::rockchip_iommu::RkIommuDriver>);
