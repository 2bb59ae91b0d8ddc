// Board glue for the Allwinner sun50i IOMMU model (hw/sun50i): which
// compatibles get one, its register window and interrupt (INTERFACE.md
// "Emulated devices in a device tree").
#include <fmt/format.h>

#include "board/models.h"
#include "hw/sun50i/sun50i_iommu.h"

namespace modiommu {
namespace {

// Linux sun50i_iommu_dt: "allwinner,sun50i-h6-iommu" (6.1, 6.12) and
// "allwinner,sun50i-h616-iommu" (binding since 6.4; H616 trees also list
// the h6 fallback).
const std::vector<std::string> kCompatibles = {"allwinner,sun50i-h6-iommu", "allwinner,sun50i-h616-iommu"};

Result<PlatformModel> create_sun50i_iommu(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  hw::Machine& m = p.machine();
  hw::IrqLine* irq = nullptr;
  if (auto num = p.irq_number(n, 0); num.ok()) irq = &m.irq(num.value());
  else p.log().info("", "{}: no interrupt: faults only show in the registers", n.path());
  if (n.has("clocks") || n.has("resets"))
    p.log().debug("", "{}: clock and reset line are not modelled (always on, out of reset)", n.path());
  auto iommu = std::make_shared<hw::sun50i::Sun50iIommu>(n.path(), m.memory(), irq);
  PlatformModel pm;
  pm.kind = "sun50i-iommu";
  pm.base = TRY(n.translated_address(0));
  pm.size = reg[0].size;
  pm.mmio = iommu;
  pm.translator = iommu;
  return pm;
}

}  // namespace

ModelFactory sun50i_iommu_model() { return {"sun50i-iommu", kCompatibles, create_sun50i_iommu}; }

}  // namespace modiommu
