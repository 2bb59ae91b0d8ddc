// virtio-iommu: configuration space, feature negotiation, request queue.
#include "hw/virtio/virtio_iommu.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace modiommu::hw::virtio {

using namespace viommu;

namespace {

bool all_zero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

}  // namespace

VirtioIommu::VirtioIommu(std::string name, PhysicalMemory& mem, VirtioIommuOptions opts)
    : name_(std::move(name)), mem_(mem), opts_(std::move(opts)), bypass_(opts_.bypass) {
  for (uint32_t ep : opts_.endpoints) endpoints_.emplace(ep, Endpoint{});
}

VirtioIommu::~VirtioIommu() = default;

void VirtioIommu::add_endpoint(uint32_t endpoint) {
  std::unique_lock g(state_lock_);
  endpoints_.emplace(endpoint, Endpoint{});
}

void VirtioIommu::bind(VirtioHost* host) {
  {
    std::unique_lock g(host_lock_);
    host_ = host;
  }
  // Fault deliveries that pinned the previous transport finish before it may go.
  while (host_pins_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

uint64_t VirtioIommu::config_read(uint64_t offset, unsigned size) {
  Config c{};
  c.page_size_mask = opts_.page_size_mask;
  c.input_start = opts_.input_start;
  c.input_end = opts_.input_end;
  c.domain_start = opts_.domain_start;
  c.domain_end = opts_.domain_end;
  c.probe_size = opts_.probe_size;
  c.bypass = bypass_.load(std::memory_order_acquire);
  uint64_t v = 0;
  if (offset < sizeof c && size <= sizeof v && offset + size <= sizeof c)
    std::memcpy(&v, reinterpret_cast<const uint8_t*>(&c) + offset, size);
  return v;
}

void VirtioIommu::config_write(uint64_t offset, uint64_t value, unsigned size) {
  // Only `bypass` is driver-writable, and only with BYPASS_CONFIG (5.13.4).
  if (offset == offsetof(Config, bypass) && size == 1 && negotiated(kFBypassConfig))
    bypass_.store(value & 0xff ? 1 : 0, std::memory_order_release);
}

bool VirtioIommu::set_driver_features(uint64_t features) {
  features_.store(features, std::memory_order_release);
  features_ok_.store(true, std::memory_order_release);
  return true;
}

void VirtioIommu::reset() {
  features_.store(0, std::memory_order_release);
  features_ok_.store(false, std::memory_order_release);
  bypass_.store(opts_.bypass, std::memory_order_release);
  std::unique_lock g(state_lock_);
  domains_.clear();
  nmappings_ = 0;
  for (auto& [id, e] : endpoints_) e.domain = -1;
}

VirtioIommuStats VirtioIommu::stats() const {
  VirtioIommuStats s;
  s.requests = requests_.load();
  s.faults_reported = faults_reported_.load();
  s.faults_lost = faults_lost_.load();
  s.bad_requests = bad_requests_.load();
  std::shared_lock g(state_lock_);
  s.mappings = nmappings_;
  s.domains = domains_.size();
  return s;
}

int64_t VirtioIommu::endpoint_domain(uint32_t endpoint) const {
  std::shared_lock g(state_lock_);
  auto it = endpoints_.find(endpoint);
  return it == endpoints_.end() ? -1 : it->second.domain;
}

void VirtioIommu::queue_notify(unsigned q) {
  // Only the bound transport calls this, from its own register write, so it
  // outlives the call: host_lock_ need not be held (an interrupt handler may
  // then kick the queue again from notify_used without re-entering it).
  VirtioHost* host = nullptr;
  {
    std::shared_lock hl(host_lock_);
    host = host_;
  }
  // Event buffers are consumed when a fault happens; nothing to do on notify.
  if (!host || q != kRequestQueue) return;
  if (process_requests(*host)) host->notify_used(kRequestQueue);
}

bool VirtioIommu::process_requests(VirtioHost& host) {
  std::lock_guard serial(request_lock_);  // requests complete in queue order
  Virtqueue& vq = host.queue(kRequestQueue);
  bool pushed = false;
  for (;;) {
    auto popped = vq.pop();
    if (!popped) {
      host.device_error(fmt::format("{}: request queue: {}", name_, popped.error().message));
      break;
    }
    if (!*popped) break;
    const VirtqChain& c = **popped;
    requests_.fetch_add(1, std::memory_order_relaxed);
    // The tail is the last device-writable bytes (5.13.6); without room for
    // it no status can be returned.
    if (c.writable_len < sizeof(ReqTail)) {
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      auto r = vq.push(c, 0);
      if (!r) host.device_error(fmt::format("{}: request queue: {}", name_, r.error().message));
      pushed = true;
      continue;
    }
    const uint64_t tail_off = c.writable_len - sizeof(ReqTail);
    std::vector<uint8_t> props;  // PROBE output
    uint8_t status = kSInval;
    ReqHead h{};
    // Readable part: head then body; too short a body is INVAL (5.13.6.1).
    const auto body = [&](auto& b) { return vq.read_chain(c, sizeof h, &b, sizeof b).ok(); };
    if (!vq.read_chain(c, 0, &h, sizeof h).ok()) {
      status = kSInval;
    } else {
      switch (h.type) {
        case kReqAttach: {
          AttachBody b;
          status = body(b) ? do_attach(b) : kSInval;
          break;
        }
        case kReqDetach: {
          DetachBody b;
          status = body(b) ? do_detach(b) : kSInval;
          break;
        }
        case kReqMap: {
          MapBody b;
          status = !negotiated(kFMapUnmap) ? kSUnsupp : body(b) ? do_map(b) : kSInval;
          break;
        }
        case kReqUnmap: {
          UnmapBody b;
          status = !negotiated(kFMapUnmap) ? kSUnsupp : body(b) ? do_unmap(b) : kSInval;
          break;
        }
        case kReqProbe: {
          ProbeBody b;
          if (!negotiated(kFProbe)) status = kSUnsupp;
          else if (!body(b) || tail_off < opts_.probe_size) status = kSInval;  // properties[probe_size] + tail
          else status = do_probe(b, &props);
          break;
        }
        default: status = kSUnsupp; break;  // unknown request type (5.13.6.1)
      }
    }
    if (status != kSOk) bad_requests_.fetch_add(1, std::memory_order_relaxed);
    Status st;
    if (h.type == kReqProbe && status == kSOk) {
      props.resize(tail_off, 0);  // unused property space reads as zero (PROBE_T_NONE)
      st = vq.write_chain(c, 0, props.data(), props.size());
    }
    const ReqTail tail{status, {}};
    if (st) st = vq.write_chain(c, tail_off, &tail, sizeof tail);
    if (!st) {
      host.device_error(fmt::format("{}: writing request status: {}", name_, st.error().message));
      break;
    }
    auto r = vq.push(c, static_cast<uint32_t>(tail_off + sizeof tail));
    if (!r) {
      host.device_error(fmt::format("{}: request queue: {}", name_, r.error().message));
      break;
    }
    pushed = true;
  }
  return pushed;
}

uint8_t VirtioIommu::do_attach(const AttachBody& b) {
  if (!all_zero(b.reserved, sizeof b.reserved)) return kSInval;
  // Unknown flags, or BYPASS without BYPASS_CONFIG negotiated (5.13.6.3.2).
  if (b.flags & ~kAttachFBypass) return kSInval;
  const bool bypass = b.flags & kAttachFBypass;
  if (bypass && !negotiated(kFBypassConfig)) return kSInval;
  if ((opts_.features & kFDomainRange) && (b.domain < opts_.domain_start || b.domain > opts_.domain_end))
    return kSRange;
  std::unique_lock g(state_lock_);
  auto ep = endpoints_.find(b.endpoint);
  if (ep == endpoints_.end()) return kSNoEnt;
  auto d = domains_.find(b.domain);
  if (d != domains_.end() && d->second.bypass != bypass) return kSInval;  // flags must match the domain's
  if (ep->second.domain == static_cast<int64_t>(b.domain)) return kSOk;
  // Attached elsewhere: behave as DETACH then ATTACH (5.13.6.3.2).
  if (ep->second.domain >= 0) detach_locked(ep->first, ep->second);
  Domain& dom = domains_[b.domain];
  dom.bypass = bypass;
  dom.endpoints.insert(b.endpoint);
  ep->second.domain = b.domain;
  return kSOk;
}

void VirtioIommu::detach_locked(uint32_t id, Endpoint& e) {
  auto d = domains_.find(static_cast<uint32_t>(e.domain));
  e.domain = -1;
  if (d == domains_.end()) return;
  d->second.endpoints.erase(id);
  // A domain with no endpoint left ceases to exist, with its mappings.
  if (d->second.endpoints.empty()) {
    nmappings_ -= d->second.map.size();
    domains_.erase(d);
  }
}

uint8_t VirtioIommu::do_detach(const DetachBody& b) {
  if (!all_zero(b.reserved, sizeof b.reserved)) return kSInval;
  std::unique_lock g(state_lock_);
  auto ep = endpoints_.find(b.endpoint);
  if (ep == endpoints_.end()) return kSNoEnt;
  // Domain unknown or endpoint not attached to it: INVAL (5.13.6.4.2).
  if (ep->second.domain != static_cast<int64_t>(b.domain)) return kSInval;
  detach_locked(ep->first, ep->second);
  return kSOk;
}

uint8_t VirtioIommu::do_map(const MapBody& b) {
  if (b.flags & ~(kMapFRead | kMapFWrite | kMapFMmio)) return kSInval;
  if ((b.flags & kMapFMmio) && !negotiated(kFMmio)) return kSInval;
  if (b.virt_end < b.virt_start) return kSInval;
  // Granule = smallest page size; start, end+1 and phys aligned to it (5.13.6.5.2).
  const uint64_t gran = opts_.page_size_mask & (~opts_.page_size_mask + 1);
  const uint64_t m = gran ? gran - 1 : 0;
  if ((b.virt_start & m) || ((b.virt_end + 1) & m) || (b.phys_start & m)) return kSRange;
  if ((opts_.features & kFInputRange) && (b.virt_start < opts_.input_start || b.virt_end > opts_.input_end))
    return kSRange;
  const uint64_t last = b.virt_end - b.virt_start;  // size - 1
  if (b.phys_start + last < b.phys_start) return kSRange;  // physical range wraps
  std::unique_lock g(state_lock_);
  auto d = domains_.find(b.domain);
  if (d == domains_.end()) return kSNoEnt;
  if (d->second.bypass) return kSInval;  // bypass domains have no mappings
  auto& map = d->second.map;
  // Overlap with an existing mapping: INVAL (5.13.6.5.2).
  auto next = map.lower_bound(b.virt_start);
  if (next != map.end() && next->first <= b.virt_end) return kSInval;
  if (next != map.begin() && std::prev(next)->second.end >= b.virt_start) return kSInval;
  if (nmappings_ >= opts_.max_mappings) return kSNoMem;
  if (opts_.map_phys_must_be_ram && !(b.flags & kMapFMmio) &&
      (last == ~uint64_t{0} || !mem_.contains(b.phys_start, last + 1)))
    return kSFault;
  map.emplace(b.virt_start, Mapping{b.virt_end, b.phys_start, b.flags});
  ++nmappings_;
  return kSOk;
}

uint8_t VirtioIommu::do_unmap(const UnmapBody& b) {
  if (!all_zero(b.reserved, sizeof b.reserved)) return kSInval;
  if (b.virt_end < b.virt_start) return kSInval;
  std::unique_lock g(state_lock_);
  auto d = domains_.find(b.domain);
  if (d == domains_.end()) return kSNoEnt;
  if (d->second.bypass) return kSInval;
  auto& map = d->second.map;
  // First mapping that may overlap: the one containing virt_start, else the next.
  auto first = map.upper_bound(b.virt_start);
  if (first != map.begin() && std::prev(first)->second.end >= b.virt_start) --first;
  auto it = first;
  for (; it != map.end() && it->first <= b.virt_end; ++it) {
    // A mapping only partly covered is not split: RANGE, nothing removed (5.13.6.6.2).
    if (it->first < b.virt_start || it->second.end > b.virt_end) return kSRange;
  }
  nmappings_ -= static_cast<size_t>(std::distance(first, it));
  map.erase(first, it);  // unmapping nothing is OK
  return kSOk;
}

uint8_t VirtioIommu::do_probe(const ProbeBody& b, std::vector<uint8_t>* props) {
  if (!all_zero(b.reserved, sizeof b.reserved)) return kSInval;
  {
    std::shared_lock g(state_lock_);
    if (!endpoints_.count(b.endpoint)) return kSNoEnt;
  }
  for (const auto& r : opts_.resv) {
    ProbeResvMem p{};
    p.type = kProbeTResvMem;
    p.length = sizeof p - 4;  // value bytes after the 4-byte property header
    p.subtype = r.subtype;
    p.start = r.start;
    p.end = r.end;
    const auto* raw = reinterpret_cast<const uint8_t*>(&p);
    props->insert(props->end(), raw, raw + sizeof p);
  }
  // Properties that do not fit probe_size are a device configuration error.
  if (props->size() > opts_.probe_size) {
    props->clear();
    return kSDevErr;
  }
  return kSOk;
}

}  // namespace modiommu::hw::virtio
