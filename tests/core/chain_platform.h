// Generated platforms for the deferral comparison: `chains` chains of
// `length` test-consumer devices, each needing the next one in its chain,
// listed consumers first (the worst registration order).
#pragma once

#include <string>

#include <fmt/format.h>

namespace modiommu::testing {

inline std::string chain_platform_dts(int chains, int length) {
  std::string s = "/dts-v1/;\n/ {\n#address-cells = <1>;\n#size-cells = <1>;\n";
  for (int c = 0; c < chains; ++c)
    for (int i = 0; i < length; ++i) {
      const int id = c * length + i;
      s += fmt::format("n{}: dev@{:x} {{ compatible = \"modiommu,test-consumer\"; reg = <{:#x} 1>;", id, id + 1, id + 1);
      if (i + 1 < length) s += fmt::format(" modiommu,suppliers = <&n{}>;", id + 1);
      s += " };\n";
    }
  return s + "};\n";
}

}  // namespace modiommu::testing
