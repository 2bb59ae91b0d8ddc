// The module: registers the platform driver for IPMMU-VMSA nodes at init
// and unregisters it at exit (the driver core then unbinds every IPMMU,
// consumers and cache IPMMUs before their root, through device links).
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/ipmmu-vmsa/ipmmu-vmsa.h"
#include "kernel/driver_context.h"
#include "kernel/driver_module.h"
#include "module/module.h"

namespace modiommu::ipmmu {
namespace {

class IpmmuDriver : public Driver {
 public:
  IpmmuDriver(DriverContext& ctx, bool attach_all) : ctx_(ctx), attach_all_(attach_all) {
    name = "ipmmu-vmsa";
    bus = &ctx.platform_bus();
    of_match = of_match_compatibles();
  }
  Status probe(Device& dev) override {
    const Features* f = dev.fwnode() ? match_features(*dev.fwnode()) : nullptr;
    if (!f) return make_error(Errc::nodev, dev.name() + ": not an IPMMU-VMSA");
    auto mmu = std::make_shared<IpmmuDevice>(ctx_, dev, owner, *f, attach_all_);
    TRY(mmu->probe());
    dev.set_drvdata(mmu);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* mmu = dev.drvdata<IpmmuDevice>()) mmu->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
  const bool attach_all_;
};

}  // namespace

Status ipmmu_init(DriverContext& ctx, Module& m) {
  auto all = m.param_bool("allow_all");
  if (!all.ok()) return std::move(all).error();
  auto drv = std::make_unique<IpmmuDriver>(ctx, *all);
  drv->owner = &m;
  TRY(ctx.core().register_driver(drv.get()));
  if (*all) ctx.log().warn("ipmmu-vmsa", "allow_all=1: every device behind an IPMMU is attached, allowlist ignored");
  m.set_private(drv.release());
  return {};
}

void ipmmu_exit(DriverContext& ctx, Module& m) { driver_module_exit<IpmmuDriver>(ctx, m); }

}  // namespace modiommu::ipmmu

MODIOMMU_MODULE(ipmmu_vmsa, .version = "1.0", .license = "GPL-2.0",
                .description = "Renesas IPMMU-VMSA (R-Car Gen2/Gen3/Gen4, RZ/G2) IOMMU driver",
                .params = {{.name = "allow_all", .type = modiommu::ModuleParamType::bool_, .default_value = "0",
                            .description = "attach every device, not only those Linux's SoC allowlist lets in"}},
                .aliases = {"of:renesas,ipmmu-vmsa", "of:renesas,ipmmu-r8a774a1", "of:renesas,ipmmu-r8a774b1",
                            "of:renesas,ipmmu-r8a774c0", "of:renesas,ipmmu-r8a774e1", "of:renesas,ipmmu-r8a7795",
                            "of:renesas,ipmmu-r8a7796", "of:renesas,ipmmu-r8a77961", "of:renesas,ipmmu-r8a77965",
                            "of:renesas,ipmmu-r8a77970", "of:renesas,ipmmu-r8a77980", "of:renesas,ipmmu-r8a77990",
                            "of:renesas,ipmmu-r8a77995", "of:renesas,ipmmu-r8a779a0",
                            "of:renesas,rcar-gen4-ipmmu-vmsa"},
                .init = modiommu::ipmmu::ipmmu_init, .exit = modiommu::ipmmu::ipmmu_exit);
