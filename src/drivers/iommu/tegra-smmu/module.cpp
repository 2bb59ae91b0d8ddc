// The module: registers the platform driver for Tegra memory controllers
// with an SMMU at init and unregisters it at exit (the driver core then
// unbinds the SMMU, consumers first through the IOMMU core's device links).
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/tegra-smmu/tegra-smmu.h"
#include "kernel/driver_context.h"
#include "kernel/driver_module.h"
#include "module/module.h"

namespace modiommu::tegra_smmu {
namespace {

class TegraSmmuDriver : public Driver {
 public:
  explicit TegraSmmuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "tegra-smmu";
    bus = &ctx.platform_bus();
    // Linux tegra_mc_of_match entries with SMMU data on arm64 (6.1, 6.12).
    // Tegra30/Tegra114 (arm32: 4 ASIDs, another TLB_FLUSH ASID field, own
    // client tables) are not handled.
    of_match = {"nvidia,tegra210-mc", "nvidia,tegra132-mc", "nvidia,tegra124-mc"};
    // The MC's children (EMC timings) are not devices of this driver.
    populates_children = false;
  }
  Status probe(Device& dev) override {
    auto smmu = std::make_shared<TegraSmmu>(ctx_, dev, owner);
    TRY(smmu->probe());
    dev.set_drvdata(smmu);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* smmu = dev.drvdata<TegraSmmu>()) smmu->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
};

}  // namespace
}  // namespace modiommu::tegra_smmu

MODIOMMU_MODULE(tegra_smmu, .version = "1.0", .license = "GPL-2.0",
                .description = "NVIDIA Tegra SMMU (memory controller of Tegra124/132/210) driver",
                .aliases = {"of:nvidia,tegra210-mc", "of:nvidia,tegra132-mc", "of:nvidia,tegra124-mc"},
                .init = modiommu::driver_module_init<modiommu::tegra_smmu::TegraSmmuDriver>,
                .exit = modiommu::driver_module_exit<modiommu::tegra_smmu::TegraSmmuDriver>);
