// Board glue for the Qualcomm MSM IOMMU model (hw/qcom): the IOMMU node
// ("qcom,msm-iommu-v1", with its SoC strings) and its context bank children
// ("qcom,msm-iommu-v1-ns" / "-sec"), each bank numbered by its reg / 0x1000
// (Linux qcom_iommu.c get_asid) with its own window and interrupt
// (INTERFACE.md "Emulated devices in a device tree"). What TZ's stream
// matching would do is fixed here: a master's `iommus` cell is the bank its
// transactions go to.
#include "board/models.h"
#include "hw/qcom/qcom_iommu.h"

namespace modiommu {
namespace {

// Linux 6.1 / 6.12 qcom_iommu_of_match and qcom,iommu.yaml.
const std::vector<std::string> kIommu = {"qcom,msm-iommu-v1", "qcom,msm8916-iommu", "qcom,msm8953-iommu",
                                         "qcom,msm8976-iommu"};
const std::vector<std::string> kContext = {"qcom,msm-iommu-v1-ns", "qcom,msm-iommu-v1-sec"};

Result<PlatformModel> create_iommu(const of::Node& n, Platform& p) {
  auto mmu = std::make_shared<hw::qcom::QcomIommu>(n.path(), p.machine().memory());
  PlatformModel pm;
  pm.kind = "qcom-iommu";
  pm.translator = mmu;
  // The local registers (reg is optional in the binding).
  if (auto reg = n.reg(); reg.ok() && !reg->empty()) {
    pm.base = TRY(n.translated_address(0));
    pm.size = (*reg)[0].size;
    pm.mmio = mmu;
  } else {
    pm.extra = mmu;
  }
  if (n.has("clocks") || n.has("power-domains"))
    p.log().debug("", "{}: clocks and power domains are not modelled (always on)", n.path());
  return pm;
}

Result<PlatformModel> create_context(const of::Node& n, Platform& p) {
  const of::Node* parent = n.parent();
  const PlatformModel* ppm = parent ? p.model(parent) : nullptr;
  auto mmu = ppm ? std::dynamic_pointer_cast<hw::qcom::QcomIommu>(ppm->translator) : nullptr;
  if (!mmu) return make_error(Errc::nodev, n.path() + ": its parent is no modelled qcom,msm-iommu-v1");
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  const uint64_t ctx = reg[0].address / hw::qcom::kContextSpan;
  hw::IrqLine* irq = nullptr;
  if (auto num = p.irq_number(n, 0); num.ok()) irq = &p.machine().irq(*num);
  if (ctx >= hw::qcom::kMaxContexts || !mmu->add_context(static_cast<unsigned>(ctx), irq))
    return make_error(Errc::inval, n.path() + ": context bank " + std::to_string(ctx) + " is out of range or taken");
  PlatformModel pm;
  pm.kind = "qcom-iommu-ctx";
  pm.base = TRY(n.translated_address(0));
  pm.size = std::max<uint64_t>(reg[0].size, hw::qcom::kContextSpan);
  pm.mmio = hw::qcom::QcomIommu::context_window(mmu, static_cast<unsigned>(ctx));
  return pm;
}

}  // namespace

ModelFactory qcom_iommu_model() { return {"qcom-iommu", kIommu, create_iommu}; }
ModelFactory qcom_iommu_ctx_model() { return {"qcom-iommu-ctx", kContext, create_context}; }

}  // namespace modiommu
