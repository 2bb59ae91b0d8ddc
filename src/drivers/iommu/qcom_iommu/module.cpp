// The module: registers the context bank driver, then the IOMMU driver, at
// init (Linux qcom_iommu_init); exit unregisters the IOMMU driver first (its
// consumers, then its context bank children, go before each instance),
// then the context bank driver.
#include <memory>

#include "core/device.h"
#include "core/owner.h"
#include "drivers/iommu/qcom_iommu/qcom_iommu.h"
#include "kernel/driver_context.h"
#include "kernel/driver_module.h"
#include "module/module.h"

namespace modiommu::qcom_iommu {
namespace {

class QcomIommuDriver : public Driver {
 public:
  explicit QcomIommuDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "qcom-iommu";
    bus = &ctx.platform_bus();
    of_match = iommu_compatibles();
  }
  Status probe(Device& dev) override {
    auto mmu = std::make_shared<QcomIommuDevice>(ctx_, dev, owner);
    dev.set_drvdata(mmu);  // the context banks find it there
    Status s = mmu->probe();
    if (!s.ok()) {
      mmu->remove();
      dev.set_drvdata(nullptr);
    }
    return s;
  }
  void remove(Device& dev) override {
    if (auto* mmu = dev.drvdata<QcomIommuDevice>()) mmu->remove();
    dev.set_drvdata(nullptr);  // domains still held elsewhere keep it alive
  }

 private:
  DriverContext& ctx_;
};

class QcomIommuCtxDriver : public Driver {
 public:
  QcomIommuCtxDriver(DriverContext& ctx, const Driver* parent_driver) : parent_driver_(parent_driver) {
    name = "qcom-iommu-ctx";
    bus = &ctx.platform_bus();
    of_match = context_compatibles();
    populates_children = false;
  }
  Status probe(Device& dev) override {
    // The parent sets its drvdata before populating, so a bank may probe
    // while the parent's probe is still running (Linux: the same).
    Device* parent = dev.parent();
    if (!parent) return make_error(Errc::nodev, dev.name() + ": a context bank needs its qcom,msm-iommu-v1 parent");
    auto* mmu = parent->driver() == parent_driver_ ? parent->drvdata<QcomIommuDevice>() : nullptr;
    if (!mmu || !mmu->live())
      return dev.defer(WaitKey::device(parent), "waiting for its IOMMU " + parent->name() + " (qcom-iommu)");
    return mmu->ctx_probe(dev);
  }
  void remove(Device& dev) override {
    Device* parent = dev.parent();
    if (auto* mmu = parent && parent->driver() == parent_driver_ ? parent->drvdata<QcomIommuDevice>() : nullptr)
      mmu->ctx_remove(dev);
  }

 private:
  const Driver* parent_driver_;
};

struct Drivers {
  std::unique_ptr<QcomIommuCtxDriver> ctx;
  std::unique_ptr<QcomIommuDriver> iommu;
};

}  // namespace

Status qcom_iommu_init(DriverContext& ctx, Module& m) {
  auto d = std::make_unique<Drivers>();
  d->iommu = std::make_unique<QcomIommuDriver>(ctx);
  d->iommu->owner = &m;
  d->ctx = std::make_unique<QcomIommuCtxDriver>(ctx, d->iommu.get());
  d->ctx->owner = &m;
  TRY(ctx.core().register_driver(d->ctx.get()));
  if (Status s = ctx.core().register_driver(d->iommu.get()); !s.ok()) {
    ctx.core().unregister_driver(d->ctx.get());
    return s;
  }
  m.set_private(d.release());
  return {};
}

void qcom_iommu_exit(DriverContext& ctx, Module& m) {
  auto* d = static_cast<Drivers*>(m.private_data());
  if (!d) return;
  ctx.core().unregister_driver(d->iommu.get());
  ctx.core().unregister_driver(d->ctx.get());
  delete d;
  m.set_private(nullptr);
}

}  // namespace modiommu::qcom_iommu

MODIOMMU_MODULE(qcom_iommu, .version = "1.0", .license = "GPL-2.0",
                .description = "Qualcomm MSM IOMMU (qcom,msm-iommu-v1: MSM8916, MSM8953, MSM8976) driver",
                .aliases = {"of:qcom,msm-iommu-v1", "of:qcom,msm8916-iommu", "of:qcom,msm8953-iommu",
                            "of:qcom,msm8976-iommu", "of:qcom,msm-iommu-v1-ns", "of:qcom,msm-iommu-v1-sec"},
                .init = modiommu::qcom_iommu::qcom_iommu_init, .exit = modiommu::qcom_iommu::qcom_iommu_exit);
