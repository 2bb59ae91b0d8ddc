// Exports a symbol for consumer.so (EXPORT_SYMBOL).
#include "module/module.h"
#include "test_host.h"

using namespace modiommu;

extern "C" MODIOMMU_API int provider_add(int a, int b) { return a + b; }

static Status provider_init(DriverContext&, Module&) {
  modtest::tlog().record("provider:init");
  return {};
}
static void provider_exit(DriverContext&, Module&) { modtest::tlog().record("provider:exit"); }

MODIOMMU_MODULE(provider, .version = "1.0", .license = "GPL-2.0", .description = "exports provider_add",
                .aliases = {"virtio:d00000017v*"}, .init = provider_init, .exit = provider_exit);
