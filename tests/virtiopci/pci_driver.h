// A tiny test-side virtio-pci driver: finds the regions by walking the
// vendor capabilities in configuration space (virtio 1.2 4.1.4), lays out
// split virtqueues in guest RAM and drives a VirtioPci like a guest would.
// Requests complete synchronously inside the notify write.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/virtio/virtio_iommu.h"
#include "hw/virtio/virtio_pci.h"
#include "uapi/virtio_iommu.h"
#include "uapi/virtio_pci.h"

namespace modiommu::hw::virtio::pcitest {

namespace vp = uapi::virtio_pci;
inline constexpr uint64_t kRam = 0x40000000, kRamSize = 16ull << 20;
inline constexpr uint64_t kBarBase = 0x10000000;
inline constexpr uint32_t kQSize = 16;

struct Region {
  uint8_t cap = 0;  // configuration-space offset of the capability
  uint8_t bar = 0;
  uint64_t addr = 0;  // CPU address (BAR base + offset)
  uint32_t length = 0;
};

struct DriverQueue {
  uint64_t desc = 0, avail = 0, used = 0, data = 0, notify = 0;
  uint16_t avail_idx = 0, used_seen = 0, size = kQSize;
};

class PciDriver {
 public:
  // A function of its own, on a bus and RAM of its own.
  explicit PciDriver(VirtioIommuOptions opts = default_opts()) : irq("intx"), mem(own_mem_), bus(own_bus_) {
    EXPECT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    iommu = std::make_shared<VirtioIommu>("viommu", mem, std::move(opts));
    fn = std::make_shared<VirtioPci>("virtio-pci", mem, iommu, &irq);
    fn->set_bar_address(VirtioPci::kBar, kBarBase);
    EXPECT_TRUE(bus.map(kBarBase, VirtioPci::kBarSize, fn).ok());
    fn->config_write(modiommu::pci::COMMAND, modiommu::pci::COMMAND_MEMORY | modiommu::pci::COMMAND_MASTER, 2);
    walk_caps();
  }
  // A function already on a machine (firmware assigned its BAR); rings and
  // buffers go at `ram` (2 MiB of RAM the test owns).
  PciDriver(PhysicalMemory& m, MmioBus& b, std::shared_ptr<VirtioPci> f, uint64_t ram)
      : irq("unused"), mem(m), bus(b), fn(std::move(f)), ram_(ram) {
    walk_caps();
  }
  static VirtioIommuOptions default_opts() {
    VirtioIommuOptions o;
    o.endpoints = {0x10, 0x11};
    o.queue_size = 64;
    return o;
  }

  uint32_t cfg(uint32_t off, unsigned size) { return fn->config_read(off, size); }
  // The BAR address the way an OS reads it (64-bit memory BAR).
  uint64_t bar_addr(unsigned b) {
    const uint32_t lo = cfg(modiommu::pci::BAR0 + 4 * b, 4);
    uint64_t a = lo & ~0xfull;
    if ((lo & 6) == 4) a |= uint64_t{cfg(modiommu::pci::BAR0 + 4 * (b + 1), 4)} << 32;
    return a;
  }
  // 4.1.4: every vendor capability, by cfg_type (the first of each type).
  void walk_caps() {
    if (!(cfg(modiommu::pci::STATUS, 2) & modiommu::pci::STATUS_CAP_LIST)) return;
    uint32_t at = cfg(modiommu::pci::CAPABILITY_LIST, 1) & 0xfc;
    for (int guard = 0; at >= 0x40 && guard < 48; ++guard) {
      if (cfg(at, 1) == vp::kCapVendor) {
        const uint8_t type = static_cast<uint8_t>(cfg(at + vp::kCapCfgType, 1));
        ++cap_count[type];
        if (!regions.count(type)) {
          Region r;
          r.cap = static_cast<uint8_t>(at);
          r.bar = static_cast<uint8_t>(cfg(at + vp::kCapBar, 1));
          r.addr = bar_addr(r.bar) + cfg(at + vp::kCapOffset, 4);
          r.length = cfg(at + vp::kCapLength, 4);
          regions[type] = r;
          if (type == vp::kCfgNotify) notify_mult = cfg(at + vp::kNotifyCapMultiplier, 4);
        }
      }
      at = cfg(at + 1, 1) & 0xfc;
    }
  }
  uint64_t common() { return regions.at(vp::kCfgCommon).addr; }
  uint64_t rd(uint32_t field, unsigned size) { return bus.read(common() + field, size); }
  void wr(uint32_t field, uint64_t v, unsigned size) { bus.write(common() + field, v, size); }
  uint8_t status() { return static_cast<uint8_t>(rd(vp::kDeviceStatus, 1)); }
  void set_status(uint8_t s) { wr(vp::kDeviceStatus, s, 1); }
  uint8_t read_isr() { return static_cast<uint8_t>(bus.read(regions.at(vp::kCfgIsr).addr, 1)); }

