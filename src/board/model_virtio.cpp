// Board glue for virtio-mmio (INTERFACE.md "Emulated devices in a device
// tree"): a "virtio,mmio" node gets the virtio-mmio transport model; the
// device behind it is chosen by `modiommu,virtio-device` ("iommu": the
// virtio-iommu model, which then translates for the masters whose `iommus`
// name this node). Without the property the slot is empty, as QEMU's unused
// virtio-mmio slots are: DeviceID reads 0 (virtio 1.2 4.2.3.1.1).
#include "board/model_virtio.h"

#include "board/models.h"
#include "hw/virtio/virtio_iommu.h"
#include "hw/virtio/virtio_mmio.h"

namespace modiommu {

hw::virtio::VirtioIommuOptions virtio_iommu_options(const of::Node& node) {
  hw::virtio::VirtioIommuOptions opts;
  opts.boot_bypass = node.has("modiommu,boot-bypass");
  return opts;
}

namespace {

namespace reg = uapi::virtio_mmio;

// An empty virtio-mmio slot: identification registers only.
class EmptyVirtioMmio : public hw::MmioDevice {
 public:
  explicit EmptyVirtioMmio(std::string name) : name_(std::move(name)) {}
  uint64_t read(uint64_t offset, unsigned size) override {
    if (size != 4) return 0;
    switch (offset) {
      case reg::kMagicValue: return reg::kMagic;
      case reg::kVersion: return reg::kVersionModern;
      case reg::kVendorId: return 0x4d4f4449;  // "MODI"
      default: return 0;
    }
  }
  void write(uint64_t, uint64_t, unsigned) override {}
  std::string name() const override { return name_; }

 private:
  std::string name_;
};

Result<PlatformModel> create_virtio_mmio(const of::Node& n, Platform& p) {
  auto reg = TRY(n.reg());
  if (reg.empty()) return make_error(Errc::inval, n.path() + ": no reg");
  PlatformModel pm;
  pm.base = TRY(n.translated_address(0));
  pm.size = std::max<uint64_t>(reg[0].size, reg::kRegionSize);
  hw::Machine& m = p.machine();
  const of::Property* dp = n.prop("modiommu,virtio-device");
  const std::string kind = dp ? dp->str() : "";
  if (kind.empty()) {
    pm.kind = "virtio-mmio";
    pm.mmio = std::make_shared<EmptyVirtioMmio>(n.path());
    return pm;
  }
  if (kind != "iommu")
    return make_error(Errc::notsup, n.path() + ": modiommu,virtio-device = \"" + kind +
                                        "\" has no model here (known: \"iommu\")");
  hw::IrqLine* irq = nullptr;
  if (auto num = p.irq_number(n, 0); num.ok()) irq = &m.irq(*num);
  else p.log().warn("", "{}: no interrupt: the virtio-iommu's event queue cannot signal faults", n.path());
  auto iommu = std::make_shared<hw::virtio::VirtioIommu>(n.path(), m.memory(), virtio_iommu_options(n));
  pm.kind = "virtio-iommu";
  pm.mmio = std::make_shared<hw::virtio::VirtioMmio>(n.path(), m.memory(), iommu, irq);
  pm.translator = iommu;
  pm.extra = iommu;
  return pm;
}

}  // namespace

ModelFactory virtio_mmio_model() { return {"virtio-mmio", {"virtio,mmio"}, create_virtio_mmio}; }

}  // namespace modiommu
