// A tiny test-side virtio driver: lays out split virtqueues in guest RAM and
// drives a VirtioMmio through its registers, like a guest would. Requests are
// submitted one at a time and completed synchronously by the notify write.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/virtio/virtio_iommu.h"
#include "hw/virtio/virtio_mmio.h"

namespace modiommu::hw::virtio::testing {

inline constexpr uint64_t kRam = 0x40000000, kRamSize = 16ull << 20;
inline constexpr uint64_t kMmioBase = 0x0a000000;
inline constexpr uint32_t kQSize = 16;

struct DriverQueue {
  uint64_t desc = 0, avail = 0, used = 0, data = 0;
  uint16_t avail_idx = 0, used_seen = 0;
  uint16_t next_desc = 0;
};

struct Completion {
  uint32_t id = 0, len = 0;
  std::vector<uint8_t> written;  // bytes of the writable buffer
};

class TestDriver {
 public:
  explicit TestDriver(VirtioIommuOptions opts = default_opts()) : irq_("virtio-iommu") {
    EXPECT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    iommu = std::make_shared<VirtioIommu>("viommu", mem, std::move(opts));
    transport = std::make_shared<VirtioMmio>("virtio-mmio", mem, iommu, &irq_);
    EXPECT_TRUE(bus.map(kMmioBase, mmio::kRegionSize, transport).ok());
  }
  static VirtioIommuOptions default_opts() {
    VirtioIommuOptions o;
    o.endpoints = {0x10, 0x11, 0x12};
    o.queue_size = 64;
    return o;
  }

  uint32_t reg(uint64_t off) { return bus.read32(kMmioBase + off); }
  void set_reg(uint64_t off, uint32_t v) { bus.write32(kMmioBase + off, v); }
  uint64_t irq_count() const { return irq_.count(); }

