// Board glue for the SMMUv3 model (hw/smmuv3, IHI 0070): an "arm,smmu-v3"
// node gets one, with its wired interrupts and the stream ID width the node
// asks for.
#include <algorithm>

#include <fmt/format.h>

#include "board/models.h"
#include "hw/smmuv3/smmuv3.h"

namespace modiommu {

namespace {

Result<PlatformModel> create_smmuv3(const of::Node& n, Platform& p) {
  auto win = TRY(node_window(n));
  hw::smmuv3::Irqs irqs;
  hw::Machine& m = p.machine();
  if (auto e = p.irq_number(n, "eventq"); e.ok()) irqs.eventq = &m.irq(*e);
  if (auto e = p.irq_number(n, "gerror"); e.ok()) irqs.gerror = &m.irq(*e);
  if (auto e = p.irq_number(n, "cmdq-sync"); e.ok()) irqs.cmdq_sync = &m.irq(*e);
  hw::smmuv3::Features f;
  // IDR1.SIDSIZE is the implementation's (QEMU: 16, MMU-600: up to 32).
  if (auto bits = n.u32("modiommu,sid-bits")) {
    if (*bits < 1 || *bits > 32)
      return make_error(Errc::inval, fmt::format("{}: modiommu,sid-bits = {} is not 1..32", n.path(), *bits));
    f.sid_bits = *bits;
  }
  auto smmu = std::make_shared<hw::smmuv3::SmmuV3>(n.path(), m.memory(), f, irqs);
  PlatformModel pm;
  pm.kind = "smmu-v3";
  pm.base = win.first;
  pm.size = std::max<uint64_t>(win.second, 0x20000);
  pm.mmio = smmu;
  pm.translator = smmu;
  return pm;
}

}  // namespace

ModelFactory smmuv3_model() { return {"smmu-v3", {"arm,smmu-v3"}, create_smmuv3}; }

}  // namespace modiommu
