// Another file claiming the module name "plain".
#include "module/module.h"
#include "test_host.h"

using namespace modiommu;

static Status dup_init(DriverContext&, Module&) {
  modtest::tlog().record("plain_dup:init");
  return {};
}

MODIOMMU_MODULE(plain, .version = "9.9", .description = "impostor", .init = dup_init);
