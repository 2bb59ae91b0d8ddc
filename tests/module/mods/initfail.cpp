// init fails: the loader must unload it cleanly and never call exit.
#include "module/module.h"
#include "test_host.h"

using namespace modiommu;

static Status initfail_init(DriverContext&, Module&) {
  modtest::tlog().record("initfail:init");
  return make_error(Errc::nodev, "no hardware here");
}
static void initfail_exit(DriverContext&, Module&) { modtest::tlog().record("initfail:exit"); }

MODIOMMU_MODULE(initfail, .version = "1.0", .init = initfail_init, .exit = initfail_exit);
