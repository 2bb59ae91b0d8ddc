// module_platform_driver(): init/exit for a module whose whole job is to
// register one driver, constructed as D(DriverContext&) and owned by the
// module while it is live.
#pragma once

#include <memory>

#include "core/driver_core.h"
#include "kernel/driver_context.h"
#include "module/module.h"

namespace modiommu {

template <class D>
Status driver_module_init(DriverContext& ctx, Module& m) {
  auto drv = std::make_unique<D>(ctx);
  drv->owner = &m;
  TRY(ctx.core().register_driver(drv.get()));
  m.set_private(drv.release());
  return {};
}

// Unregistering unbinds every device the driver holds (consumers first,
// through device links) before the module's code goes.
template <class D>
void driver_module_exit(DriverContext& ctx, Module& m) {
  auto* drv = static_cast<D*>(m.private_data());
  if (!drv) return;
  ctx.core().unregister_driver(drv);
  m.set_private(nullptr);
  delete drv;
}

}  // namespace modiommu
