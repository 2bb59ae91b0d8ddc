// Board glue for the Rockchip IOMMU model (hw/rockchip): which compatibles
// get one, one MMU per `reg` bank, the interrupt each bank raises
// (INTERFACE.md "Emulated devices in a device tree").
#include <algorithm>

#include <fmt/format.h>

#include "board/models.h"
#include "hw/rockchip/rk_iommu.h"

namespace modiommu {
namespace {

// Linux rockchip-iommu.c rk_iommu_dt_ids (6.1 and 6.12). RK3588 trees say
// "rockchip,rk3588-iommu", "rockchip,rk3568-iommu" and match the fallback.
const std::vector<std::string> kCompatibles = {"rockchip,iommu", "rockchip,rk3568-iommu"};

Result<PlatformModel> create_rockchip_iommu(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  hw::Machine& m = p.machine();
  const auto version = n.is_compatible("rockchip,rk3568-iommu") ? hw::rockchip::Version::v2 : hw::rockchip::Version::v1;

  // Interrupts are shared by the banks (Linux requests each line for all
  // of them, IRQF_SHARED): bank i raises line min(i, lines - 1).
  std::vector<hw::IrqLine*> lines;
  for (size_t i = 0;; ++i) {
    auto num = p.irq_number(n, i);
    if (!num.ok()) break;
    lines.push_back(&m.irq(num.value()));
  }

  std::vector<std::shared_ptr<hw::rockchip::RkMmu>> banks;
  std::vector<std::pair<uint64_t, uint64_t>> windows;
  for (size_t i = 0; i < reg.size(); ++i) {
    const uint64_t base = TRY(n.translated_address(i));
    hw::IrqLine* irq = lines.empty() ? nullptr : lines[std::min(i, lines.size() - 1)];
    banks.push_back(std::make_shared<hw::rockchip::RkMmu>(fmt::format("{}[{}]", n.path(), i), m.memory(), version, irq));
    windows.emplace_back(base, reg[i].size);
  }
  if (lines.empty()) p.log().info("", "{}: no interrupt: page faults only show in the registers", n.path());
  if (n.has("clocks") || n.has("power-domains"))
    p.log().debug("", "{}: clocks and power domains are not modelled (always on)", n.path());

  // Banks after the first are mapped here; the platform maps the first
  // (PlatformModel has one window) after checking it.
  for (size_t i = 1; i < banks.size(); ++i) {
    const auto [base, size] = windows[i];
    for (const auto& r : m.memory().regions())
      if (size && base < r.base + r.size && r.base < base + size)
        return make_error(Errc::exist, fmt::format("bank {} [{:#x}, +{:#x}) overlaps RAM", i, base, size));
    if (const PlatformModel* o = p.model_overlapping(base, size, &n))
      return make_error(Errc::exist, fmt::format("bank {} [{:#x}, +{:#x}) overlaps the registers of {}", i, base,
                                                 size, o->node->path()));
  }
  for (size_t i = 1; i < banks.size(); ++i)
    if (Status s = m.add_device(windows[i].first, windows[i].second, banks[i]); !s.ok())
      return make_error(Errc::exist, fmt::format("bank {}: {}", i, s.error().message));

  auto iommu = std::make_shared<hw::rockchip::RkIommu>(banks);
  PlatformModel pm;
  pm.kind = "rockchip-iommu";
  pm.base = windows[0].first;
  pm.size = windows[0].second;
  pm.mmio = banks[0];
  pm.translator = iommu;
  return pm;
}

}  // namespace

ModelFactory rockchip_iommu_model() { return {"rockchip-iommu", kCompatibles, create_rockchip_iommu}; }

}  // namespace modiommu
