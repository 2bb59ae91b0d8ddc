// Board glue for the Renesas IPMMU-VMSA model (hw/ipmmu): its compatibles,
// the generation each implies and the root a cache IPMMU names with
// renesas,ipmmu-main (INTERFACE.md "Emulated devices in a device tree").
#include "board/models.h"
#include "hw/ipmmu/ipmmu.h"

namespace modiommu {
namespace {

// Linux ipmmu_of_ids (6.1 and 6.12). SoC strings without their own entry
// (renesas,ipmmu-r8a7790, renesas,ipmmu-r8a779f0, ...) match through the
// renesas,ipmmu-vmsa / renesas,rcar-gen4-ipmmu-vmsa fallback they carry.
const std::vector<std::string> kGen3 = {
    "renesas,ipmmu-r8a774a1", "renesas,ipmmu-r8a774b1", "renesas,ipmmu-r8a774c0", "renesas,ipmmu-r8a774e1",
    "renesas,ipmmu-r8a7795",  "renesas,ipmmu-r8a7796",  "renesas,ipmmu-r8a77961", "renesas,ipmmu-r8a77965",
    "renesas,ipmmu-r8a77970", "renesas,ipmmu-r8a77980", "renesas,ipmmu-r8a77990", "renesas,ipmmu-r8a77995",
};
const std::vector<std::string> kGen4 = {"renesas,ipmmu-r8a779a0", "renesas,rcar-gen4-ipmmu-vmsa"};

std::vector<std::string> all_compatibles() {
  std::vector<std::string> v = {"renesas,ipmmu-vmsa"};
  v.insert(v.end(), kGen3.begin(), kGen3.end());
  v.insert(v.end(), kGen4.begin(), kGen4.end());
  return v;
}

// The first match of Linux's table decides, in its order (a Gen3 SoC
// string is listed before the Gen2 fallback can apply).
hw::ipmmu::Generation generation(const of::Node& n) {
  for (const auto& c : kGen3)
    if (n.is_compatible(c)) return hw::ipmmu::Generation::gen3;
  for (const auto& c : kGen4)
    if (n.is_compatible(c)) return hw::ipmmu::Generation::gen4;
  return hw::ipmmu::Generation::gen2;
}

Result<PlatformModel> create_ipmmu(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  const uint64_t base = TRY(n.translated_address(0));
  hw::Machine& m = p.machine();
  const hw::ipmmu::Generation gen = generation(n);
  hw::ipmmu::Features f = hw::ipmmu::features_for(gen);

  // A cache IPMMU (Gen3/Gen4 with renesas,ipmmu-main) translates through
  // its root's contexts; Gen2 instances are all roots (Linux ipmmu_probe).
  hw::ipmmu::Ipmmu::RootResolver resolver;
  if (gen != hw::ipmmu::Generation::gen2 && n.has("renesas,ipmmu-main")) {
    const of::Node* root = nullptr;
    if (auto c = n.prop("renesas,ipmmu-main")->cell(0)) root = n.tree().by_phandle(*c);
    if (!root) return make_error(Errc::inval, n.path() + ": renesas,ipmmu-main names no node");
    Platform* plat = &p;
    resolver = [plat, root]() -> std::shared_ptr<hw::ipmmu::Ipmmu> {
      const PlatformModel* pm = plat->model(root);
      return pm ? std::dynamic_pointer_cast<hw::ipmmu::Ipmmu>(pm->mmio) : nullptr;
    };
  }
  hw::IrqLine* irq = nullptr;
  if (auto num = p.irq_number(n, 0); num.ok()) irq = &m.irq(*num);
  if (n.has("clocks") || n.has("power-domains"))
    p.log().debug("", "{}: clocks and power domains are not modelled (always on)", n.path());

  auto mmu = std::make_shared<hw::ipmmu::Ipmmu>(n.path(), m.memory(), f, irq, std::move(resolver));
  PlatformModel pm;
  pm.kind = "ipmmu-vmsa";
  pm.base = base;
  pm.size = std::max<uint64_t>(reg[0].size, mmu->region_size());
  pm.mmio = mmu;
  pm.translator = mmu;
  return pm;
}

}  // namespace

ModelFactory ipmmu_model() { return {"ipmmu-vmsa", all_compatibles(), create_ipmmu}; }

}  // namespace modiommu
