// The module: registers the platform driver for "arm,smmu-v3" nodes at init
// and unregisters it at exit (the driver core then unbinds every SMMU,
// consumers first through the IOMMU core's device links).
#include <memory>
#include <type_traits>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "kernel/kernel.h"
#include "module/module.h"

namespace modiommu::arm_smmu_v3 {
namespace {

class SmmuDriver : public Driver {
 public:
  explicit SmmuDriver(Kernel& k) : k_(k) {
    name = "arm-smmu-v3";
    bus = &k.platform_bus();
    of_match = {"arm,smmu-v3"};
  }
  Status probe(Device& dev) override {
    auto smmu = std::make_shared<SmmuDevice>(k_, dev, owner);
    TRY(smmu->probe());
    dev.set_drvdata(smmu);
    return {};
  }
  void remove(Device& dev) override {
    if (auto* smmu = dev.drvdata<SmmuDevice>()) smmu->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  Kernel& k_;
};

// Module derives from CodeOwner in the loader-integrated tree; until then a
// module has no pin interface and the driver is treated as built in.
template <class M>
CodeOwner* owner_of(M& m) {
  if constexpr (std::is_base_of_v<CodeOwner, M>) return &m;
  else return nullptr;
}

Status smmu_init(Kernel& k, Module& m) {
  auto drv = std::make_unique<SmmuDriver>(k);
  drv->owner = owner_of(m);
  Status s = k.core().register_driver(drv.get());
  if (!s.ok()) return s;
  m.set_private(drv.release());
  return {};
}

void smmu_exit(Kernel& k, Module& m) {
  auto* drv = static_cast<SmmuDriver*>(m.private_data());
  if (!drv) return;
  k.core().unregister_driver(drv);
  m.set_private(nullptr);
  delete drv;
}

}  // namespace
}  // namespace modiommu::arm_smmu_v3

MODIOMMU_MODULE(arm_smmu_v3, .version = "1.0", .license = "GPL-2.0",
                .description = "ARM SMMUv3 (IHI 0070) IOMMU driver", .aliases = {"of:arm,smmu-v3"},
                .init = modiommu::arm_smmu_v3::smmu_init, .exit = modiommu::arm_smmu_v3::smmu_exit);
