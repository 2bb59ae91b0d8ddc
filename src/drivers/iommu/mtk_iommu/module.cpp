// The module: registers the platform driver for MediaTek M4U nodes at init
// and unregisters it at exit (the driver core then unbinds every M4U,
// consumers first through the IOMMU core's device links).
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/mtk_iommu/mtk_iommu.h"
#include "kernel/driver_context.h"
#include "kernel/driver_module.h"
#include "module/module.h"
#include "of/tree.h"

namespace modiommu::mtk_iommu {
namespace {

class MtkIommuDriver : public Driver {
 public:
  explicit MtkIommuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "mtk-iommu";  // Linux mtk_iommu_driver.driver.name
    bus = &ctx.platform_bus();
    // Linux 6.12 mtk_iommu_of_ids.
    of_match = {"mediatek,mt2712-m4u",         "mediatek,mt6779-m4u",       "mediatek,mt6795-m4u",
                "mediatek,mt8167-m4u",         "mediatek,mt8173-m4u",       "mediatek,mt8183-m4u",
                "mediatek,mt8186-iommu-mm",    "mediatek,mt8188-iommu-infra", "mediatek,mt8188-iommu-vdo",
                "mediatek,mt8188-iommu-vpp",   "mediatek,mt8192-m4u",       "mediatek,mt8195-iommu-infra",
                "mediatek,mt8195-iommu-vdo",   "mediatek,mt8195-iommu-vpp", "mediatek,mt8365-m4u"};
  }
  Status probe(Device& dev) override {
    const PlatData* plat = nullptr;
    if (const of::Node* n = dev.fwnode())
      for (const auto& c : n->compatible())
        if ((plat = plat_data_for(c))) break;
    if (!plat) return make_error(Errc::nodev, dev.name() + ": no MediaTek IOMMU compatible");
    auto m4u = std::make_shared<MtkIommu>(ctx_, dev, owner, *plat);
    TRY(m4u->probe());
    dev.set_drvdata(m4u);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* m4u = dev.drvdata<MtkIommu>()) m4u->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
};

}  // namespace
}  // namespace modiommu::mtk_iommu

MODIOMMU_MODULE(mtk_iommu, .version = "1.0", .license = "GPL-2.0",
                .description = "IOMMU API for MediaTek M4U implementations",
                .aliases = {"of:mediatek,mt2712-m4u", "of:mediatek,mt6779-m4u", "of:mediatek,mt6795-m4u",
                            "of:mediatek,mt8167-m4u", "of:mediatek,mt8173-m4u", "of:mediatek,mt8183-m4u",
                            "of:mediatek,mt8186-iommu-mm", "of:mediatek,mt8188-iommu-infra",
                            "of:mediatek,mt8188-iommu-vdo", "of:mediatek,mt8188-iommu-vpp",
                            "of:mediatek,mt8192-m4u", "of:mediatek,mt8195-iommu-infra",
                            "of:mediatek,mt8195-iommu-vdo", "of:mediatek,mt8195-iommu-vpp",
                            "of:mediatek,mt8365-m4u"},
                .init = modiommu::driver_module_init<modiommu::mtk_iommu::MtkIommuDriver>,
                .exit = modiommu::driver_module_exit<modiommu::mtk_iommu::MtkIommuDriver>);
