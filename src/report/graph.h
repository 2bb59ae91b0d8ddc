// The machine after boot as a Graphviz graph: one cluster per IOMMU with a
// sub-cluster per IOMMU group holding its consumers, a cluster of masters
// running without isolation, the rest by bus; device links as edges;
// nodes coloured by state with driver, module and deferral reason; a
// legend. emit_dot() writes the text; render() runs Graphviz `dot`.
#pragma once

#include <string>

#include "base/api.h"
#include "base/result.h"
#include "kernel/kernel.h"

namespace modiommu::report {

MODIOMMU_API std::string emit_dot(Kernel& k);
// By the extension of `out`: .dot writes the text, .svg/.png run `dot -T`.
MODIOMMU_API Status write_graph(Kernel& k, const std::string& out);

}  // namespace modiommu::report
