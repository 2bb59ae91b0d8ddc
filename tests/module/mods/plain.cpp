// A plain module with parameters and aliases. Built twice by the tests: as
// plain.so and into module_tests as a built-in module.
#include "module/module.h"
#include "test_host.h"

using namespace modiommu;

namespace {

struct PlainState {
  int64_t count;
};

Status plain_init(DriverContext& k, Module& m) {
  int64_t count = TRY(m.param_int("count"));
  bool verbose = TRY(m.param_bool("verbose"));
  std::string label = TRY(m.param_string("label"));
  uint64_t limit = TRY(m.param_uint("limit"));
  m.set_private(new PlainState{count});
  modtest::set_last_kernel(&k);
  modtest::tlog().record("plain:init count=" + std::to_string(count) + " verbose=" + std::to_string(verbose) +
           " label=" + label + " limit=" + std::to_string(limit) + " builtin=" + std::to_string(m.builtin()));
  return {};
}

void plain_exit(DriverContext& k, Module& m) {
  modtest::set_last_kernel(&k);
  auto* s = static_cast<PlainState*>(m.private_data());
  modtest::tlog().record("plain:exit count=" + std::to_string(s->count));
  delete s;
}

}  // namespace

MODIOMMU_MODULE(plain, .version = "1.2", .license = "GPL-2.0", .description = "plain test module",
                .author = "modiommu tests",
                .params = {{.name = "count", .type = ModuleParamType::int_, .default_value = "5",
                            .description = "how many"},
                           {.name = "verbose", .type = ModuleParamType::bool_, .description = "chatty"},
                           {.name = "label", .type = ModuleParamType::string_, .default_value = "x",
                            .description = "a label"},
                           {.name = "limit", .type = ModuleParamType::uint_, .default_value = "0x100",
                            .description = "an upper bound"}},
                .aliases = {"of:modiommu,plain-test", "pci:v00001234d*"}, .init = plain_init,
                .exit = plain_exit);
