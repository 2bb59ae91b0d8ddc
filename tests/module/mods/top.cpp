// Depends on consumer.so, which depends on provider.so (modprobe order).
#include "module/module.h"
#include "test_host.h"

using namespace modiommu;

extern "C" int consumer_value(void);

static Status top_init(DriverContext&, Module&) {
  modtest::tlog().record("top:init value=" + std::to_string(consumer_value()));
  return {};
}
static void top_exit(DriverContext&, Module&) { modtest::tlog().record("top:exit"); }

MODIOMMU_MODULE(top, .version = "1.0", .license = "GPL-2.0", .init = top_init, .exit = top_exit);
