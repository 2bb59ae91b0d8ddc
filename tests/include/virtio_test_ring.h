// The driver side of split virtqueues for the virtio model tests, shared by
// the virtio-mmio and virtio-pci test drivers: descriptors, the available
// ring, used-ring reads, and virtio-iommu requests on top. How a queue is
// kicked is the transport's (kick()). Requests are submitted one at a time
// and complete synchronously inside the notify write.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "hw/memory.h"
#include "uapi/virtio_config.h"
#include "uapi/virtio_iommu.h"

namespace modiommu::hw::virtio::testring {

inline constexpr uint32_t kQSize = 16;

struct DriverQueue {
  uint64_t desc = 0, avail = 0, used = 0, data = 0;
  uint64_t notify = 0;  // virtio-pci: the queue's notify address
  uint16_t avail_idx = 0, used_seen = 0, next_desc = 0;
  uint16_t size = kQSize;

  // A fresh queue of `size` entries with its rings and buffers from base.
  static DriverQueue at(uint64_t base, uint16_t size) {
    DriverQueue dq;
    dq.desc = base;
    dq.avail = base + 0x4000;
    dq.used = base + 0x8000;
    dq.data = base + 0x10000;
    dq.size = size;
    return dq;
  }
};

struct Completion {
  uint32_t id = 0, len = 0;
  std::vector<uint8_t> written;  // bytes of the writable buffer
};

class RingDriver {
 public:
  virtual ~RingDriver() = default;
  virtual void kick(unsigned q) = 0;

  // Writes one descriptor (raw, so tests can build hostile chains).
  void write_desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    struct {
      uint64_t a;
      uint32_t l;
      uint16_t f, n;
    } d{addr, len, flags, next};
    ASSERT_TRUE(ring_mem().write(queues[q].desc + 16ull * i, &d, sizeof d).ok());
  }
  // Makes head available and (by default) kicks the queue.
  void make_available(unsigned q, uint16_t head, bool do_kick = true) {
    DriverQueue& dq = queues[q];
    ASSERT_TRUE(ring_mem().write(dq.avail + 4 + 2ull * (dq.avail_idx % dq.size), &head, 2).ok());
    ++dq.avail_idx;
    ASSERT_TRUE(ring_mem().write(dq.avail + 2, &dq.avail_idx, 2).ok());
    if (do_kick) kick(q);
  }
  uint16_t used_idx(unsigned q) {
    uint16_t v = 0;
    EXPECT_TRUE(ring_mem().read(queues[q].used + 2, &v, 2).ok());
    return v;
  }
  // Next used element not yet seen, if any; reads back `wlen` bytes at waddr.
  bool next_used(unsigned q, Completion* out, uint64_t waddr = 0, uint32_t wlen = 0) {
    DriverQueue& dq = queues[q];
    if (used_idx(q) == dq.used_seen) return false;
    uint32_t e[2];
    EXPECT_TRUE(ring_mem().read(dq.used + 4 + 8ull * (dq.used_seen % dq.size), e, sizeof e).ok());
    ++dq.used_seen;
    out->id = e[0];
    out->len = e[1];
    out->written.assign(wlen, 0);
    if (wlen) {
      EXPECT_TRUE(ring_mem().read(waddr, out->written.data(), wlen).ok());
    }
    return true;
  }

  // Submits one request (readable bytes, then `wlen` writable bytes) on the
  // request queue; returns the writable bytes after completion (empty if the
  // device returned nothing).
  std::vector<uint8_t> request(const void* rd, size_t rlen, uint32_t wlen) {
    DriverQueue& dq = queues[0];
    const uint64_t rbuf = dq.data, wbuf = dq.data + 0x2000;
    EXPECT_TRUE(ring_mem().write(rbuf, rd, rlen).ok());
    EXPECT_TRUE(ring_mem().fill(wbuf, 0xee, wlen).ok());
    write_desc(0, 0, rbuf, static_cast<uint32_t>(rlen), uapi::virtio::kDescFNext, 1);
    write_desc(0, 1, wbuf, wlen, uapi::virtio::kDescFWrite, 0);
    make_available(0, 0);
    Completion c;
    if (!next_used(0, &c, wbuf, wlen)) return {};
    EXPECT_EQ(c.id, 0u);
    c.written.resize(std::min<size_t>(c.len, wlen));
    return c.written;
  }
  // A virtio-iommu request with a fixed body; its status, or 0xff when the
  // device returned no tail.
  template <typename Body>
  uint8_t simple(uint8_t type, const Body& b) {
    std::vector<uint8_t> rd(sizeof(uapi::viommu::ReqHead) + sizeof b, 0);
    rd[0] = type;
    std::memcpy(rd.data() + sizeof(uapi::viommu::ReqHead), &b, sizeof b);
    auto w = request(rd.data(), rd.size(), sizeof(uapi::viommu::ReqTail));
    return w.size() == sizeof(uapi::viommu::ReqTail) ? w[0] : 0xff;
  }
  uint8_t attach(uint32_t domain, uint32_t ep, uint32_t flags = 0) {
    uapi::viommu::AttachBody b{};
    b.domain = domain;
    b.endpoint = ep;
    b.flags = flags;
    return simple(uapi::viommu::kReqAttach, b);
  }
  uint8_t detach(uint32_t domain, uint32_t ep) {
    uapi::viommu::DetachBody b{};
    b.domain = domain;
    b.endpoint = ep;
    return simple(uapi::viommu::kReqDetach, b);
  }
  uint8_t map(uint32_t domain, uint64_t va, uint64_t va_end, uint64_t pa, uint32_t flags) {
    uapi::viommu::MapBody b{};
    b.domain = domain;
    b.virt_start = va;
    b.virt_end = va_end;
    b.phys_start = pa;
    b.flags = flags;
    return simple(uapi::viommu::kReqMap, b);
  }
  uint8_t unmap(uint32_t domain, uint64_t va, uint64_t va_end) {
    uapi::viommu::UnmapBody b{};
    b.domain = domain;
    b.virt_start = va;
    b.virt_end = va_end;
    return simple(uapi::viommu::kReqUnmap, b);
  }

  DriverQueue queues[2];

 protected:
  // The guest RAM the rings and buffers live in.
  virtual PhysicalMemory& ring_mem() = 0;
};

}  // namespace modiommu::hw::virtio::testring
