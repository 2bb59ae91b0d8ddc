#include "board/platform.h"

#include <algorithm>

#include <fmt/format.h>

#include "board/pci_model.h"
#include "hw/exynos/sysmmu.h"

namespace modiommu {

namespace {

constexpr uint64_t kDefaultRamBase = 0x40000000;
constexpr uint64_t kDefaultRamSize = 1ull << 30;
constexpr uint64_t kKernelRamCap = 4ull << 30;

// [base, base + size) reaches past 2^64 (size 0 reaches nothing).
bool wraps(uint64_t base, uint64_t size) { return size != 0 && base + (size - 1) < base; }

// Both ranges non-empty and not wrapping.
bool overlap(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) {
  return a <= b + (b_size - 1) && b <= a + (a_size - 1);
}

std::string window(uint64_t base, uint64_t size) { return fmt::format("[{:#x}, +{:#x})", base, size); }

}  // namespace

Result<std::pair<uint64_t, uint64_t>> node_window(const of::Node& n) {
  auto reg = n.reg();
  if (!reg.ok()) return std::move(reg).error();
  if (reg->empty()) return make_error(Errc::inval, n.path() + ": no reg");
  auto base = n.translated_address(0);
  if (!base.ok()) return std::move(base).error();
  return std::pair{*base, (*reg)[0].size};
}

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
    if (m.stop) m.stop();
}

Status Platform::add_ram() {
  hw::PhysicalMemory& mem = machine_->memory();
  // One bank per reg entry, as inclusive [first, last] so that a bank
  // ending at 2^64 - 1 has no overflowing end.
  struct Bank {
    uint64_t first = 0, last = 0;
    std::string name;  // the memory node(s) it comes from, " + " between
  };
  std::vector<Bank> banks;
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
      if (wraps(r.address, r.size)) {
        log_.err("", "memory node {}: RAM {} wraps past 2^64: ignored", n->path(), window(r.address, r.size));
        continue;
      }
      banks.push_back({r.address, r.address + (r.size - 1), n->path()});
    }
  }
  // Overlapping banks are one bank: Linux's memblock_add() merges them, and
  // real trees have them (exynosautov920-sadk's memory node). Say so.
  std::sort(banks.begin(), banks.end(), [](const Bank& a, const Bank& b) { return a.first < b.first; });
  std::vector<Bank> merged;
  for (Bank& b : banks) {
    if (merged.empty() || b.first > merged.back().last) {
      merged.push_back(std::move(b));
      continue;
    }
    Bank& m = merged.back();
    const uint64_t last = std::max(m.last, b.last);
    log_.warn("", "memory: RAM [{:#x}, {:#x}] of {} overlaps [{:#x}, {:#x}] of {}: merged into [{:#x}, {:#x}]", b.first,
              b.last, b.name, m.first, m.last, m.name, m.first, last);
    m.last = last;
    const std::string sep = " + ";
    if ((sep + m.name + sep).find(sep + b.name + sep) == std::string::npos) m.name += sep + b.name;
  }
  for (const Bank& b : merged) {
    const uint64_t size = b.last - b.first + 1;  // 0 only for all 2^64 bytes
    Status s = size ? mem.add_ram(b.first, size, b.name)
                    : Status(make_error(Errc::range, "RAM [0, 2^64) is beyond the physical address space"));
    if (!s.ok()) log_.err("", "memory node {}: {}", b.name, s.error().message);
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

void Platform::refuse(const of::Node& n, std::string why) {
  log_.err("", "{}", why);
  refused_[&n] = std::move(why);
}

// A model's registers must be its own: a window that wraps past 2^64,
// overlaps RAM or overlaps another model's registers gets no model, so that
// no driver programs RAM or another device through it (two SMMU nodes with
// one `reg` would otherwise drive the first SMMU twice).
Status Platform::check_window(const of::Node& n, const std::string& kind, uint64_t base, uint64_t size) const {
  if (size == 0) return {};
  const std::string what = fmt::format("{}: {} registers {}", n.path(), kind, window(base, size));
  if (wraps(base, size)) return make_error(Errc::range, what + " wrap past 2^64: no model");
  for (const auto& r : machine_->memory().regions())
    if (overlap(base, size, r.base, r.size))
      return make_error(Errc::exist, fmt::format("{} overlap RAM {} of {}: no model", what, window(r.base, r.size), r.name));
  if (const PlatformModel* o = model_overlapping(base, size, &n))
    return make_error(Errc::exist, fmt::format("{} overlap those of {} {}: no model", what, o->node->path(),
                                               window(o->base, o->size)));
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
      // The node's own window first, before the factory builds anything.
      if (auto reg = n->reg(); reg.ok() && !reg->empty()) {
        if (auto base = n->translated_address(0); base.ok()) {
          if (Status s = p->check_window(*n, f.kind, *base, (*reg)[0].size); !s.ok()) {
            p->refuse(*n, s.error().message);
            break;
          }
        }
      }
      auto m = f.create(*n, *p);
      if (!m.ok()) {
        p->refuse(*n, fmt::format("{}: no {} model: {}", n->path(), f.kind, m.error().message));
        break;
      }
      m->node = n;
      if (m->mmio) {
        // The model may claim more than `reg` (a minimum register file).
        Status s = p->check_window(*n, f.kind, m->base, m->size);
        if (s.ok()) s = p->machine_->add_device(m->base, m->size, m->mmio);
        if (!s.ok()) {
          p->pci_hosts_.erase(n);
          p->refuse(*n, fmt::format("{}: {} model not mapped: {}", n->path(), f.kind, s.error().message));
          break;
        }
      }
      const PlatformModel& pm = p->models_[n] = std::move(m).value();
      if (pm.mmio && pm.size) {
        p->windows_.emplace(pm.base, &pm);
        p->max_window_ = std::max(p->max_window_, pm.size);
      }
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
  // Exynos: a master may name one SysMMU per AXI port; reads go through
  // the first, writes through the last (hw::exynos::SysmmuPorts).
  if (auto it = models_.find(first->target); it != models_.end() && it->second.kind == "exynos-sysmmu") {
    std::vector<std::shared_ptr<hw::DmaTranslator>> mmus;
    for (const auto& pa : refs->refs)
      if (pa.target->available())
        if (auto tt = translator(pa.target)) mmus.push_back(std::move(tt));
    if (mmus.size() > 1) t = std::make_shared<hw::exynos::SysmmuPorts>(std::move(mmus));
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

const std::string* Platform::refusal(const of::Node* node) const {
  auto it = refused_.find(node);
  return it == refused_.end() ? nullptr : &it->second;
}

const PlatformModel* Platform::model_overlapping(uint64_t base, uint64_t size, const of::Node* self) const {
  if (size == 0 || wraps(base, size)) return nullptr;
  const uint64_t from = base > max_window_ ? base - max_window_ : 0;
  for (auto it = windows_.lower_bound(from); it != windows_.end() && it->first < base + size; ++it)
    if (it->second->node != self && overlap(base, size, it->second->base, it->second->size)) return it->second;
  return nullptr;
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
