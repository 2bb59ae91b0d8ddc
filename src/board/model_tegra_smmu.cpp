// Board glue for the Tegra SMMU model (hw/tegra): the memory-controller
// nodes whose SMMU is emulated, at the node's first reg window, raising the
// MC interrupt (INTERFACE.md "Emulated devices in a device tree").
#include <fmt/format.h>

#include "board/models.h"
#include "hw/tegra/tegra_smmu.h"

namespace modiommu {
namespace {

// Linux tegra_mc_of_match entries whose SoC data has an SMMU (arm64:
// Tegra132 and Tegra210; Tegra124 shares Tegra132's table). Tegra30 and
// Tegra114 (arm32, 4 ASIDs, another TLB_FLUSH ASID field) are not modelled.
const std::vector<std::string> kCompatibles = {"nvidia,tegra210-mc", "nvidia,tegra132-mc", "nvidia,tegra124-mc"};

Result<PlatformModel> create_tegra_smmu(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  const hw::tegra::SmmuSoc* soc = nullptr;
  for (const auto& c : n.compatible())
    if ((soc = hw::tegra::soc_for_compatible(c))) break;
  if (!soc) return make_error(Errc::nodev, n.path() + ": no Tegra SoC data for its compatible");
  hw::Machine& m = p.machine();
  hw::IrqLine* irq = nullptr;
  if (auto num = p.irq_number(n, 0); num.ok()) irq = &m.irq(num.value());
  else p.log().info("", "{}: no interrupt: SMMU faults only show in MC_ERR_STATUS", n.path());
  if (reg.size() > 1)
    p.log().debug("", "{}: {} reg windows; the SMMU is in the first, the rest (EMC broadcast channels) are not "
                  "modelled", n.path(), reg.size());
  auto smmu = std::make_shared<hw::tegra::TegraSmmu>(n.path(), m.memory(), *soc, irq);
  PlatformModel pm;
  pm.kind = "tegra-smmu";
  pm.base = TRY(n.translated_address(0));
  pm.size = reg[0].size;
  pm.mmio = smmu;
  pm.translator = smmu;
  return pm;
}

}  // namespace

ModelFactory tegra_smmu_model() { return {"tegra-smmu", kCompatibles, create_tegra_smmu}; }

}  // namespace modiommu
