// The board: builds the emulated machine a device tree describes (RAM from
// memory nodes, a device model for each node whose `compatible` has one,
// DMA masters wired upstream to the IOMMU model their `iommus` names).
// Firmware's job in a real system, so it is its own layer (board/), above
// hw/ and of/ and below the kernel; hw/ itself never reads a device tree.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "core/log.h"
#include "hw/dma.h"
#include "hw/machine.h"
#include "of/tree.h"

namespace modiommu {

struct PlatformModel {
  const of::Node* node = nullptr;
  std::string kind;  // "smmu-v3", "dmatest", ...
  uint64_t base = 0, size = 0;
  std::shared_ptr<hw::MmioDevice> mmio;
  std::shared_ptr<hw::DmaTranslator> translator;  // IOMMU models
  hw::UpstreamPort* port = nullptr;                // DMA masters
  std::shared_ptr<void> extra;                     // model-specific keep-alive
  // Stops what the model runs on its own (a DMA master's transfers) before
  // any model it talks to goes away; ~Platform calls it. May be empty.
  std::function<void()> stop;
};

class Platform;
class PciHostModel;

// The interrupt ID of a GIC specifier <type number ...> (arm,gic binding:
// type 1 is a PPI, numbered from 16; otherwise an SPI, numbered from 32).
inline unsigned gic_interrupt_id(uint32_t type, uint32_t number) { return type == 1 ? number + 16 : number + 32; }

// A device model for nodes with one of `compatibles` (INTERFACE.md
// "Emulated devices in a device tree"). Each model_*.cpp gives one and
// board/models.cpp lists them all; tests may add their own.
struct ModelFactory {
  std::string kind;
  std::vector<std::string> compatibles;
  std::function<Result<PlatformModel>(const of::Node& node, Platform& p)> create;
};
MODIOMMU_API std::vector<ModelFactory>& model_factories();

// A node's first `reg` window: its translated base and its size.
Result<std::pair<uint64_t, uint64_t>> node_window(const of::Node& n);

class MODIOMMU_API Platform {
 public:
  // Problems with single nodes are logged (the node stays a plain device);
  // only an unusable tree fails.
  static Result<std::unique_ptr<Platform>> build(const of::Tree& tree, Log& log);
  ~Platform();

  hw::Machine& machine() { return *machine_; }
  const of::Tree& tree() const { return tree_; }
  Log& log() { return log_; }
  const PlatformModel* model(const of::Node* node) const;
  // The IOMMU model a node stands for: a platform model's translator, or
  // one registered for a PCI function's node (virtio-iommu on PCI).
  std::shared_ptr<hw::DmaTranslator> translator(const of::Node* node) const;
  void add_translator(const of::Node* node, std::shared_ptr<hw::DmaTranslator> t);
  std::vector<const PlatformModel*> models() const;
  // Why a node that has a model factory got no model: its registers wrap
  // past 2^64, overlap RAM or another model's, or the factory failed. Null
  // when it has its model (or never had a factory). No driver may map the
  // registers of a refused node (Kernel::ioremap).
  const std::string* refusal(const of::Node* node) const;
  // The model of another node than `self` whose registers overlap
  // [base, base + size), if any.
  const PlatformModel* model_overlapping(uint64_t base, uint64_t size, const of::Node* self) const;
  // GIC interrupt ID for a node's interrupt, by index or by interrupt-names.
  Result<unsigned> irq_number(const of::Node& node, size_t index) const;
  Result<unsigned> irq_number(const of::Node& node, std::string_view name) const;
  // The RAM the kernel's page allocator manages.
  uint64_t kernel_ram_base() const { return ram_base_; }
  uint64_t kernel_ram_size() const { return ram_size_; }
  // (Re)wires a DMA master's port from its node's `iommus` (the PCI layer
  // does the same from iommu-map). Direct when it names nothing modelled.
  void wire_master(const of::Node& node, hw::UpstreamPort& port);
  // ECAM host bridges (board/pci_model.h), by their node.
  void add_pci_host(const of::Node* node, std::shared_ptr<PciHostModel> host);
  PciHostModel* pci_host(const of::Node* node) const;
  std::vector<PciHostModel*> pci_hosts() const;

 private:
  Platform(const of::Tree& tree, Log& log) : tree_(tree), log_(log) {}
  Status add_ram();
  // Checks a model's register window before it is created and mapped.
  Status check_window(const of::Node& n, const std::string& kind, uint64_t base, uint64_t size) const;
  void refuse(const of::Node& n, std::string why);
  const of::Tree& tree_;
  Log& log_;
  std::unique_ptr<hw::Machine> machine_ = std::make_unique<hw::Machine>();
  std::map<const of::Node*, PlatformModel> models_;
  // The register windows of models_ by base (model_overlapping in log n: it
  // runs for every model built and every ioremap), and the largest window,
  // so a query starts early enough to meet any window reaching into it.
  std::multimap<uint64_t, const PlatformModel*> windows_;
  uint64_t max_window_ = 0;
  std::map<const of::Node*, std::shared_ptr<PciHostModel>> pci_hosts_;
  std::map<const of::Node*, std::shared_ptr<hw::DmaTranslator>> translators_;  // PCI-function IOMMUs
  std::map<const of::Node*, std::string> refused_;
  uint64_t ram_base_ = 0, ram_size_ = 0;
};

}  // namespace modiommu
