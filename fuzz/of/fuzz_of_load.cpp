// Feeds arbitrary bytes to Tree::from_blob, then runs every accessor and
// binding helper on every node of whatever loads. Any crash, sanitizer
// report or hang is a bug; errors are the expected outcome.
#include <cstddef>
#include <cstdint>
#include <span>

#include "of/tree.h"

using namespace modiommu::of;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tree = Tree::from_blob(std::span(data, size), "fuzz.dtb");
  if (!tree.ok()) return 0;
  const Tree& t = **tree;
  for (Node* n : t.nodes()) {
    // path() and find() must agree for every node the loader accepted.
    if (t.find(n->path()) == nullptr) __builtin_trap();
    if (n->phandle() && t.by_phandle(n->phandle()) != n) __builtin_trap();
    (void)n->available();
    (void)n->compatible();
    (void)n->address_cells();
    (void)n->size_cells();
    for (const auto& p : n->properties()) {
      (void)p.strings();
      (void)p.cells();
      (void)p.cell(p.cell_count());
    }
    auto reg = n->reg();
    if (reg.ok())
      for (size_t i = 0; i < reg->size() && i < 8; ++i) (void)n->translated_address(i);
    (void)iommus(*n);
    (void)iommu_map(*n);
    (void)map_id(*n, 0);
    (void)map_id(*n, 0x10);
    (void)map_id(*n, 0xffffffffu);
    (void)mmu_masters(*n);
    (void)parse_phandle_list(*n, "clocks", "#clock-cells");
  }
  (void)t.find_compatible("arm,smmu-v3");
  return 0;
}
