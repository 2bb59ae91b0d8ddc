#include "kernel/platform.h"

#include <algorithm>

#include "hw/dmatest.h"
#include "hw/smmuv3/smmuv3.h"
#include "kernel/pci_model.h"

namespace modiommu {

std::vector<ModelFactory>& model_factories() {
  static std::vector<ModelFactory> f;
  return f;
}

namespace {

constexpr uint64_t kDefaultRamBase = 0x40000000;
constexpr uint64_t kDefaultRamSize = 1ull << 30;
constexpr uint64_t kKernelRamCap = 4ull << 30;

Result<std::pair<uint64_t, uint64_t>> node_window(const of::Node& n) {
  auto reg = n.reg();
  if (!reg.ok()) return std::move(reg).error();
  if (reg->empty()) return make_error(Errc::inval, n.path() + ": no reg");
  auto base = n.translated_address(0);
  if (!base.ok()) return std::move(base).error();
  return std::pair{*base, (*reg)[0].size};
}

// The models of this layer; PCI and virtio add theirs from their own files.
ModelFactoryRegistrar smmuv3_factory({"smmu-v3", {"arm,smmu-v3"}, [](const of::Node& n, Platform& p) -> Result<PlatformModel> {
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
}});

ModelFactoryRegistrar dmatest_factory({"dmatest", {"modiommu,dmatest"}, [](const of::Node& n, Platform& p) -> Result<PlatformModel> {
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
  return pm;
}});

}  // namespace

void Platform::add_pci_host(const of::Node* node, std::shared_ptr<PciHostModel> host) {
  pci_hosts_[node] = std::move(host);
}

PciHostModel* Platform::pci_host(const of::Node* node) const {
  auto it = pci_hosts_.find(node);
  return it == pci_hosts_.end() ? nullptr : it->second.get();
}

std::vector<PciHostModel*> Platform::pci_hosts() const {
  std::vector<PciHostModel*> out;
  for (auto& [n, h] : pci_hosts_) out.push_back(h.get());
  return out;
}

Platform::~Platform() {
  // Stop DMA masters before the models they talk to go away.
  for (auto& [n, m] : models_)
    if (auto dt = std::dynamic_pointer_cast<hw::DmaTest>(m.mmio)) dt->stop();
}

Status Platform::add_ram() {
  hw::PhysicalMemory& mem = machine_->memory();
  for (of::Node* n : tree_.nodes()) {
    auto dt = n->prop("device_type");
    if (!dt || dt->str() != "memory" || !n->available()) continue;
    auto reg = n->reg();
    if (!reg.ok()) {
      log_.err("", "memory node {}: {}", n->path(), reg.error().message);
      continue;
    }
    for (const auto& r : *reg) {
      if (r.size == 0) continue;  // filled in by a bootloader on the real board
      Status s = mem.add_ram(r.address, r.size, n->path());
      if (!s.ok()) log_.err("", "memory node {}: {}", n->path(), s.error().message);
    }
  }
  auto regions = mem.regions();
  if (regions.empty()) {
    TRY(mem.add_ram(kDefaultRamBase, kDefaultRamSize, "default RAM"));
    log_.info("", "no RAM described (or sizes left to the bootloader): 1 GiB of RAM at {:#x}", kDefaultRamBase);
    regions = mem.regions();
  }
  auto big = std::max_element(regions.begin(), regions.end(), [](auto& a, auto& b) { return a.size < b.size; });
  // Page-align: a region may start or end mid-page on odd boards.
  const uint64_t start = (big->base + 0xfff) & ~0xfffull;
  const uint64_t end = std::min<uint64_t>((big->base + big->size) & ~0xfffull, start + kKernelRamCap);
  ram_base_ = start;
  ram_size_ = end > start ? end - start : 0;
  return {};
}

Result<std::unique_ptr<Platform>> Platform::build(const of::Tree& tree, Log& log) {
  std::unique_ptr<Platform> p(new Platform(tree, log));
  TRY(p->add_ram());
  for (of::Node* n : tree.nodes()) {
    if (!n->available() || !n->has("compatible")) continue;
    for (const ModelFactory& f : model_factories()) {
      bool match = false;
      for (const auto& c : f.compatibles) match = match || n->is_compatible(c);
      if (!match) continue;
      auto m = f.create(*n, *p);
      if (!m.ok()) {
        log.err("", "{}: no {} model: {}", n->path(), f.kind, m.error().message);
        break;
      }
      m->node = n;
      if (m->mmio) {
        Status s = p->machine_->add_device(m->base, m->size, m->mmio);
        if (!s.ok()) {
          log.err("", "{}: {} model not mapped: {}", n->path(), f.kind, s.error().message);
          break;
        }
      }
      p->models_[n] = std::move(m).value();
      break;
    }
  }
  for (auto& [n, m] : p->models_)
    if (m.port) p->wire_master(*n, *m.port);
  // PCI functions reach their IOMMU through the host bridge's iommu-map,
  // once every IOMMU model exists.
  for (auto& [n, h] : p->pci_hosts_) h->wire_all();
  return p;
}

void Platform::wire_master(const of::Node& node, hw::UpstreamPort& port) {
  port.set_direct();
  auto refs = of::iommu_refs(node);
  if (!refs.ok()) return;
  const of::PhandleArgs* first = of::first_enabled(*refs);
  if (!first) return;
  auto t = translator(first->target);
  if (!t) {
    log_.info("", "{}: its IOMMU {} has no model here: its DMA goes straight to memory in this emulation", node.path(),
              first->target->path());
    return;
  }
  // The master emits its first stream ID (an SMMUv2 mask cell is not part of it).
  port.set_translator(std::move(t), first->args.empty() ? 0 : first->args[0]);
}

std::shared_ptr<hw::DmaTranslator> Platform::translator(const of::Node* node) const {
  if (auto it = models_.find(node); it != models_.end() && it->second.translator) return it->second.translator;
  auto it = translators_.find(node);
  return it == translators_.end() ? nullptr : it->second;
}

void Platform::add_translator(const of::Node* node, std::shared_ptr<hw::DmaTranslator> t) {
  translators_[node] = std::move(t);
}

const PlatformModel* Platform::model(const of::Node* node) const {
  auto it = models_.find(node);
  return it == models_.end() ? nullptr : &it->second;
}

std::vector<const PlatformModel*> Platform::models() const {
  std::vector<const PlatformModel*> out;
  for (auto& [n, m] : models_) out.push_back(&m);
  return out;
}

Result<unsigned> Platform::irq_number(const of::Node& node, size_t index) const {
  const of::Property* p = node.prop("interrupts");
  if (!p) return make_error(Errc::noent, node.path() + ": no interrupts");
  // GIC binding: <type number flags>.
  auto cells = TRY(p->cells());
  if (cells.size() < 3 * (index + 1)) return make_error(Errc::noent, node.path() + ": no interrupt " + std::to_string(index));
  return gic_interrupt_id(cells[3 * index], cells[3 * index + 1]);
}

Result<unsigned> Platform::irq_number(const of::Node& node, std::string_view name) const {
  const of::Property* names = node.prop("interrupt-names");
  if (!names) return make_error(Errc::noent, node.path() + ": no interrupt-names");
  auto list = names->strings();
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i] == name) return irq_number(node, i);
  return make_error(Errc::noent, node.path() + ": no interrupt named " + std::string(name));
}

}  // namespace modiommu
