// The module: registers the platform driver for ARM SMMU v1/v2/MMU-500
// nodes at init and unregisters it at exit (the driver core then unbinds
// every SMMU, consumers first through the IOMMU core's device links).
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/arm-smmu/arm-smmu.h"
#include "kernel/driver_module.h"
#include "kernel/driver_context.h"
#include "module/module.h"

namespace modiommu::arm_smmu {
namespace {

class SmmuDriver : public Driver {
 public:
  explicit SmmuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "arm-smmu";
    bus = &ctx.platform_bus();
    // Linux arm_smmu_of_match; SoC strings with an arm,* fallback match it.
    of_match = {"arm,smmu-v1",  "arm,smmu-v2",  "arm,mmu-400",    "arm,mmu-401",    "arm,mmu-500",
                "qcom,smmu-v2", "qcom,smmu-500", "cavium,smmu-v2", "nvidia,smmu-500"};
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
}  // namespace modiommu::arm_smmu

MODIOMMU_MODULE(arm_smmu, .version = "1.0", .license = "GPL-2.0",
                .description = "ARM SMMU v1/v2 and MMU-500 (IHI 0062) IOMMU driver",
                .aliases = {"of:arm,smmu-v1", "of:arm,smmu-v2", "of:arm,mmu-400", "of:arm,mmu-401", "of:arm,mmu-500",
                            "of:qcom,smmu-v2", "of:qcom,smmu-500", "of:cavium,smmu-v2", "of:nvidia,smmu-500"},
                .init = modiommu::driver_module_init<modiommu::arm_smmu::SmmuDriver>,
                .exit = modiommu::driver_module_exit<modiommu::arm_smmu::SmmuDriver>);
