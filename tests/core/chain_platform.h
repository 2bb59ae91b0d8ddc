// Generated platforms for the deferral comparison: `chains` chains of
// `length` test-consumer devices, each needing the next one in its chain,
// listed consumers first (the worst registration order). Nodes are grouped
// under simple-bus nodes of at most 500 (dtc's parser cannot take 10,000
// siblings in one node); bus nodes have no driver and are never probed.
#pragma once

#include <string>

#include <fmt/format.h>

namespace modiommu::testing {

inline std::string chain_platform_dts(int chains, int length) {
  constexpr int kGroup = 500;
  std::string s = "/dts-v1/;\n/ {\n#address-cells = <1>;\n#size-cells = <1>;\n";
  const int total = chains * length;
  for (int g = 0; g * kGroup < total; ++g) {
    s += fmt::format("group{} {{ compatible = \"simple-bus\"; #address-cells = <1>; #size-cells = <1>; ranges;\n", g);
    for (int id = g * kGroup; id < std::min(total, (g + 1) * kGroup); ++id) {
      const int i = id % length;
      s += fmt::format("n{}: dev@{:x} {{ compatible = \"modiommu,test-consumer\"; reg = <{:#x} 1>;", id, id + 1, id + 1);
      if (i + 1 < length) s += fmt::format(" modiommu,suppliers = <&n{}>;", id + 1);
      s += " };\n";
    }
    s += "};\n";
  }
  return s + "};\n";
}

}  // namespace modiommu::testing
