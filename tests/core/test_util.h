#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "kernel/kernel.h"
#include "of/tree.h"

namespace modiommu::testing {

inline std::unique_ptr<of::Tree> dts(const std::string& body) {
  auto t = of::Tree::from_dts("/dts-v1/;\n/ {\n#address-cells = <1>;\n#size-cells = <1>;\n" + body + "\n};\n", "test.dts");
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
  return t.ok() ? std::move(t).value() : nullptr;
}

inline Device* dev(Kernel& k, const std::string& name) {
  Device* d = k.core().find_device(name);
  EXPECT_NE(d, nullptr) << "no device " << name;
  return d;
}

}  // namespace modiommu::testing
