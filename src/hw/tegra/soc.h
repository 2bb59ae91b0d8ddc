// NVIDIA Tegra memory-controller SoC data the SMMU needs: which memory
// clients exist, the swgroup each belongs to and its translation-enable
// bit, each swgroup's ASID register (Linux drivers/memory/tegra/tegra210.c
// and tegra124.c, the tegra_mc_client and tegra_smmu_swgroup tables; the
// swgroup numbers are include/dt-bindings/memory/tegra*-mc.h's).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace modiommu::hw::tegra {

struct McClient {
  uint8_t id;        // the ID MC_ERR_STATUS reports
  uint8_t swgroup;   // TEGRA_SWGROUP_*
  uint16_t smmu_reg; // MC_SMMU_TRANSLATION_ENABLE_n
  uint8_t smmu_bit;
  bool write;        // a write client (names ending in w/wr/swr)
  const char* name;
};

struct Swgroup {
  uint8_t swgroup;
  uint16_t asid_reg;  // SMMU_<name>_ASID
  const char* name;
};

struct SmmuSoc {
  const char* name;
  std::span<const McClient> clients;
  std::span<const Swgroup> swgroups;
  unsigned num_asids;
  unsigned num_tlb_lines;
  unsigned address_bits;  // physical address bits the tables carry
};

const SmmuSoc& tegra210_soc();
// Tegra132 uses Tegra124's client table (Linux tegra132_mc_soc).
const SmmuSoc& tegra124_soc();
// The SoC data for an MC compatible, or null.
const SmmuSoc* soc_for_compatible(std::string_view compatible);

const Swgroup* find_swgroup(const SmmuSoc& soc, unsigned swgroup);

}  // namespace modiommu::hw::tegra
