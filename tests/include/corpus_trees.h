// The corpus trees a family's corpus test walks: every .dtb under the
// corpus's dtb-linux-6.1 with at least one node the family's predicate
// matches (its IOMMU's compatibles), in path order.
#pragma once

#include <algorithm>
#include <filesystem>
#include <functional>
#include <vector>

#include "corpus_dir.h"
#include "of/tree.h"

namespace modiommu::test {

inline std::vector<std::filesystem::path> corpus_trees_with(const std::function<bool(const of::Node&)>& match) {
  std::vector<std::filesystem::path> out;
  const std::filesystem::path dir = corpus_dir() + "/dtb-linux-6.1";
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().extension() != ".dtb") continue;
    auto t = of::Tree::load_file(e.path().string());
    if (!t.ok()) continue;
    const auto& nodes = (*t)->nodes();
    if (std::any_of(nodes.begin(), nodes.end(), [&](const of::Node* n) { return match(*n); })) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace modiommu::test
