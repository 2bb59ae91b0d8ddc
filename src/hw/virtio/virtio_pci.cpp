#include "hw/virtio/virtio_pci.h"

#include <algorithm>
#include <array>

#include "uapi/pci_regs.h"
#include "uapi/virtio_iommu.h"

namespace modiommu::hw::virtio {

using namespace vpci;

namespace {

// The notify region holds one slot per queue.
constexpr unsigned kMaxQueues = VirtioPci::kRegionSize / VirtioPci::kNotifyMultiplier;

// Width of the common-configuration field containing `off` and its start
// (4.1.4.3); 0 for a hole or past the end.
unsigned field_width(uint64_t off, uint64_t* base) {
  static constexpr std::array<std::pair<uint32_t, unsigned>, 18> kFields{{
      {kDeviceFeatureSelect, 4}, {kDeviceFeature, 4}, {kDriverFeatureSelect, 4}, {kDriverFeature, 4},
      {kConfigMsixVector, 2}, {kNumQueues, 2}, {kDeviceStatus, 1}, {kConfigGeneration, 1},
      {kQueueSelect, 2}, {kQueueSize, 2}, {kQueueMsixVector, 2}, {kQueueEnable, 2},
      {kQueueNotifyOff, 2}, {kQueueDesc, 8}, {kQueueDriver, 8}, {kQueueDevice, 8},
      {kQueueNotifyData, 2}, {kQueueReset, 2},
  }};
  for (auto [at, w] : kFields)
    if (off >= at && off < at + w) {
      *base = at;
      return w;
    }
  return 0;
}

// 4.1.3.1: natural width; a 64-bit field also as either 32-bit half.
bool access_ok(uint64_t off, unsigned size, uint64_t base, unsigned width) {
  if (width == 8) return (size == 8 && off == base) || (size == 4 && (off == base || off == base + 4));
  return size == width && off == base;
}

void set_part(uint64_t& reg, uint64_t off, uint64_t base, uint64_t v, unsigned size) {
  if (size == 8) {
    reg = v;
  } else if (off == base) {
    reg = (reg & ~0xffffffffull) | (v & 0xffffffffull);
  } else {
    reg = (reg & 0xffffffffull) | (v << 32);
  }
}

uint32_t default_class(uint32_t device_id) {
  // virtio-iommu: base system peripheral, other (as QEMU's virtio-iommu-pci).
  return device_id == uapi::viommu::kDeviceId ? 0x088000 : 0xff0000;
}

}  // namespace

VirtioPci::VirtioPci(std::string name, PhysicalMemory& mem, std::shared_ptr<VirtioDeviceModel> model, IrqLine* irq,
                     uint32_t class_code)
    : pci::PciFunction(std::move(name), kVendor, static_cast<uint16_t>(kDeviceModernBase + model->device_id()),
                       class_code ? class_code : default_class(model->device_id()),
                       uapi::pci::HEADER_TYPE_NORMAL),
      model_(std::move(model)),
      irq_(irq) {
  // Revision 1 comes from PciFunction (4.1.2.1: non-transitional).
  set_subsystem(kVendor, kSubsystemDevice);
  set_interrupt_pin(1);  // INTA
  add_pcie_cap(uapi::pci::PortType::endpoint);
  add_bar(kBar, kBarSize, true);
  const auto cap = [&](uint8_t type, uint64_t off, uint32_t len, unsigned extra, uint32_t extra_val) {
    std::vector<uint8_t> body(kCapSize - 2 + extra, 0);
    body[kCapLen - 2] = static_cast<uint8_t>(kCapSize + extra);
    body[kCapCfgType - 2] = type;
    body[kCapBar - 2] = static_cast<uint8_t>(kBar);
    for (unsigned i = 0; i < 4; ++i) {
      body[kCapOffset - 2 + i] = static_cast<uint8_t>(off >> (8 * i));
      body[kCapLength - 2 + i] = static_cast<uint8_t>(len >> (8 * i));
      if (extra) body[kCapSize - 2 + i] = static_cast<uint8_t>(extra_val >> (8 * i));
    }
    caps_[type] = add_capability(kCapVendor, body);
  };
  const unsigned n = std::min(model_->num_queues(), kMaxQueues);
  cap(kCfgCommon, kCommonOff, kCommonCfgSize, 0, 0);
  cap(kCfgNotify, kNotifyOff, std::max(2u, n * kNotifyMultiplier), 4, kNotifyMultiplier);
  cap(kCfgIsr, kIsrOff, 1, 0, 0);
  if (model_->config_size()) cap(kCfgDevice, kDeviceOff, std::min<uint32_t>(model_->config_size(), kRegionSize), 0, 0);
  // 4.1.4.9: the driver writes bar/offset/length, then accesses the data.
  cap(kCfgPci, 0, 0, 4, 0);
  if (const uint8_t pc = caps_[kCfgPci]) {
    set_config_bytes(pc + kCapBar, 0, 1);
    set_config_writable(pc + kCapBar, 1);
    set_config_writable(pc + kCapOffset, 8);  // offset and length
    set_config_writable(pc + kPciCfgData, 4);
  }
  for (unsigned q = 0; q < n; ++q) queues_.push_back(std::make_unique<Virtqueue>(mem, q));
  qregs_.resize(n);
  for (unsigned q = 0; q < n; ++q) qregs_[q].size = static_cast<uint16_t>(model_->queue_max_size(q));
  model_->bind(this);
}

VirtioPci::~VirtioPci() { model_->bind(nullptr); }

uint8_t VirtioPci::status() const {
  std::lock_guard g(lock_);
  return status_;
}

std::string VirtioPci::last_device_error() const {
  std::lock_guard g(lock_);
  return last_error_;
}

// --- the BAR -----------------------------------------------------------------

uint64_t VirtioPci::read(uint64_t offset, unsigned size) {
  if (offset < kCommonOff + kCommonCfgSize) {
    std::lock_guard g(lock_);
    return common_read(offset - kCommonOff, size);
  }
  if (offset == kIsrOff) {
    if (size != 1) return 0;  // 4.1.4.5: one byte, cleared by the read
    std::lock_guard g(lock_);
    const uint8_t v = isr_.exchange(0, std::memory_order_acq_rel);
    sync_intx_status();
    return v;
  }
  if (offset >= kDeviceOff && offset < kDeviceOff + kRegionSize) {
    const uint64_t off = offset - kDeviceOff;
    if (off % size || off + size > model_->config_size()) return 0;
    return model_->config_read(off, size);
  }
  return 0;  // notify region and holes read 0
}

void VirtioPci::write(uint64_t offset, uint64_t value, unsigned size) {
  if (offset < kCommonOff + kCommonCfgSize) {
    bool raise = false;
    {
      std::lock_guard g(lock_);
      common_write(offset - kCommonOff, value, size, &raise);
    }
    if (raise) set_isr(kIsrConfig);
    return;
  }
  if (offset >= kDeviceOff && offset < kDeviceOff + kRegionSize) {
    const uint64_t off = offset - kDeviceOff;
    if (off % size == 0 && off + size <= model_->config_size()) model_->config_write(off, value, size);
    return;
  }
  if (offset >= kNotifyOff && offset < kNotifyOff + kRegionSize) {
    // 4.1.5.2: a 16-bit write at the queue's notify address (32 accepted).
    const uint64_t off = offset - kNotifyOff;
    if ((size != 2 && size != 4) || off % kNotifyMultiplier) return;
    const uint64_t q = off / kNotifyMultiplier;
    {
      std::lock_guard g(lock_);
      if (!(status_ & kStatusDriverOk) || (status_ & kStatusNeedsReset) || q >= qregs_.size() || !qregs_[q].enabled)
        return;
    }
    model_->queue_notify(static_cast<unsigned>(q));
  }
  // ISR and holes: read-only / reserved, ignored.
}

uint64_t VirtioPci::common_read(uint64_t off, unsigned size) {
  uint64_t base = 0;
  const unsigned width = field_width(off, &base);
  if (!width || !access_ok(off, size, base, width)) return 0;
  const bool qvalid = queue_sel_ < qregs_.size();
  const QueueRegs none{};
  const QueueRegs& q = qvalid ? qregs_[queue_sel_] : none;
  uint64_t v = 0;
  switch (base) {
    case kDeviceFeatureSelect: v = dev_features_sel_; break;
    case kDeviceFeature: v = offered_features_page(*model_, dev_features_sel_); break;
    case kDriverFeatureSelect: v = drv_features_sel_; break;
    case kDriverFeature:
      v = drv_features_sel_ == 0 ? driver_features_ & 0xffffffffu : drv_features_sel_ == 1 ? driver_features_ >> 32 : 0;
      break;
    case kConfigMsixVector:
    case kQueueMsixVector: v = kMsiNoVector; break;
    case kNumQueues: v = qregs_.size(); break;
    case kDeviceStatus: v = status_; break;
    case kConfigGeneration: v = config_generation_; break;
    case kQueueSelect: v = queue_sel_; break;
    case kQueueSize: v = q.size; break;  // 0: no such queue
    case kQueueEnable: v = q.enabled ? 1 : 0; break;
    case kQueueNotifyOff: v = qvalid ? queue_sel_ : 0; break;
    case kQueueDesc: v = q.desc; break;
    case kQueueDriver: v = q.driver; break;
    case kQueueDevice: v = q.device; break;
    default: break;  // queue_notify_data, queue_reset: features not offered
  }
  if (width == 8 && size == 4) v = off == base ? v & 0xffffffffu : v >> 32;
  return v;
}

void VirtioPci::common_write(uint64_t off, uint64_t v, unsigned size, bool* raise) {
  uint64_t base = 0;
  const unsigned width = field_width(off, &base);
  if (!width || !access_ok(off, size, base, width)) return;
  QueueRegs* q = queue_sel_ < qregs_.size() ? &qregs_[queue_sel_] : nullptr;
  // Queue layout fields are ignored while the queue is live (4.1.4.3.2).
  QueueRegs* qw = q && !q->enabled ? q : nullptr;
  switch (base) {
    case kDeviceFeatureSelect: dev_features_sel_ = static_cast<uint32_t>(v); break;
    case kDriverFeatureSelect: drv_features_sel_ = static_cast<uint32_t>(v); break;
    case kDriverFeature:
      // Frozen once FEATURES_OK is set (3.1.1); nothing is offered above 63.
      if (!(status_ & kStatusFeaturesOk) && drv_features_sel_ < 2) {
        const unsigned sh = 32 * drv_features_sel_;
        driver_features_ = (driver_features_ & ~(0xffffffffull << sh)) | ((v & 0xffffffffull) << sh);
      }
      break;
    case kDeviceStatus: write_status(static_cast<uint8_t>(v)); break;
    case kQueueSelect: queue_sel_ = static_cast<uint16_t>(v); break;
    case kQueueSize: if (qw) qw->size = static_cast<uint16_t>(v); break;
    case kQueueDesc: if (qw) set_part(qw->desc, off, base, v, size); break;
    case kQueueDriver: if (qw) set_part(qw->driver, off, base, v, size); break;
    case kQueueDevice: if (qw) set_part(qw->device, off, base, v, size); break;
    case kQueueEnable:
      if (!q || q->enabled || !(v & 1) || !(status_ & kStatusFeaturesOk) || (status_ & kStatusNeedsReset)) break;
      if (auto st = queues_[queue_sel_]->enable({q->size, q->desc, q->driver, q->device},
                                                model_->queue_max_size(queue_sel_));
          st.ok()) {
        q->enabled = true;
      } else {
        status_ |= kStatusNeedsReset;
        last_error_ = st.error().message;
        *raise = true;
      }
      break;
    default: break;  // read-only, MSI-X vectors (no MSI-X), queue_reset (not offered)
  }
}

void VirtioPci::write_status(uint8_t v) {
  if (v == 0) {
    do_reset();
    return;
  }
  status_ = static_cast<uint8_t>(apply_driver_status(status_, v, driver_features_, *model_));
}

void VirtioPci::do_reset() {
  for (auto& q : queues_) q->reset();
  for (unsigned q = 0; q < qregs_.size(); ++q) qregs_[q] = {static_cast<uint16_t>(model_->queue_max_size(q))};
  status_ = 0;
  dev_features_sel_ = drv_features_sel_ = 0;
  queue_sel_ = 0;
  driver_features_ = 0;
  last_error_.clear();
  isr_.store(0, std::memory_order_release);
  sync_intx_status();
  model_->reset();
}

// --- interrupts --------------------------------------------------------------

void VirtioPci::sync_intx_status() {
  // 4.1.4.5.1: the PCI Status register's Interrupt Status bit follows the
  // ISR (PCI Local Bus 3.0 6.2.3, bit 3).
  const uint32_t lo = config_bytes(uapi::pci::STATUS, 1);
  constexpr uint32_t kIntx = uapi::pci::STATUS_INTERRUPT;
  set_config_bytes(uapi::pci::STATUS, isr_.load(std::memory_order_acquire) ? lo | kIntx : lo & ~kIntx, 1);
}

void VirtioPci::set_isr(uint8_t bits) {
  {
    std::lock_guard g(lock_);
    isr_.fetch_or(bits, std::memory_order_acq_rel);
    sync_intx_status();
  }
  if (irq_ && !(config_read(uapi::pci::COMMAND, 2) & uapi::pci::COMMAND_INTX_DISABLE)) irq_->raise();
}

void VirtioPci::notify_used(unsigned q) {
  if (q >= queues_.size() || !queues_[q]->interrupt_wanted()) return;
  set_isr(kIsrQueue);
}

void VirtioPci::notify_config() {
  {
    std::lock_guard g(lock_);
    ++config_generation_;
  }
  set_isr(kIsrConfig);
}

void VirtioPci::device_error(const std::string& why) {
  {
    std::lock_guard g(lock_);
    if (status_ & kStatusNeedsReset) return;  // already reported
    status_ |= kStatusNeedsReset;
    last_error_ = why;
  }
  set_isr(kIsrConfig);
}

// --- the PCI configuration access capability (4.1.4.9) -----------------------

bool VirtioPci::cfg_window(uint64_t* bar_off, unsigned* len) {
  const uint8_t pc = caps_[kCfgPci];
  if (!pc || config_bytes(pc + kCapBar, 1) != kBar) return false;
  const uint32_t off = config_bytes(pc + kCapOffset, 4), l = config_bytes(pc + kCapLength, 4);
  // 4.1.4.9.1: only 1/2/4-byte accesses aligned to their length.
  if ((l != 1 && l != 2 && l != 4) || off % l || uint64_t{off} + l > kBarSize) return false;
  *bar_off = off;
  *len = l;
  return true;
}

void VirtioPci::config_read_hook(uint32_t off, unsigned size) {
  const uint8_t pc = caps_[kCfgPci];
  if (!pc || off + size <= pc + kPciCfgData || off >= pc + kPciCfgData + 4u) return;
  uint64_t bar_off = 0;
  unsigned len = 0;
  if (cfg_window(&bar_off, &len)) set_config_bytes(pc + kPciCfgData, static_cast<uint32_t>(read(bar_off, len)), len);
}

void VirtioPci::config_write_hook(uint32_t off, unsigned size) {
  const uint8_t pc = caps_[kCfgPci];
  if (!pc || off + size <= pc + kPciCfgData || off >= pc + kPciCfgData + 4u) return;
  uint64_t bar_off = 0;
  unsigned len = 0;
  if (!cfg_window(&bar_off, &len)) return;
  write(bar_off, config_bytes(pc + kPciCfgData, len), len);
}

}  // namespace modiommu::hw::virtio
