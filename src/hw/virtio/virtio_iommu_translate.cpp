// virtio-iommu: DMA translation and fault reporting on the event queue.
#include "hw/virtio/virtio_iommu.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace modiommu::hw::virtio {

using namespace viommu;

namespace {

// Bytes from iova to the inclusive end `last`, saturated (a range may reach 2^64).
uint64_t span_to(uint64_t iova, uint64_t last) {
  const uint64_t s = last - iova + 1;
  return s == 0 ? std::numeric_limits<uint64_t>::max() : s;
}

uint32_t fault_flags(Access access) { return (access == Access::write ? kFaultFWrite : kFaultFRead) | kFaultFAddress; }

}  // namespace

bool VirtioIommu::lookup_locked(uint32_t stream_id, uint64_t iova, Access access, TranslateOutcome* out,
                                uint8_t* reason) const {
  *reason = kFaultRUnknown;
  auto ep = endpoints_.find(stream_id);
  if (ep == endpoints_.end()) return false;
  if (ep->second.domain < 0) {
    // Unattached endpoint (5.13.4 bypass, 5.13.3 legacy BYPASS).
    const bool bypass = features_ok_.load(std::memory_order_acquire)
                            ? (negotiated(kFBypassConfig) && bypass_.load(std::memory_order_acquire) == 1) ||
                                  negotiated(kFBypass)
                            : opts_.boot_bypass;
    *reason = kFaultRDomain;
    if (!bypass) return false;
    *out = {TranslateOutcome::Kind::bypassed, iova, span_to(iova, ~uint64_t{0})};
    return true;
  }
  const Domain& d = domains_.at(static_cast<uint32_t>(ep->second.domain));
  if (d.bypass) {
    *out = {TranslateOutcome::Kind::bypassed, iova, span_to(iova, ~uint64_t{0})};
    return true;
  }
  *reason = kFaultRMapping;
  auto it = d.map.upper_bound(iova);
  if (it == d.map.begin()) return false;
  const auto& [start, m] = *std::prev(it);
  const uint32_t need = access == Access::write ? kMapFWrite : kMapFRead;
  if (iova > m.end || !(m.flags & need)) return false;
  *out = {TranslateOutcome::Kind::translated, m.pa + (iova - start), span_to(iova, m.end)};
  return true;
}

TranslateOutcome VirtioIommu::translate(uint32_t stream_id, uint64_t iova, Access access) {
  TranslateOutcome o;
  uint8_t reason = 0;
  {
    std::shared_lock g(state_lock_);
    if (lookup_locked(stream_id, iova, access, &o, &reason)) return o;
  }
  report_fault(reason, fault_flags(access), stream_id, iova);
  return {TranslateOutcome::Kind::faulted, 0, 0};
}

size_t VirtioIommu::translate_burst(uint32_t stream_id, uint64_t iova, uint64_t len, Access access,
                                    TranslateOutcome* out, size_t max) {
  size_t n = 0;
  uint8_t reason = 0;
  bool faulted = false;
  {
    // One shared hold for the burst: the pieces see one state of the maps.
    std::shared_lock g(state_lock_);
    while (len && n < max) {
      TranslateOutcome o;
      if (!lookup_locked(stream_id, iova, access, &o, &reason)) {
        out[n++] = {TranslateOutcome::Kind::faulted, 0, 0};
        faulted = true;
        break;
      }
      o.span = std::min(o.span, len);
      out[n++] = o;
      iova += o.span;
      len -= o.span;
    }
  }
  if (faulted) report_fault(reason, fault_flags(access), stream_id, iova);  // outside state_lock_
  return n;
}

void VirtioIommu::report_fault(uint8_t reason, uint32_t flags, uint32_t endpoint, uint64_t address) {
  // Pin the transport (bind() waits for pins to drop) instead of holding
  // host_lock_, so the interrupt below is raised with no lock of ours held.
  VirtioHost* host = nullptr;
  {
    std::shared_lock hl(host_lock_);
    if (host_) {
      host = host_;
      host_pins_.fetch_add(1, std::memory_order_acq_rel);
    }
  }
  if (!host) {
    faults_lost_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  deliver_fault(*host, reason, flags, endpoint, address);
  host_pins_.fetch_sub(1, std::memory_order_acq_rel);
}

void VirtioIommu::deliver_fault(VirtioHost& host, uint8_t reason, uint32_t flags, uint32_t endpoint,
                                uint64_t address) {
  if (!features_ok_.load(std::memory_order_acquire)) {
    faults_lost_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Virtqueue& vq = host.queue(kEventQueue);
  auto popped = vq.pop();
  if (!popped) {
    faults_lost_.fetch_add(1, std::memory_order_relaxed);
    host.device_error(fmt::format("{}: event queue: {}", name_, popped.error().message));
    return;
  }
  if (!*popped) {  // no event buffer available
    faults_lost_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const VirtqChain& c = **popped;
  Fault f{};
  f.reason = reason;
  f.flags = flags;
  f.endpoint = endpoint;
  f.address = address;
  // An event buffer too small for a fault record is returned empty.
  const bool fits = c.writable_len >= sizeof f && vq.write_chain(c, 0, &f, sizeof f).ok();
  auto r = vq.push(c, fits ? sizeof f : 0);
  if (!r) {
    host.device_error(fmt::format("{}: event queue: {}", name_, r.error().message));
    faults_lost_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  (fits ? faults_reported_ : faults_lost_).fetch_add(1, std::memory_order_relaxed);
  host.notify_used(kEventQueue);
}

}  // namespace modiommu::hw::virtio
