// Board glue for the ARM SMMU v1/v2 model (hw/smmuv2, IHI 0062): which
// compatibles get one, and the implementation choices a device-tree node
// implies (INTERFACE.md "Emulated devices in a device tree").
#include <algorithm>

#include "board/models.h"
#include "hw/smmuv2/smmuv2.h"

namespace modiommu {
namespace {

// Linux arm-smmu's match table plus the SoC strings that stand on their own.
// SoC-specific names with an arm,* fallback (qcom,sc7180-smmu-500,
// marvell,ap806-smmu-500, ...) match through the fallback.
const std::vector<std::string> kCompatibles = {
    "arm,smmu-v1", "arm,smmu-v2", "arm,mmu-400", "arm,mmu-401", "arm,mmu-500",
    "qcom,smmu-v2", "qcom,smmu-500", "cavium,smmu-v2", "nvidia,smmu-500",
};

bool is_v1(const of::Node& n) {
  return n.is_compatible("arm,smmu-v1") || n.is_compatible("arm,mmu-400") || n.is_compatible("arm,mmu-401");
}

// Things some trees' SMMUs rely on that this model leaves out, said once per
// node so a user knows where the emulation differs from the board.
void note_gaps(const of::Node& n, Log& log) {
  const std::string p = n.path();
  if (n.is_compatible("qcom,adreno-smmu"))
    log.info("", "{}: qcom,adreno-smmu split page tables (TTBR1 for the GPU) are not modelled: TTBR1 walks fault", p);
  if (n.is_compatible("qcom,smmu-500") || n.is_compatible("qcom,smmu-v2"))
    log.info("", "{}: Qualcomm implementation details (hypervisor-owned SMRs, secure context banks, TBU "
             "registers) are not modelled: it behaves as a plain {}", p, is_v1(n) ? "SMMUv1" : "SMMUv2");
  if (n.is_compatible("nvidia,smmu-500"))
    log.info("", "{}: NVIDIA's interleaved SMMU-500 instances (several reg windows) are modelled as one", p);
  if (n.has("clocks") || n.has("power-domains"))
    log.debug("", "{}: clocks and power domains are not modelled (always on)", p);
}

Result<PlatformModel> create_arm_smmu(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  const uint64_t base = TRY(n.translated_address(0));
  hw::Machine& m = p.machine();

  // IHI 0062: the first #global-interrupts lines are global fault
  // interrupts, the rest one per context bank (Linux requires, for SMMUv2,
  // at least as many context interrupts as context banks).
  size_t total = 0;
  while (p.irq_number(n, total).ok()) ++total;
  const size_t global = std::min<size_t>(n.u32("#global-interrupts").value_or(1), total);
  hw::smmuv2::Irqs irqs;
  auto line = [&](size_t i) {
    auto num = p.irq_number(n, i);
    return &m.irq(*num);  // exists: i < total
  };
  if (global > 0) irqs.global = line(0);
  for (size_t i = global; i < total && irqs.context.size() < 128; ++i) irqs.context.push_back(line(i));

  hw::smmuv2::Features f;
  const bool v1 = is_v1(n);
  f.version = v1 ? hw::smmuv2::Version::v1 : hw::smmuv2::Version::v2;
  // v1 context interrupts may be shared (Juno's MMU-401 has one line for
  // all banks): the bank count is the implementation's. v2: one line each.
  if (v1) f.num_cb = n.is_compatible("arm,mmu-400") ? 4 : 8;
  else f.num_cb = static_cast<unsigned>(std::clamp<size_t>(irqs.context.size(), 1, 128));
  f.num_smrg = v1 ? 32 : 127;
  f.sid_bits = 15;
  note_gaps(n, p.log());

  auto smmu = std::make_shared<hw::smmuv2::SmmuV2>(n.path(), m.memory(), f, irqs);
  if (reg[0].size != smmu->region_size())
    p.log().debug("", "{}: reg window {:#x} vs the model's {} context banks in {:#x} of registers", n.path(),
                  reg[0].size, f.num_cb, smmu->region_size());
  PlatformModel pm;
  pm.kind = "arm-smmu";
  pm.base = base;
  pm.size = std::max<uint64_t>(reg[0].size, smmu->region_size());
  pm.mmio = smmu;
  pm.translator = smmu;
  return pm;
}

}  // namespace

ModelFactory arm_smmu_model() { return {"arm-smmu", kCompatibles, create_arm_smmu}; }

}  // namespace modiommu
