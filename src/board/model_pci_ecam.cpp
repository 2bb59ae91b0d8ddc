// Board glue for the PCIe ECAM host bridge: a "pci-host-ecam-generic" node
// gets the ECAM window and a PciHostModel that builds the functions below
// it (board/pci_model.h).
#include <algorithm>

#include "board/models.h"
#include "board/pci_model.h"
#include "hw/pci/ecam.h"

namespace modiommu {

namespace {

Result<PlatformModel> create_pci_ecam(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg (the ECAM window)");
  const uint64_t base = TRY(n.translated_address(0));
  unsigned first = 0, last = static_cast<unsigned>(std::min<uint64_t>(reg[0].size >> 20, 256) - 1);
  if (reg[0].size < (1u << 20)) return make_error(Errc::inval, n.path() + ": ECAM window below 1 MiB (one bus)");
  if (const of::Property* br = n.prop("bus-range")) {
    auto c = TRY(br->cells());
    if (c.size() != 2 || c[0] > c[1] || c[1] > 255)
      return make_error(Errc::inval, n.path() + ": bus-range must be <first last> within 0-255");
    first = c[0];
    last = std::min<unsigned>(c[1], first + last);
  }
  auto ecam = std::make_shared<hw::pci::PciEcam>(n.path(), first, last);
  auto host = std::make_shared<PciHostModel>(n, ecam, p);
  TRY(host->populate());
  p.add_pci_host(&n, host);
  PlatformModel pm;
  pm.kind = "pci-host-ecam";
  pm.base = base;
  pm.size = ecam->window_size();
  pm.mmio = ecam;
  pm.extra = host;
  // Its functions' DMA masters stop with the board's other masters.
  pm.stop = [fabric = host.get()] { fabric->stop(); };
  return pm;
}

}  // namespace

ModelFactory pci_ecam_model() { return {"pci-host-ecam", {"pci-host-ecam-generic"}, create_pci_ecam}; }

}  // namespace modiommu
