// The event queue (5.13.6.9): device-writable fault buffers the device
// fills and returns; each is decoded into a fault report to the IOMMU core
// and posted again.
//
// Locking: handle_events() runs from the transport's interrupt handler on
// any thread (a DMA thread whose access faulted, usually). Under evt_lock_
// it drains the queue, decodes and re-posts; it reports to the IOMMU core
// after dropping evt_lock_ (the core takes its own lock), counted in
// evt_reporting_. remove() sets evt_live_ = false and waits for
// evt_reporting_ to drop to 0 under evt_lock_ before unregistering the
// IOMMU and deleting the queues: a handler either finishes first or sees the
// flag and leaves, and no report uses a gone instance.
#include <vector>

#include <fmt/format.h>

#include "drivers/iommu/virtio-iommu/virtio-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::virtio_iommu {
namespace {

const char* reason_name(uint8_t r) {
  switch (r) {
    case uv::kFaultRDomain: return "DOMAIN";
    case uv::kFaultRMapping: return "MAPPING";
    default: return "UNKNOWN";
  }
}

void* token_of(unsigned i) { return reinterpret_cast<void*>(uintptr_t{i} + 1); }

}  // namespace

Status VIommu::post_events() {
  virtio::Virtqueue* vq = vdev_.vq(uv::kEventQueue);
  if (!vq) return make_error(Errc::nodev, name_ + ": no event queue");
  std::lock_guard g(evt_lock_);
  nevt_ = std::min<unsigned>(kEventBuffers, vq->size());
  if (!nevt_) return make_error(Errc::inval, name_ + ": event queue has no entries");
  evt_buf_ = TRY(vdev_.alloc_dma(size_t{nevt_} * sizeof(uv::Fault)));
  for (unsigned i = 0; i < nevt_; ++i)
    TRY(vq->add_sgs({}, {{evt_buf_.pa + uint64_t{i} * sizeof(uv::Fault), sizeof(uv::Fault)}}, token_of(i)));
  vq->kick();
  evt_live_ = true;
  return {};
}

void VIommu::handle_events(virtio::Virtqueue& vq) {
  std::vector<iommu::FaultInfo> faults;
  {
    std::lock_guard g(evt_lock_);
    if (!evt_live_) return;
    bool reposted = false;
    // At most one queue's worth per interrupt: a device that keeps
    // returning buffers cannot keep us here.
    for (unsigned n = 0; n < vq.size(); ++n) {
      uint32_t len = 0;
      void* tok = vq.get_buf(&len);
      if (!tok) break;
      const uintptr_t i = reinterpret_cast<uintptr_t>(tok) - 1;
      if (i >= nevt_) {
        ctx_.log().err(name_, "event queue returned an unknown buffer (token {}): ignoring it", i);
        continue;
      }
      const uint64_t pa = evt_buf_.pa + uint64_t{i} * sizeof(uv::Fault);
      uv::Fault f{};
      if (len < sizeof f) {
        // The device had a fault it could not fit (5.13.6.9): only counted.
        ctx_.log().warn(name_, "event buffer returned with {} bytes, a fault record needs {}", len, sizeof f);
      } else if (Status s = vdev_.mem_read(pa, &f, sizeof f); !s.ok()) {
        ctx_.log().err(name_, "reading a fault record: {}", s.error().str());
      } else {
        events_.fetch_add(1, std::memory_order_relaxed);
        iommu::FaultInfo info;
        info.iova = (f.flags & uv::kFaultFAddress) ? f.address : 0;
        info.write = (f.flags & uv::kFaultFWrite) != 0;
        info.stream_id = f.endpoint;
        info.reason = reason_name(f.reason);
        faults.push_back(std::move(info));
      }
      // Back to the device for the next fault.
      Status s = vq.add_sgs({}, {{pa, sizeof(uv::Fault)}}, tok);
      if (!s.ok()) ctx_.log().err(name_, "re-posting an event buffer: {}", s.error().str());
      else reposted = true;
    }
    if (reposted) vq.kick();
    if (faults.empty()) return;
    ++evt_reporting_;
  }
  for (const auto& f : faults) ctx_.iommu().report_fault(inst_, f);
  std::lock_guard g(evt_lock_);
  if (--evt_reporting_ == 0) evt_idle_.notify_all();
}

void VIommu::stop_events() {
  std::unique_lock g(evt_lock_);
  evt_live_ = false;
  evt_idle_.wait(g, [this] { return evt_reporting_ == 0; });
}

}  // namespace modiommu::virtio_iommu
