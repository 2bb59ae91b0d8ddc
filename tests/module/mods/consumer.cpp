// Depends on provider.so through provider_add; exports consumer_value for top.so.
#include "module/module.h"
#include "test_host.h"

using namespace modiommu;

extern "C" int provider_add(int a, int b);
extern "C" MODIOMMU_API int consumer_value(void) { return provider_add(40, 2); }

static Status consumer_init(DriverContext&, Module&) {
  modtest::tlog().record("consumer:init sum=" + std::to_string(provider_add(2, 3)));
  return {};
}
static void consumer_exit(DriverContext&, Module&) { modtest::tlog().record("consumer:exit"); }

MODIOMMU_MODULE(consumer, .version = "1.0", .license = "GPL-2.0", .init = consumer_init, .exit = consumer_exit);
