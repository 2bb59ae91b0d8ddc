// The smallest module: what insmod+rmmod costs beyond dlopen+dlclose.
#include "module/module.h"

using namespace modiommu;

static Status trivial_init(DriverContext&, Module&) { return {}; }
static void trivial_exit(DriverContext&, Module&) {}

MODIOMMU_MODULE(bench_trivial, .version = "1.0", .license = "GPL-2.0", .init = trivial_init, .exit = trivial_exit);