  uint64_t device_features() {
    wr(vp::kDeviceFeatureSelect, 0, 4);
    uint64_t f = rd(vp::kDeviceFeature, 4);
    wr(vp::kDeviceFeatureSelect, 1, 4);
    return f | rd(vp::kDeviceFeature, 4) << 32;
  }
  bool negotiate(uint64_t features) {
    set_status(0);
    set_status(kStatusAcknowledge);
    set_status(kStatusAcknowledge | kStatusDriver);
    wr(vp::kDriverFeatureSelect, 0, 4);
    wr(vp::kDriverFeature, static_cast<uint32_t>(features), 4);
    wr(vp::kDriverFeatureSelect, 1, 4);
    wr(vp::kDriverFeature, static_cast<uint32_t>(features >> 32), 4);
    set_status(kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    return status() & kStatusFeaturesOk;
  }
  // Programs queue q (64-bit addresses as two 32-bit halves, as Linux does).
  void program_queue(unsigned q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used) {
    wr(vp::kQueueSelect, q, 2);
    wr(vp::kQueueSize, size, 2);
    wr(vp::kQueueDesc, desc & 0xffffffffu, 4);
    wr(vp::kQueueDesc + 4, desc >> 32, 4);
    wr(vp::kQueueDriver, avail & 0xffffffffu, 4);
    wr(vp::kQueueDriver + 4, avail >> 32, 4);
    wr(vp::kQueueDevice, used, 8);
  }
  void setup_queue(unsigned q, uint16_t size = kQSize) {
    DriverQueue& dq = queues[q];
    const uint64_t base = ram_ + 0x100000ull * q;
    dq = {base, base + 0x4000, base + 0x8000, base + 0x10000, 0, 0, 0, size};
    program_queue(q, size, dq.desc, dq.avail, dq.used);
    const uint32_t noff = static_cast<uint32_t>(rd(vp::kQueueNotifyOff, 2));
    dq.notify = regions.at(vp::kCfgNotify).addr + uint64_t{noff} * notify_mult;
    wr(vp::kQueueEnable, 1, 2);
  }
  void init() {
    ASSERT_TRUE(negotiate(device_features()));
    setup_queue(0);
    setup_queue(1);
    set_status(kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    ASSERT_TRUE(status() & kStatusDriverOk);
  }
  void kick(unsigned q) { bus.write(queues[q].notify, q, 2); }

  void write_desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    struct {
      uint64_t a;
      uint32_t l;
      uint16_t f, n;
    } d{addr, len, flags, next};
    ASSERT_TRUE(mem.write(queues[q].desc + 16ull * i, &d, sizeof d).ok());
  }
  void make_available(unsigned q, uint16_t head, bool do_kick = true) {
    DriverQueue& dq = queues[q];
    ASSERT_TRUE(mem.write(dq.avail + 4 + 2ull * (dq.avail_idx % dq.size), &head, 2).ok());
    ++dq.avail_idx;
    ASSERT_TRUE(mem.write(dq.avail + 2, &dq.avail_idx, 2).ok());
    if (do_kick) kick(q);
  }
  uint16_t used_idx(unsigned q) {
    uint16_t v = 0;
    EXPECT_TRUE(mem.read(queues[q].used + 2, &v, 2).ok());
    return v;
  }
  // One request on the request queue; the writable bytes after completion
  // (empty if the device returned nothing).
  std::vector<uint8_t> request(const void* rd_buf, size_t rlen, uint32_t wlen) {
    DriverQueue& dq = queues[0];
    const uint64_t rbuf = dq.data, wbuf = dq.data + 0x2000;
    EXPECT_TRUE(mem.write(rbuf, rd_buf, rlen).ok());
    EXPECT_TRUE(mem.fill(wbuf, 0xee, wlen).ok());
    write_desc(0, 0, rbuf, static_cast<uint32_t>(rlen), kDescFNext, 1);
    write_desc(0, 1, wbuf, wlen, kDescFWrite, 0);
    make_available(0, 0);
    if (used_idx(0) == dq.used_seen) return {};
    uint32_t e[2];
    EXPECT_TRUE(mem.read(dq.used + 4 + 8ull * (dq.used_seen % dq.size), e, sizeof e).ok());
    ++dq.used_seen;
    std::vector<uint8_t> out(std::min<uint32_t>(e[1], wlen));
    if (!out.empty()) {
      EXPECT_TRUE(mem.read(wbuf, out.data(), out.size()).ok());
    }
    return out;
  }
  template <typename Body>
  uint8_t simple(uint8_t type, const Body& b) {
    std::vector<uint8_t> buf(sizeof(uapi::viommu::ReqHead) + sizeof b, 0);
    buf[0] = type;
    std::memcpy(buf.data() + sizeof(uapi::viommu::ReqHead), &b, sizeof b);
    auto w = request(buf.data(), buf.size(), sizeof(uapi::viommu::ReqTail));
    return w.size() == sizeof(uapi::viommu::ReqTail) ? w[0] : 0xff;
  }
  uint8_t attach(uint32_t domain, uint32_t ep) {
    uapi::viommu::AttachBody b{};
    b.domain = domain;
    b.endpoint = ep;
    return simple(uapi::viommu::kReqAttach, b);
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

  IrqLine irq;  // first: outlives the function that raises it
 private:
  PhysicalMemory own_mem_;
  MmioBus own_bus_;

 public:
  PhysicalMemory& mem;
  MmioBus& bus;
  std::shared_ptr<VirtioIommu> iommu;
  std::shared_ptr<VirtioPci> fn;
  std::map<uint8_t, Region> regions;
  std::map<uint8_t, int> cap_count;
  uint32_t notify_mult = 0;
  DriverQueue queues[2];

 private:
  uint64_t ram_ = kRam + 0x100000;
};

}  // namespace modiommu::hw::virtio::pcitest
