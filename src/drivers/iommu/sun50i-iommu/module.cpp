// The module: registers the platform driver for sun50i IOMMU nodes at init
// and unregisters it at exit (the driver core then unbinds every IOMMU,
// consumers first through the IOMMU core's device links).
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/sun50i-iommu/sun50i-iommu.h"
#include "kernel/driver_context.h"
#include "kernel/driver_module.h"
#include "module/module.h"

namespace modiommu::sun50i_iommu {
namespace {

class Sun50iIommuDriver : public Driver {
 public:
  explicit Sun50iIommuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "sun50i-iommu";  // Linux's platform driver name
    bus = &ctx.platform_bus();
    // Linux sun50i_iommu_dt: h6 (6.1, 6.12); h616 nodes list the h6 fallback
    // (allwinner,sun50i-h6-iommu.yaml), matched here by both.
    of_match = {"allwinner,sun50i-h6-iommu", "allwinner,sun50i-h616-iommu"};
  }
  Status probe(Device& dev) override {
    auto iommu = std::make_shared<Sun50iIommuDevice>(ctx_, dev, owner);
    TRY(iommu->probe());
    dev.set_drvdata(iommu);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* iommu = dev.drvdata<Sun50iIommuDevice>()) iommu->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
};

}  // namespace
}  // namespace modiommu::sun50i_iommu

MODIOMMU_MODULE(sun50i_iommu, .version = "1.0", .license = "GPL-2.0",
                .description = "Allwinner sun50i (H6, H616) IOMMU driver",
                .aliases = {"of:allwinner,sun50i-h6-iommu", "of:allwinner,sun50i-h616-iommu"},
                .init = modiommu::driver_module_init<modiommu::sun50i_iommu::Sun50iIommuDriver>,
                .exit = modiommu::driver_module_exit<modiommu::sun50i_iommu::Sun50iIommuDriver>);
