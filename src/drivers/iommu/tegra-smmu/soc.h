// The SoC data the tegra-smmu driver needs (Linux struct tegra_smmu_soc and
// the MC client table): memory clients with their swgroup and translation
// enable bit, each swgroup's ASID register, the groups that put several
// swgroups in one IOMMU group, ASID and TLB-line counts.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace modiommu::tegra_smmu {

struct McClient {
  uint8_t id;        // the ID MC_ERR_STATUS reports
  uint8_t swgroup;   // TEGRA_SWGROUP_*
  uint16_t smmu_reg; // MC_SMMU_TRANSLATION_ENABLE_n
  uint8_t smmu_bit;
  bool write;
  const char* name;
};

struct Swgroup {
  uint8_t swgroup;
  uint16_t asid_reg;  // SMMU_<name>_ASID
  const char* name;
};

// Linux tegra_smmu_group_soc: swgroups that share one IOMMU group.
struct SwgroupGroup {
  const char* name;
  std::span<const uint8_t> swgroups;
};

struct SmmuSoc {
  const char* name;
  std::span<const McClient> clients;
  std::span<const Swgroup> swgroups;
  std::span<const SwgroupGroup> groups;
  unsigned num_asids;
  unsigned num_tlb_lines;
  unsigned address_bits;
};

const SmmuSoc& tegra210_soc();
const SmmuSoc& tegra124_soc();  // Tegra124 and Tegra132 (Linux tegra132_mc_soc uses its clients)
const SmmuSoc* soc_for_compatible(std::string_view compatible);
const Swgroup* find_swgroup(const SmmuSoc& soc, unsigned swgroup);
const SwgroupGroup* find_group(const SmmuSoc& soc, unsigned swgroup);
const McClient* find_client(const SmmuSoc& soc, unsigned id);

}  // namespace modiommu::tegra_smmu
