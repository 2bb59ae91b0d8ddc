// The machine after boot as a Graphviz graph: one cluster per IOMMU with a
// sub-cluster per IOMMU group holding its consumers, a cluster of masters
// running without isolation, the rest by bus; device links as edges;
// nodes coloured by state with driver, module and deferral reason; a
// legend. render_dot() draws a topology snapshot (report/topology.h);
// write_graph() runs Graphviz `dot` on it.
#pragma once

#include <string>

#include "base/api.h"
#include "base/result.h"
#include "kernel/kernel.h"
#include "report/topology.h"

namespace modiommu::report {

// Renders a topology snapshot taken with TopologyParts::devices; reads
// nothing else (no lock, no kernel).
MODIOMMU_API std::string render_dot(const Topology& t);
// render_dot() of the kernel's topology now.
MODIOMMU_API std::string emit_dot(Kernel& k);
// By the extension of `out`: .dot writes the text, .svg/.png run `dot -T`.
MODIOMMU_API Status write_graph(Kernel& k, const std::string& out);

}  // namespace modiommu::report
