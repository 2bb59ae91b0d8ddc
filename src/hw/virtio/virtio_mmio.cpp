#include "hw/virtio/virtio_mmio.h"

#include <fmt/format.h>

namespace modiommu::hw::virtio {

using namespace mmio;

VirtioMmio::VirtioMmio(std::string name, PhysicalMemory& mem, std::shared_ptr<VirtioDeviceModel> model, IrqLine* irq,
                       uint32_t vendor_id)
    : name_(std::move(name)), model_(std::move(model)), irq_(irq), vendor_id_(vendor_id) {
  const unsigned n = model_->num_queues();
  for (unsigned q = 0; q < n; ++q) queues_.push_back(std::make_unique<Virtqueue>(mem, q));
  qregs_.resize(n);
  model_->bind(this);
}

VirtioMmio::~VirtioMmio() { model_->bind(nullptr); }

uint32_t VirtioMmio::status() const {
  std::lock_guard g(lock_);
  return status_;
}

std::string VirtioMmio::last_device_error() const {
  std::lock_guard g(lock_);
  return last_error_;
}

uint64_t VirtioMmio::read(uint64_t offset, unsigned size) {
  if (offset >= kConfig) {
    const uint64_t off = offset - kConfig;
    if (off + size > model_->config_size()) return 0;
    return model_->config_read(off, size);
  }
  if (size != 4) return 0;  // 4.2.2.2: registers are 32-bit
  if (offset == kInterruptStatus) return isr_.load(std::memory_order_acquire);
  std::lock_guard g(lock_);
  return read_reg(offset);
}

uint32_t VirtioMmio::read_reg(uint64_t off) {
  const bool qvalid = queue_sel_ < qregs_.size();
  const QueueRegs none{};
  const QueueRegs& q = qvalid ? qregs_[queue_sel_] : none;
  switch (off) {
    case kMagicValue: return kMagic;
    case kVersion: return 2;
    case kDeviceId: return model_->device_id();
    case kVendorId: return vendor_id_;
    case kDeviceFeatures: return offered_features_page(*model_, dev_features_sel_);
    case kQueueNumMax: return qvalid ? model_->queue_max_size(queue_sel_) : 0;  // 0: queue not available
    case kQueueReady: return q.ready ? 1 : 0;
    case kStatus: return status_;
    case kConfigGeneration: return config_generation_;
    default: return 0;  // write-only or reserved
  }
}

void VirtioMmio::write(uint64_t offset, uint64_t value, unsigned size) {
  if (offset >= kConfig) {
    const uint64_t off = offset - kConfig;
    if (off + size <= model_->config_size()) model_->config_write(off, value, size);
    return;
  }
  if (size != 4) return;
  uint32_t bits = 0;
  int notify = -1;
  {
    std::lock_guard g(lock_);
    notify = write_reg(offset, static_cast<uint32_t>(value), &bits);
  }
  raise(bits);
  if (notify >= 0) model_->queue_notify(static_cast<unsigned>(notify));
}

int VirtioMmio::write_reg(uint64_t off, uint32_t v, uint32_t* raise_bits) {
  const bool qvalid = queue_sel_ < qregs_.size();
  QueueRegs* q = qvalid ? &qregs_[queue_sel_] : nullptr;
  // Queue layout registers are ignored while the queue is live (4.2.3.2).
  QueueRegs* qw = q && !q->ready ? q : nullptr;
  const auto set_lo = [](uint64_t& r, uint32_t val) { r = (r & ~0xffffffffull) | val; };
  const auto set_hi = [](uint64_t& r, uint32_t val) { r = (r & 0xffffffffull) | (uint64_t{val} << 32); };
  switch (off) {
    case kDeviceFeaturesSel: dev_features_sel_ = v; break;
    case kDriverFeaturesSel: drv_features_sel_ = v; break;
    case kDriverFeatures:
      // Features are frozen once FEATURES_OK is set (3.1.1).
      if (!(status_ & kStatusFeaturesOk) && drv_features_sel_ < 2) {
        if (drv_features_sel_ == 0) set_lo(driver_features_, v);
        else set_hi(driver_features_, v);
      }
      break;
    case kQueueSel: queue_sel_ = v; break;
    case kQueueNum: if (qw) qw->num = v; break;
    case kQueueDescLow: if (qw) set_lo(qw->desc, v); break;
    case kQueueDescHigh: if (qw) set_hi(qw->desc, v); break;
    case kQueueDriverLow: if (qw) set_lo(qw->driver, v); break;
    case kQueueDriverHigh: if (qw) set_hi(qw->driver, v); break;
    case kQueueDeviceLow: if (qw) set_lo(qw->device, v); break;
    case kQueueDeviceHigh: if (qw) set_hi(qw->device, v); break;
    case kQueueReady:
      if (!q) break;
      if (v & 1) {
        if (q->ready) break;
        auto st = queues_[queue_sel_]->enable({q->num, q->desc, q->driver, q->device}, model_->queue_max_size(queue_sel_));
        if (st) {
          q->ready = true;
        } else if (!(status_ & kStatusNeedsReset)) {
          status_ |= kStatusNeedsReset;
          last_error_ = st.error().message;
          isr_.fetch_or(kIntConfigChange, std::memory_order_acq_rel);
          *raise_bits |= kIntConfigChange;
        }
      } else {
        q->ready = false;
        queues_[queue_sel_]->reset();
      }
      break;
    case kQueueNotify:
      if ((status_ & kStatusDriverOk) && !(status_ & kStatusNeedsReset) && v < qregs_.size() && qregs_[v].ready)
        return static_cast<int>(v);
      break;
    case kInterruptAck: isr_.fetch_and(~v, std::memory_order_acq_rel); break;
    case kStatus: write_status(v, raise_bits); break;
    default: break;  // read-only or reserved: ignored
  }
  return -1;
}

void VirtioMmio::write_status(uint32_t v, uint32_t*) {
  if (v == 0) {
    do_reset();
    return;
  }
  status_ = apply_driver_status(status_, v, driver_features_, *model_);
}

void VirtioMmio::do_reset() {
  for (auto& q : queues_) q->reset();
  for (auto& r : qregs_) r = {};
  status_ = 0;
  dev_features_sel_ = drv_features_sel_ = queue_sel_ = 0;
  driver_features_ = 0;
  last_error_.clear();
  isr_.store(0, std::memory_order_release);
  model_->reset();
}

void VirtioMmio::raise(uint32_t bits) {
  if (bits && irq_) irq_->raise();
}

void VirtioMmio::notify_used(unsigned q) {
  if (q >= queues_.size() || !queues_[q]->interrupt_wanted()) return;
  isr_.fetch_or(kIntUsedBuffer, std::memory_order_acq_rel);
  raise(kIntUsedBuffer);
}

void VirtioMmio::notify_config() {
  {
    std::lock_guard g(lock_);
    ++config_generation_;
  }
  isr_.fetch_or(kIntConfigChange, std::memory_order_acq_rel);
  raise(kIntConfigChange);
}

void VirtioMmio::device_error(const std::string& why) {
  {
    std::lock_guard g(lock_);
    if (status_ & kStatusNeedsReset) return;  // already reported
    status_ |= kStatusNeedsReset;
    last_error_ = why;
  }
  isr_.fetch_or(kIntConfigChange, std::memory_order_acq_rel);
  raise(kIntConfigChange);
}

}  // namespace modiommu::hw::virtio
