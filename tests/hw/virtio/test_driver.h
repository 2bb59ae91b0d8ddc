// A tiny test-side virtio driver: lays out split virtqueues in guest RAM and
// drives a VirtioMmio through its registers, like a guest would. The rings
// and requests are the shared RingDriver's (tests/include).
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
#include "virtio_test_ring.h"

namespace modiommu::hw::virtio::testing {

inline constexpr uint64_t kRam = 0x40000000, kRamSize = 16ull << 20;
inline constexpr uint64_t kMmioBase = 0x0a000000;
using testring::Completion;
using testring::DriverQueue;
using testring::kQSize;

class TestDriver : public testring::RingDriver {
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
  void setup_queue(unsigned q, uint16_t size = kQSize) {
    DriverQueue& dq = queues[q];
    const uint64_t base = kRam + 0x100000ull * (q + 1);
    dq = DriverQueue::at(base, size);
    set_reg(mmio::kQueueSel, q);
    set_reg(mmio::kQueueNum, size);
    set_reg(mmio::kQueueDescLow, static_cast<uint32_t>(dq.desc));
    set_reg(mmio::kQueueDescHigh, static_cast<uint32_t>(dq.desc >> 32));
    set_reg(mmio::kQueueDriverLow, static_cast<uint32_t>(dq.avail));
    set_reg(mmio::kQueueDriverHigh, static_cast<uint32_t>(dq.avail >> 32));
    set_reg(mmio::kQueueDeviceLow, static_cast<uint32_t>(dq.used));
    set_reg(mmio::kQueueDeviceHigh, static_cast<uint32_t>(dq.used >> 32));
    set_reg(mmio::kQueueReady, 1);
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

  void kick(unsigned q) override { set_reg(mmio::kQueueNotify, q); }

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
      const uint16_t d = dq.next_desc++ % dq.size;
      write_desc(1, d, event_buf(d), len, kDescFWrite, 0);
      make_available(1, d, false);
    }
    kick(1);
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

 protected:
  PhysicalMemory& ring_mem() override { return mem; }
};

}  // namespace modiommu::hw::virtio::testing
