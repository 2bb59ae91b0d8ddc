// The module: registers the platform driver for Exynos SysMMU nodes at
// init and unregisters it at exit (the driver core then unbinds every
// SysMMU, consumers first through the IOMMU core's device links).
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/exynos-iommu/exynos-iommu.h"
#include "kernel/driver_context.h"
#include "kernel/driver_module.h"
#include "module/module.h"

namespace modiommu::exynos_iommu {
namespace {

class SysmmuDriver : public Driver {
 public:
  explicit SysmmuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "exynos-sysmmu";  // Linux's platform driver name
    bus = &ctx.platform_bus();
    // Linux sysmmu_of_match (6.1, 6.12): one compatible for every version.
    of_match = {"samsung,exynos-sysmmu"};
  }
  Status probe(Device& dev) override {
    auto s = std::make_shared<SysmmuDevice>(ctx_, dev, owner);
    TRY(s->probe());
    dev.set_drvdata(s);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* s = dev.drvdata<SysmmuDevice>()) s->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
};

}  // namespace
}  // namespace modiommu::exynos_iommu

MODIOMMU_MODULE(exynos_iommu, .version = "1.0", .license = "GPL-2.0",
                .description = "Samsung Exynos SysMMU (v1..v3, v5, v7) driver",
                .aliases = {"of:samsung,exynos-sysmmu"},
                .init = modiommu::driver_module_init<modiommu::exynos_iommu::SysmmuDriver>,
                .exit = modiommu::driver_module_exit<modiommu::exynos_iommu::SysmmuDriver>);
