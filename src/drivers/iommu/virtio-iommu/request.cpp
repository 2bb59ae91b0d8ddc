// The request queue (virtio 1.2 5.13.6): one request at a time through one
// preallocated buffer, device-readable head + body then device-writable
// (probe properties +) tail, as 5.13.6 lays a request out.
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "drivers/iommu/virtio-iommu/virtio-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::virtio_iommu {
const char* status_name(uint8_t status) {
  switch (status) {
    case uv::kSOk: return "OK";
    case uv::kSIoErr: return "IOERR";
    case uv::kSUnsupp: return "UNSUPP";
    case uv::kSDevErr: return "DEVERR";
    case uv::kSInval: return "INVAL";
    case uv::kSRange: return "RANGE";
    case uv::kSNoEnt: return "NOENT";
    case uv::kSFault: return "FAULT";
    case uv::kSNoMem: return "NOMEM";
  }
  return "unknown status";
}

// 5.13.6: the driver's reading of each status.
Errc status_errc(uint8_t status) {
  switch (status) {
    case uv::kSIoErr: return Errc::io;       // the device could not complete it
    case uv::kSUnsupp: return Errc::notsup;  // request type not supported
    case uv::kSDevErr: return Errc::io;      // device-internal error
    case uv::kSInval: return Errc::inval;    // malformed or contradictory request
    case uv::kSRange: return Errc::range;    // out of input/domain range, or a split unmap
    case uv::kSNoEnt: return Errc::noent;    // no such endpoint or domain
    case uv::kSFault: return Errc::fault;    // bad physical address
    case uv::kSNoMem: return Errc::nomem;    // out of mapping resources
  }
  return Errc::io;
}

const char* request_name(uint8_t type) {
  switch (type) {
    case uv::kReqAttach: return "ATTACH";
    case uv::kReqDetach: return "DETACH";
    case uv::kReqMap: return "MAP";
    case uv::kReqUnmap: return "UNMAP";
    case uv::kReqProbe: return "PROBE";
  }
  return "request";
}

Status VIommu::request(uint8_t type, const void* body, size_t body_len, const std::string& what,
                       std::vector<uint8_t>* props) {
  const char* rname = request_name(type);
  const uint32_t props_len = props ? cfg_.probe_size : 0;
  if (sizeof(uv::ReqHead) + body_len > kReqInOffset)
    return make_error(Errc::inval, fmt::format("{}: {} body of {} bytes does not fit the request buffer", name_, rname,
                                               body_len));
  std::lock_guard g(req_lock_);
  if (!live()) return make_error(Errc::nodev, fmt::format("{}: {} for {}: the device is gone", name_, rname, what));
  if (req_broken_)
    return make_error(Errc::io, fmt::format("{}: {} for {}: an earlier request never completed; the request "
                                            "queue is out of service", name_, rname, what));
  virtio::Virtqueue* vq = vdev_.vq(uv::kRequestQueue);
  if (!vq || vq->broken())
    return make_error(Errc::io, fmt::format("{}: {} for {}: request queue broken ({})", name_, rname, what,
                                            vq ? vq->broken_reason() : "missing"));
  uint8_t out[kReqInOffset] = {};
  const uv::ReqHead head{type, {}};
  std::memcpy(out, &head, sizeof head);
  std::memcpy(out + sizeof head, body, body_len);
  const uint32_t out_len = static_cast<uint32_t>(sizeof head + body_len);
  const uint64_t in_pa = req_buf_.pa + kReqInOffset;
  // The tail starts out as a status no device sends, so a device that
  // returns the chain without writing it is caught.
  const uv::ReqTail poison{0xff, {}};
  TRY(vdev_.mem_write(req_buf_.pa, out, out_len));
  TRY(vdev_.mem_write(in_pa + props_len, &poison, sizeof poison));
  std::vector<virtio::VirtqBuf> in;
  if (props_len) in.push_back({in_pa, props_len});
  in.push_back({in_pa + props_len, sizeof(uv::ReqTail)});
  TRY(vq->add_sgs({{req_buf_.pa, out_len}}, in, &req_buf_));
  requests_.fetch_add(1, std::memory_order_relaxed);
  vq->kick();
  // The emulated device completes inside the notify; a slower one is polled
  // a bounded number of times.
  uint32_t len = 0;
  void* token = nullptr;
  for (unsigned i = 0; i < kRequestPolls && !vq->broken(); ++i) {
    token = vq->get_buf(&len);
    if (token) break;
    std::this_thread::yield();
  }
  if (!token) {
    // The device still owns the buffer: it is never reused.
    req_broken_ = true;
    const std::string why = vq->broken() ? "request queue broken: " + vq->broken_reason() : "no answer";
    ctx_.log().err(name_, "{} for {}: {}; no more requests will be sent", rname, what, why);
    return make_error(Errc::timedout, fmt::format("{}: {} for {}: {}", name_, rname, what, why));
  }
  if (token != &req_buf_) {
    req_broken_ = true;
    return make_error(Errc::io, fmt::format("{}: {} for {}: the device returned a buffer never given", name_, rname,
                                            what));
  }
  uv::ReqTail tail{};
  TRY(vdev_.mem_read(in_pa + props_len, &tail, sizeof tail));
  if (tail.status == 0xff || len < sizeof tail)
    return make_error(Errc::io, fmt::format("{}: {} for {}: the device returned no status (used length {})", name_,
                                            rname, what, len));
  if (tail.status != uv::kSOk)
    return make_error(status_errc(tail.status), fmt::format("{}: {} for {} failed: status {} ({})", name_, rname, what,
                                                            status_name(tail.status), tail.status));
  if (props) {
    props->resize(props_len);
    TRY(vdev_.mem_read(in_pa, props->data(), props_len));
  }
  return {};
}

}  // namespace modiommu::virtio_iommu
