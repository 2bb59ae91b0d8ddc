// Arbitrary bytes as a device tree, booted, and its final state rendered
// as `modiommu boot --json` renders it: node names, compatibles and paths
// reach the JSON writer with whatever bytes the blob holds (not always
// UTF-8). The text must always be JSON that parses back.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/json_text.h"
#include "kernel/kernel.h"
#include "sim/state.h"

using namespace modiommu;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tree = of::Tree::from_blob(std::span(data, size), "fuzz.dtb");
  if (!tree.ok()) return 0;
  KernelOptions o;
  o.generic_endpoints = true;  // as `check` boots: every master gets a driver
  Kernel k(o);
  k.log().set_sink(nullptr);
  if (!k.boot(std::move(tree).value()).ok()) return 0;
  k.boot_complete();
  const std::string text = json_text(sim::final_state(k, "fuzz.dtb"), 1);
  if (nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false).is_discarded()) __builtin_trap();
  return 0;
}
