// The module: registers the platform driver for "arm,smmu-v3" nodes at init
// and unregisters it at exit (the driver core then unbinds every SMMU,
// consumers first through the IOMMU core's device links).
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "kernel/driver_module.h"
#include "kernel/driver_context.h"
#include "module/module.h"

namespace modiommu::arm_smmu_v3 {
namespace {

class SmmuDriver : public Driver {
 public:
  explicit SmmuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "arm-smmu-v3";
    bus = &ctx.platform_bus();
    of_match = {"arm,smmu-v3"};
  }
  Status probe(Device& dev) override {
    auto smmu = std::make_shared<SmmuDevice>(ctx_, dev, owner);
    TRY(smmu->probe());
    dev.set_drvdata(smmu);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* smmu = dev.drvdata<SmmuDevice>()) smmu->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
};

}  // namespace
}  // namespace modiommu::arm_smmu_v3

MODIOMMU_MODULE(arm_smmu_v3, .version = "1.0", .license = "GPL-2.0",
                .description = "ARM SMMUv3 (IHI 0070) IOMMU driver", .aliases = {"of:arm,smmu-v3"},
                .init = modiommu::driver_module_init<modiommu::arm_smmu_v3::SmmuDriver>,
                .exit = modiommu::driver_module_exit<modiommu::arm_smmu_v3::SmmuDriver>);
