// Test drivers for the driver core: a supplier that binds (or fails, or waits
// for boot-complete, as its node says) and a consumer that needs every device
// named in its `modiommu,suppliers` phandle list bound first, through managed
// device links. Used by scenario tests and the deferral benchmark. One
// module, built in by default (MODIOMMU_DRIVER_TEST_DRIVERS=y|m|n).
#include <memory>

#include "core/driver_core.h"
#include "kernel/driver_context.h"
#include "module/module.h"
#include "of/tree.h"

namespace modiommu {
namespace {

class TestSupplier : public Driver {
 public:
  explicit TestSupplier(DriverContext& ctx) : ctx_(ctx) {
    name = "test-supplier";
    bus = &ctx.platform_bus();
    of_match = {"modiommu,test-supplier"};
  }
  Status probe(Device& dev) override {
    const of::Node* n = dev.fwnode();
    if (n && n->has("modiommu,fail-probe")) return make_error(Errc::io, "probe fails as its node asks (modiommu,fail-probe)");
    if (n && n->has("modiommu,defer-until-boot-complete") && !ctx_.core().boot_completed())
      return dev.defer(WaitKey::event(WaitEvent::boot_complete), "waiting for boot-complete (modiommu,defer-until-boot-complete)");
    return {};
  }
  void remove(Device&) override {}

 private:
  DriverContext& ctx_;
};

class TestConsumer : public Driver {
 public:
  explicit TestConsumer(DriverContext& ctx) : ctx_(ctx) {
    name = "test-consumer";
    bus = &ctx.platform_bus();
    of_match = {"modiommu,test-consumer"};
  }
  Status probe(Device& dev) override {
    const of::Node* n = dev.fwnode();
    if (!n || !n->has("modiommu,suppliers")) return {};
    auto cells = n->prop("modiommu,suppliers")->cells();
    if (!cells.ok()) return std::move(cells).error();
    DriverCore& core = ctx_.core();
    for (uint32_t ph : *cells) {
      const of::Node* sn = n->tree().by_phandle(ph);
      if (!sn) return make_error(Errc::inval, fmt::format("{}: modiommu,suppliers names unknown phandle {:#x}", n->path(), ph));
      Device* sup = core.find_device_by_fwnode(sn);
      if (!sup) {
        if (!sn->available()) return make_error(Errc::nodev, "supplier " + sn->path() + " is disabled");
        return dev.defer(WaitKey::fwnode(sn), "waiting for supplier " + sn->path() + " to be added");
      }
      auto link = core.link_add(dev, *sup, LinkKind::managed, "test-consumer supplier");
      if (!link.ok()) return std::move(link).error();
      if (sup->state() != DeviceState::bound)
        return dev.defer(WaitKey::device(sup), "waiting for supplier " + sup->name());
    }
    return {};
  }
  void remove(Device&) override {}

 private:
  DriverContext& ctx_;
};

struct TestDrivers {
  explicit TestDrivers(DriverContext& ctx) : supplier(ctx), consumer(ctx) {}
  TestSupplier supplier;
  TestConsumer consumer;
};

Status test_drivers_init(DriverContext& ctx, Module& m) {
  auto d = std::make_unique<TestDrivers>(ctx);
  d->supplier.owner = &m;
  d->consumer.owner = &m;
  TRY(ctx.core().register_driver(&d->supplier));
  Status s = ctx.core().register_driver(&d->consumer);
  if (!s.ok()) {
    ctx.core().unregister_driver(&d->supplier);
    return s;
  }
  m.set_private(d.release());
  return {};
}

void test_drivers_exit(DriverContext& ctx, Module& m) {
  auto* d = static_cast<TestDrivers*>(m.private_data());
  ctx.core().unregister_driver(&d->consumer);
  ctx.core().unregister_driver(&d->supplier);
  delete d;
}

}  // namespace
}  // namespace modiommu

MODIOMMU_MODULE(test_drivers, .version = "1.0", .license = "GPL-2.0",
                .description = "test supplier/consumer drivers for the driver core",
                .aliases = {"of:modiommu,test-supplier", "of:modiommu,test-consumer"},
                .init = modiommu::test_drivers_init, .exit = modiommu::test_drivers_exit);
