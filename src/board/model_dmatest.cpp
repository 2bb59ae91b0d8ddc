// Board glue for the platform DMA test master (hw/dmatest.h): a
// "modiommu,dmatest" node gets one, its port wired upstream by `iommus`.
#include <algorithm>

#include "board/models.h"
#include "hw/dmatest.h"

namespace modiommu {

namespace {

Result<PlatformModel> create_dmatest(const of::Node& n, Platform& p) {
  auto win = TRY(node_window(n));
  hw::IrqLine* irq = nullptr;
  if (auto e = p.irq_number(n, size_t{0}); e.ok()) irq = &p.machine().irq(*e);
  auto dt = std::make_shared<hw::DmaTest>(n.path(), p.machine().memory(), 1 << 20, irq);
  PlatformModel pm;
  pm.kind = "dmatest";
  pm.base = win.first;
  pm.size = std::max<uint64_t>(win.second, hw::DmaTest::kRegionSize);
  pm.mmio = dt;
  pm.port = &dt->port();
  // A master may be mid-transfer on its own thread at teardown.
  pm.stop = [master = dt.get()] { master->stop(); };
  return pm;
}

}  // namespace

ModelFactory dmatest_model() { return {"dmatest", {"modiommu,dmatest"}, create_dmatest}; }

}  // namespace modiommu
