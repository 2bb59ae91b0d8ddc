// pcieport: the driver of PCI-to-PCI bridges (class 0604), as Linux's
// drivers/pci/pcie/portdrv.c is for PCIe ports. It enables the port
// (memory decoding and bus mastering, so requests from below are forwarded
// upstream) and says what it is. Unlike Linux, it also takes the
// PCIe-to-PCI bridge, so every bridge shows a driver; no port services
// (AER, PME, hotplug interrupts) are modelled.
//
// A port's IOMMU group does not depend on this driver: the IOMMU core
// groups every PCI device when it is added.
#include <fmt/format.h>

#include "core/pci.h"
#include "kernel/driver_module.h"
#include "kernel/driver_context.h"
#include "module/module.h"
#include "uapi/pci_regs.h"

namespace modiommu::pcieport {
namespace {

using uapi::pci::COMMAND;
constexpr uint32_t kEnable = uapi::pci::COMMAND_MEMORY | uapi::pci::COMMAND_MASTER;

const char* port_name(std::optional<PciPortType> t) {
  if (!t) return "PCI-to-PCI bridge";
  switch (*t) {
    case PciPortType::root_port: return "PCIe root port";
    case PciPortType::upstream: return "PCIe switch upstream port";
    case PciPortType::downstream: return "PCIe switch downstream port";
    case PciPortType::pcie_to_pci_bridge: return "PCIe-to-PCI bridge";
    case PciPortType::pci_to_pcie_bridge: return "PCI-to-PCIe bridge";
    default: return "PCI-to-PCI bridge";
  }
}

class PortDriver : public Driver {
 public:
  explicit PortDriver(DriverContext& ctx) : ctx_(ctx) {
    name = "pcieport";
    bus = &ctx.pci().bus();
    of_match = {"pciclass,0604"};
  }

  Status probe(Device& dev) override {
    const PciDevice* pd = to_pci(&dev);
    if (!pd || !pd->info().bridge) return make_error(Errc::nodev, dev.name() + ": not a PCI bridge (type 1 header)");
    // pci_enable_device() + pci_set_master().
    const uint32_t cmd = TRY(ctx_.pci().read_config(*pd, COMMAND, 2));
    if ((cmd & kEnable) != kEnable) TRY(ctx_.pci().write_config(*pd, COMMAND, cmd | kEnable, 2));
    const PciInfo& i = pd->info();
    ctx_.log().info(dev.name(), "{} to buses {:02x}-{:02x}{}", port_name(i.port), i.secondary, i.subordinate,
                  i.acs_ctrl ? fmt::format(", ACS control {:#x}", i.acs_ctrl) : std::string());
    return {};
  }

  // Bus mastering stays on: functions below may still be bound and need
  // the port to forward their DMA.
  void remove(Device&) override {}

 private:
  DriverContext& ctx_;
};

}  // namespace
}  // namespace modiommu::pcieport

MODIOMMU_MODULE(pcieport, .version = "1.0", .license = "GPL-2.0",
                .description = "PCI port driver: enables PCIe ports and PCI-to-PCI bridges",
                .init = modiommu::driver_module_init<modiommu::pcieport::PortDriver>,
                .exit = modiommu::driver_module_exit<modiommu::pcieport::PortDriver>);
