// Imports a symbol nobody exports.
#include "module/module.h"
#include "test_host.h"

using namespace modiommu;

extern "C" void modiommu_no_such_symbol(void);

static Status unresolved_init(DriverContext&, Module&) {
  modiommu_no_such_symbol();
  modtest::tlog().record("unresolved:init");
  return {};
}

MODIOMMU_MODULE(unresolved, .version = "1.0", .init = unresolved_init);
