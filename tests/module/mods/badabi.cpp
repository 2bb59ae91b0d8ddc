// A module built against another ABI: its descriptor says version host+41.
// Its constructor records, to prove the loader never ran its code.
#include "module/module.h"
#include "test_host.h"

using namespace modiommu;

__attribute__((constructor)) static void badabi_ctor() { modtest::tlog().record("badabi:ctor"); }

static Status badabi_init(DriverContext&, Module&) {
  modtest::tlog().record("badabi:init");
  return {};
}

extern "C" __attribute__((visibility("protected"))) const ModuleDescriptor modiommu_module_descriptor;
extern "C" __attribute__((visibility("protected"))) const ModuleDescriptor modiommu_module_descriptor = {
    .magic = kModuleMagic, .size = sizeof(ModuleDescriptor), .abi_version = kModuleAbiVersion + 41,
    .name = "badabi", .version = "1.0", .init = badabi_init};
