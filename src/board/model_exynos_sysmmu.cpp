// Board glue for the Exynos SysMMU model (hw/exynos): which compatibles get
// one, its version, its interrupt (INTERFACE.md "Emulated devices in a
// device tree").
#include <fmt/format.h>

#include "board/models.h"
#include "hw/exynos/sysmmu.h"

namespace modiommu {
namespace {

// Linux exynos-iommu.c sysmmu_of_match (6.1 and 6.12): one compatible for
// every version; the driver reads the version from REG_MMU_VERSION.
const std::vector<std::string> kCompatibles = {"samsung,exynos-sysmmu"};

// The version the part reports: the node's "modiommu,sysmmu-version"
// ("v1", "v5", "v7", "v7-vm"), else by the SoC (the root's compatible):
// Exynos 5433 and 7 carry v5 SysMMUs, Exynos 850 v7, ExynosAuto v9 v7 with
// the VM block (Linux commits adding those variants), older SoCs v1..v3.
Result<hw::exynos::Version> sysmmu_version(const of::Node& n) {
  using hw::exynos::Version;
  if (const of::Property* p = n.prop("modiommu,sysmmu-version")) {
    const std::string s = p->str();
    if (s == "v1") return Version::v1;
    if (s == "v5") return Version::v5;
    if (s == "v7") return Version::v7;
    if (s == "v7-vm") return Version::v7_vm;
    return make_error(Errc::inval, fmt::format("{}: modiommu,sysmmu-version \"{}\": want v1, v5, v7 or v7-vm",
                                               n.path(), s));
  }
  const of::Node* root = &n;
  while (root->parent()) root = root->parent();
  if (root->is_compatible("samsung,exynosautov9")) return Version::v7_vm;
  if (root->is_compatible("samsung,exynos850")) return Version::v7;
  if (root->is_compatible("samsung,exynos5433") || root->is_compatible("samsung,exynos7")) return Version::v5;
  return Version::v1;
}

Result<PlatformModel> create_exynos_sysmmu(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  const auto version = TRY(sysmmu_version(n));
  hw::Machine& m = p.machine();
  hw::IrqLine* irq = nullptr;
  if (auto num = p.irq_number(n, 0); num.ok()) irq = &m.irq(num.value());
  else p.log().info("", "{}: no interrupt: faults only show in the registers", n.path());
  if (n.has("clocks") || n.has("power-domains"))
    p.log().debug("", "{}: clocks and power domains are not modelled (always on)", n.path());
  auto mmu = std::make_shared<hw::exynos::Sysmmu>(n.path(), m.memory(), version, irq);
  PlatformModel pm;
  pm.kind = "exynos-sysmmu";
  pm.base = TRY(n.translated_address(0));
  pm.size = reg[0].size;
  pm.mmio = mmu;
  pm.translator = mmu;
  return pm;
}

}  // namespace

ModelFactory exynos_sysmmu_model() { return {"exynos-sysmmu", kCompatibles, create_exynos_sysmmu}; }

}  // namespace modiommu
