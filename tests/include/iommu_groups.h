// The IOMMU groups of a kernel as sets of device names (what `lsgroup` and
// the JSON's iommu_group per device say), for tests comparing them with
// Linux's figures.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "kernel/kernel.h"

namespace modiommu::test {

using Groups = std::set<std::set<std::string>>;

inline Groups groups_of(Kernel& k) {
  Groups out;
  for (const iommu::GroupSnapshot& grp : k.iommu().group_snapshots()) {
    std::set<std::string> members;
    for (const auto& m : grp.members) members.insert(m.name);
    out.insert(members);
  }
  return out;
}

inline std::string show(const Groups& gs) {
  std::string s;
  for (const auto& g : gs) {
    s += "{";
    for (const auto& n : g) s += n + " ";
    s += "} ";
  }
  return s;
}

}  // namespace modiommu::test