  uint64_t device_features() {
    set_reg(mmio::kDeviceFeaturesSel, 0);
    uint64_t f = reg(mmio::kDeviceFeatures);
    set_reg(mmio::kDeviceFeaturesSel, 1);
    return f | uint64_t{reg(mmio::kDeviceFeatures)} << 32;
  }
  // The 3.1.1 initialisation up to FEATURES_OK; returns whether the device kept it.
  bool negotiate(uint64_t features) {
    set_reg(mmio::kStatus, 0);
    set_reg(mmio::kStatus, kStatusAcknowledge);
    set_reg(mmio::kStatus, kStatusAcknowledge | kStatusDriver);
    set_reg(mmio::kDriverFeaturesSel, 0);
    set_reg(mmio::kDriverFeatures, static_cast<uint32_t>(features));
    set_reg(mmio::kDriverFeaturesSel, 1);
    set_reg(mmio::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    set_reg(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    return reg(mmio::kStatus) & kStatusFeaturesOk;
  }
  void setup_queue(unsigned q, uint32_t size = kQSize) {
    DriverQueue& dq = queues[q];
    const uint64_t base = kRam + 0x100000ull * (q + 1);
    dq = {base, base + 0x4000, base + 0x8000, base + 0x10000, 0, 0, 0};
    set_reg(mmio::kQueueSel, q);
    set_reg(mmio::kQueueNum, size);
    set_reg(mmio::kQueueDescLow, static_cast<uint32_t>(dq.desc));
    set_reg(mmio::kQueueDescHigh, static_cast<uint32_t>(dq.desc >> 32));
    set_reg(mmio::kQueueDriverLow, static_cast<uint32_t>(dq.avail));
    set_reg(mmio::kQueueDriverHigh, static_cast<uint32_t>(dq.avail >> 32));
    set_reg(mmio::kQueueDeviceLow, static_cast<uint32_t>(dq.used));
    set_reg(mmio::kQueueDeviceHigh, static_cast<uint32_t>(dq.used >> 32));
    set_reg(mmio::kQueueReady, 1);
    qsize[q] = size;
  }
  // Full bring-up with every offered feature (or `features`).
  void init(uint64_t features = ~uint64_t{0}) {
    const uint64_t f = features == ~uint64_t{0} ? device_features() : features;
    ASSERT_TRUE(negotiate(f));
    setup_queue(0);
    setup_queue(1);
    set_reg(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    ASSERT_TRUE(reg(mmio::kStatus) & kStatusDriverOk);
  }

  // Writes one descriptor (raw, so tests can build hostile chains).
  void write_desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    struct {
      uint64_t a;
      uint32_t l;
      uint16_t f, n;
    } d{addr, len, flags, next};
    ASSERT_TRUE(mem.write(queues[q].desc + 16ull * i, &d, sizeof d).ok());
  }
  // Makes head available and kicks the queue.
  void make_available(unsigned q, uint16_t head, bool kick = true) {
    DriverQueue& dq = queues[q];
    ASSERT_TRUE(mem.write(dq.avail + 4 + 2ull * (dq.avail_idx % qsize[q]), &head, 2).ok());
    ++dq.avail_idx;
    ASSERT_TRUE(mem.write(dq.avail + 2, &dq.avail_idx, 2).ok());
    if (kick) set_reg(mmio::kQueueNotify, q);
  }
  uint16_t used_idx(unsigned q) {
    uint16_t v = 0;
    EXPECT_TRUE(mem.read(queues[q].used + 2, &v, 2).ok());
    return v;
  }
  // Next used element not yet seen, if any; reads back `wlen` bytes at waddr.
  bool next_used(unsigned q, Completion* out, uint64_t waddr = 0, uint32_t wlen = 0) {
    DriverQueue& dq = queues[q];
    if (used_idx(q) == dq.used_seen) return false;
    uint32_t e[2];
    EXPECT_TRUE(mem.read(dq.used + 4 + 8ull * (dq.used_seen % qsize[q]), e, sizeof e).ok());
    ++dq.used_seen;
    out->id = e[0];
    out->len = e[1];
    out->written.assign(wlen, 0);
    if (wlen) {
      EXPECT_TRUE(mem.read(waddr, out->written.data(), wlen).ok());
    }
    return true;
  }

  // Submits one request (readable bytes, then `wlen` writable bytes) on the
  // request queue; returns the writable bytes after completion (empty if the
  // device returned nothing).
  std::vector<uint8_t> request(const void* rd, size_t rlen, uint32_t wlen) {
    DriverQueue& dq = queues[0];
    const uint64_t rbuf = dq.data, wbuf = dq.data + 0x2000;
    EXPECT_TRUE(mem.write(rbuf, rd, rlen).ok());
    EXPECT_TRUE(mem.fill(wbuf, 0xee, wlen).ok());
    write_desc(0, 0, rbuf, static_cast<uint32_t>(rlen), kDescFNext, 1);
    write_desc(0, 1, wbuf, wlen, kDescFWrite, 0);
    make_available(0, 0);
    Completion c;
    if (!next_used(0, &c, wbuf, wlen)) return {};
    EXPECT_EQ(c.id, 0u);
    c.written.resize(std::min<size_t>(c.len, wlen));
    return c.written;
  }
  template <typename Body>
  uint8_t simple(uint8_t type, const Body& b) {
    std::vector<uint8_t> rd(sizeof(viommu::ReqHead) + sizeof b, 0);
    rd[0] = type;
    std::memcpy(rd.data() + sizeof(viommu::ReqHead), &b, sizeof b);
    auto w = request(rd.data(), rd.size(), sizeof(viommu::ReqTail));
    return w.size() == sizeof(viommu::ReqTail) ? w[0] : 0xff;
  }
  uint8_t attach(uint32_t domain, uint32_t ep, uint32_t flags = 0) {
    viommu::AttachBody b{};
    b.domain = domain;
    b.endpoint = ep;
    b.flags = flags;
    return simple(viommu::kReqAttach, b);
  }
  uint8_t detach(uint32_t domain, uint32_t ep) {
    viommu::DetachBody b{};
    b.domain = domain;
    b.endpoint = ep;
    return simple(viommu::kReqDetach, b);
  }
  uint8_t map(uint32_t domain, uint64_t va, uint64_t va_end, uint64_t pa, uint32_t flags) {
    viommu::MapBody b{};
    b.domain = domain;
    b.virt_start = va;
    b.virt_end = va_end;
    b.phys_start = pa;
    b.flags = flags;
    return simple(viommu::kReqMap, b);
  }
  uint8_t unmap(uint32_t domain, uint64_t va, uint64_t va_end) {
    viommu::UnmapBody b{};
    b.domain = domain;
    b.virt_start = va;
    b.virt_end = va_end;
    return simple(viommu::kReqUnmap, b);
  }
  // PROBE: returns the status; *props gets probe_size bytes of properties.
  uint8_t probe(uint32_t ep, uint32_t probe_size, std::vector<uint8_t>* props) {
    std::vector<uint8_t> rd(sizeof(viommu::ReqHead) + sizeof(viommu::ProbeBody), 0);
    rd[0] = viommu::kReqProbe;
    std::memcpy(rd.data() + 4, &ep, 4);
    auto w = request(rd.data(), rd.size(), probe_size + 4);
    if (w.size() < 4) return 0xff;
    const uint8_t st = w[w.size() - 4];
    if (props) props->assign(w.begin(), w.end() - 4);
    return st;
  }
  // Offers n event buffers of `len` bytes on the event queue.
  void post_event_buffers(unsigned n, uint32_t len = sizeof(viommu::Fault)) {
    DriverQueue& dq = queues[1];
    for (unsigned i = 0; i < n; ++i) {
      const uint16_t d = dq.next_desc++ % qsize[1];
      write_desc(1, d, event_buf(d), len, kDescFWrite, 0);
      make_available(1, d, false);
    }
    set_reg(mmio::kQueueNotify, 1);
  }
  uint64_t event_buf(uint16_t d) const { return queues[1].data + 64ull * d; }
  bool next_fault(viommu::Fault* f, uint32_t* len = nullptr) {
    Completion c;
    if (!next_used(1, &c)) return false;
    if (len) *len = c.len;
    EXPECT_TRUE(mem.read(event_buf(static_cast<uint16_t>(c.id)), f, sizeof *f).ok());
    return true;
  }

  IrqLine irq_;  // first: outlives the transport that raises it
  PhysicalMemory mem;
  MmioBus bus;
  std::shared_ptr<VirtioIommu> iommu;
  std::shared_ptr<VirtioMmio> transport;
  DriverQueue queues[2];
  uint32_t qsize[2] = {kQSize, kQSize};

};

}  // namespace modiommu::hw::virtio::testing
