#include "sim/harness.h"

#include "board/pci_model.h"
#include "core/owner.h"
#include "core/pci.h"

namespace modiommu::sim {
namespace {

std::mutex& registry_lock() {
  static std::mutex m;
  return m;
}
std::map<const Kernel*, Harness*>& registry() {  // guarded by registry_lock()
  static std::map<const Kernel*, Harness*> r;
  return r;
}

// Firmware describes the master behind an IOMMU: `iommus` (or a legacy
// mmu-masters list) naming an enabled node (PCI masters get theirs from the
// PCI layer).
bool described_behind_iommu(const of::Node& n) {
  auto refs = of::iommu_refs(n);
  if (!refs.ok()) return true;  // malformed: assume the strict answer
  return of::first_enabled(*refs) != nullptr;
}

// A PCI function is behind an IOMMU when its host bridge's iommu-map maps
// the requester ID its DMA carries to an enabled IOMMU (BEHAVIOUR.md 4).
bool pci_behind_iommu(const PciHostModel& host, uint16_t dma_rid) {
  auto m = of::map_id(host.host(), dma_rid);
  if (!m.ok()) return true;  // malformed: assume the strict answer
  return m->kind == of::MappedId::Kind::mapped && m->iommu->available();
}

}  // namespace

hw::UpstreamPort* dma_port(Kernel& k, const Device& dev, bool* described) {
  if (!k.has_platform()) return nullptr;
  Platform& plat = k.platform();
  if (const PciDevice* pd = to_pci(&dev)) {
    PciHostModel* host = pd->host() && pd->host()->fwnode() ? plat.pci_host(pd->host()->fwnode()) : nullptr;
    const PciHostModel::Function* f = host ? host->function(pd->info().rid()) : nullptr;
    if (!f || !f->port) return nullptr;
    *described = pci_behind_iommu(*host, f->dma_rid);
    return f->port;
  }
  if (!dev.fwnode()) return nullptr;
  const PlatformModel* m = plat.model(dev.fwnode());
  if (!m || !m->port) return nullptr;
  *described = described_behind_iommu(*dev.fwnode());
  return m->port;
}

Harness::Harness(Kernel& k) : k_(k) {
  {
    std::lock_guard g(registry_lock());
    registry()[&k] = this;
  }
  k_.attach_observer(this);
}

Harness::~Harness() {
  k_.detach_observer(this);
  if (watching_) k_.machine().memory().set_table_read_observer(nullptr);
  std::lock_guard g(registry_lock());
  if (auto it = registry().find(&k_); it != registry().end() && it->second == this) registry().erase(it);
}

Harness* Harness::of(const Kernel& k) {
  std::lock_guard g(registry_lock());
  auto it = registry().find(&k);
  return it == registry().end() ? nullptr : it->second;
}

void Harness::check_table_walks() {
  if (!k_.has_platform()) return;
  watching_ = true;
  k_.machine().memory().set_table_read_observer([this](uint64_t pa) {
    if (!k_.pages().is_free(pa)) return;
    if (freed_table_walks_.fetch_add(1, std::memory_order_relaxed) < 5)
      k_.log().err("", "an IOMMU walked page-table memory at {:#x} that the kernel has freed", pa);
  });
}

// Before any device exists, a master's untranslated DMA is sanctioned
// exactly when firmware puts it behind no IOMMU.
void Harness::platform_built() {
  for (const PlatformModel* m : k_.platform().models())
    if (m->port) m->port->set_untranslated_allowed(!described_behind_iommu(*m->node));
  for (PciHostModel* h : k_.platform().pci_hosts())
    for (const auto& [rid, f] : h->functions())
      if (f.port) f.port->set_untranslated_allowed(!pci_behind_iommu(*h, f.dma_rid));
}

// Untranslated DMA is sanctioned when no IOMMU is described, in an identity
// domain, or under the bypass fallback (--missing-iommu=bypass).
void Harness::dma_policy_changed(Device& dev, DmaPolicyEvent) {
  bool described = false;
  hw::UpstreamPort* port = dma_port(k_, dev, &described);
  if (!port) return;
  bool allowed = !described;
  if (auto info = k_.iommu().info(dev))
    allowed = allowed || info->bypass_fallback || info->domain == iommu::DomainType::identity ||
              !info->left_out.empty();  // its IOMMU driver's policy: untranslated, as on Linux
  port->set_untranslated_allowed(allowed);
}

void Harness::endpoint_registered(Device& dev, DmaEndpoint* ep, CodeOwner* owner) {
  std::lock_guard g(endpoints_lock_);
  endpoints_[&dev] = {ep, owner};
}

void Harness::endpoint_unregistered(Device& dev) {
  std::lock_guard g(endpoints_lock_);
  endpoints_.erase(&dev);
}

std::vector<Device*> Harness::endpoint_devices() {
  std::lock_guard g(endpoints_lock_);
  std::vector<Device*> out;
  for (auto& [d, e] : endpoints_) out.push_back(d);
  return out;
}

Status Harness::with_endpoint(Device& dev, const std::function<Status(DmaEndpoint&)>& fn) {
  // The driver model stays quiet for the call, so the device stays bound
  // (its remove() cannot run); the pin keeps the module's code mapped.
  return k_.core().exclusive([&]() -> Status {
    EndpointReg reg;
    {
      std::lock_guard g(endpoints_lock_);
      auto it = endpoints_.find(&dev);
      if (it == endpoints_.end())
        return make_error(Errc::nodev, dev.name() + " has no DMA endpoint driver bound (state " +
                                           device_state_name(dev.state()) + ")");
      reg = it->second;
    }
    OwnerPin pin(reg.owner);
    if (!pin.ok()) return make_error(Errc::nodev, dev.name() + ": its driver's module is unloading");
    return fn(*reg.ep);
  });
}

}  // namespace modiommu::sim
