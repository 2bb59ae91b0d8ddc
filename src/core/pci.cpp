#include "core/pci.h"

#include <algorithm>

#include <fmt/format.h>

#include "of/tree.h"

namespace modiommu {

namespace {
// ACS bits that must be enabled on each port for isolation (Linux REQ_ACS_FLAGS).
using uapi::pci::ACS_REQUIRED;
}  // namespace

std::string pci_bdf(uint16_t domain, uint8_t bus, uint8_t devfn) {
  return fmt::format("{:04x}:{:02x}:{:02x}.{}", domain, bus, devfn >> 3, devfn & 7);
}

PciDevice::PciDevice(PciInfo info, Bus* bus, const of::Node* fwnode, Device* host, PciDevice* upstream)
    : Device(pci_bdf(info.domain, info.bus, info.devfn), bus, fwnode, upstream ? static_cast<Device*>(upstream) : host),
      info_(info), host_(host), upstream_(upstream) {}

std::string PciDevice::path() const { return name(); }

std::vector<std::string> PciDevice::compatible() const {
  return {fmt::format("pci{:04x},{:04x}", info_.vendor, info_.device), fmt::format("pciclass,{:06x}", info_.class_code),
          fmt::format("pciclass,{:04x}", info_.class_code >> 8)};
}

std::vector<std::string> PciBus::modaliases(const Device& dev) const {
  const PciDevice* p = to_pci(&dev);
  if (!p) return Bus::modaliases(dev);
  const PciInfo& i = p->info();
  return {fmt::format("pci:v{:08X}d{:08X}sv00000000sd00000000bc{:02X}sc{:02X}i{:02X}", i.vendor, i.device, i.class_code >> 16,
                      (i.class_code >> 8) & 0xff, i.class_code & 0xff)};
}

PciDevice* to_pci(Device* dev) { return dynamic_cast<PciDevice*>(dev); }
const PciDevice* to_pci(const Device* dev) { return dynamic_cast<const PciDevice*>(dev); }

void pci_for_each_dma_alias(const PciDevice& dev, const std::function<void(uint16_t rid)>& fn) {
  fn(dev.info().rid());
  for (const PciDevice* up = dev.upstream(); up; up = up->upstream())
    if (up->info().port == PciPortType::pcie_to_pci_bridge) fn(static_cast<uint16_t>(up->info().secondary << 8));
}

bool pci_acs_path_isolated(const PciDevice& dev) {
  for (const PciDevice* up = dev.upstream(); up; up = up->upstream()) {
    const bool port = up->info().port == PciPortType::root_port || up->info().port == PciPortType::downstream;
    if (port && (up->info().acs_ctrl & ACS_REQUIRED) != ACS_REQUIRED) return false;
  }
  return true;
}

bool pci_function_acs_isolated(const PciDevice& dev) { return (dev.info().acs_ctrl & ACS_REQUIRED) == ACS_REQUIRED; }

const Device* pci_group_anchor(const PciDevice& dev) {
  const Device* anchor = &dev;
  // Aliases: the topmost PCIe-to-PCI bridge speaks for all below it.
  for (const PciDevice* up = dev.upstream(); up; up = up->upstream())
    if (up->info().port == PciPortType::pcie_to_pci_bridge) anchor = up;
  // No ACS on a port: everything below the highest such port shares.
  for (const PciDevice* up = dev.upstream(); up; up = up->upstream()) {
    const bool port = up->info().port == PciPortType::root_port || up->info().port == PciPortType::downstream;
    if (port && (up->info().acs_ctrl & ACS_REQUIRED) != ACS_REQUIRED) anchor = up;
  }
  return anchor;
}

// What firmware says about the device's IOMMU: `iommus` / mmu-masters for
// device-tree devices; for PCI, each requester ID its DMA may carry
// (pci_for_each_dma_alias) through the host bridge's iommu-map
// (BEHAVIOUR.md 4: no map, no IOMMU; an ID outside every entry, not behind
// it; a malformed map, an error).
Result<of::IommuRefs> firmware_iommu_refs(const Device& dev) {
  if (const PciDevice* pd = to_pci(&dev)) {
    of::IommuRefs r;
    const of::Node* host = pd->host() ? pd->host()->fwnode() : nullptr;
    if (!host) return r;
    std::vector<uint16_t> rids;
    pci_for_each_dma_alias(*pd, [&](uint16_t rid) { rids.push_back(rid); });
    for (uint16_t rid : rids) {
      auto m = of::map_id(*host, rid);
      if (!m.ok()) return make_error(Errc::inval, "iommu-map: " + m.error().message);
      if (m->kind != of::MappedId::Kind::mapped) continue;
      r.refs.push_back(of::PhandleArgs{m->iommu, {m->id}});
    }
    return r;
  }
  if (!dev.fwnode()) return of::IommuRefs{};
  return of::iommu_refs(*dev.fwnode());
}

void PciCore::register_host(PciHost* h) {
  std::lock_guard g(lock_);
  hosts_.push_back(h);
}

void PciCore::unregister_host(PciHost* h) {
  std::lock_guard g(lock_);
  std::erase(hosts_, h);
}

std::vector<PciHost*> PciCore::hosts() const {
  std::lock_guard g(lock_);
  return hosts_;
}

PciHost* PciCore::host_of(const PciDevice& dev) const {
  std::lock_guard g(lock_);
  for (PciHost* h : hosts_)
    if (&h->device() == dev.host()) return h;
  return nullptr;
}

Result<uint32_t> PciCore::read_config(const PciDevice& dev, uint32_t off, unsigned size) const {
  PciHost* h = host_of(dev);
  if (!h) return make_error(Errc::nodev, dev.name() + ": no host bridge driver for configuration access");
  return h->config_read(dev.info().rid(), off, size);
}

Status PciCore::write_config(const PciDevice& dev, uint32_t off, uint32_t value, unsigned size) const {
  PciHost* h = host_of(dev);
  if (!h) return make_error(Errc::nodev, dev.name() + ": no host bridge driver for configuration access");
  return h->config_write(dev.info().rid(), off, value, size);
}

}  // namespace modiommu
