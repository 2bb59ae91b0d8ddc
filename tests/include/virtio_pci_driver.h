// A tiny test-side virtio-pci driver: finds the regions by walking the
// vendor capabilities in configuration space (virtio 1.2 4.1.4), lays out
// split virtqueues in guest RAM and drives a VirtioPci like a guest would.
// The rings and requests are the shared RingDriver's (tests/include).
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
#include "virtio_test_ring.h"

namespace modiommu::hw::virtio::pcitest {

namespace vp = uapi::virtio_pci;
inline constexpr uint64_t kRam = 0x40000000, kRamSize = 16ull << 20;
inline constexpr uint64_t kBarBase = 0x10000000;
using testring::DriverQueue;
using testring::kQSize;

struct Region {
  uint8_t cap = 0;  // configuration-space offset of the capability
  uint8_t bar = 0;
  uint64_t addr = 0;  // CPU address (BAR base + offset)
  uint32_t length = 0;
};

class PciDriver : public testring::RingDriver {
 public:
  // A function of its own, on a bus and RAM of its own.
  explicit PciDriver(VirtioIommuOptions opts = default_opts()) : irq("intx"), mem(own_mem_), bus(own_bus_) {
    EXPECT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    iommu = std::make_shared<VirtioIommu>("viommu", mem, std::move(opts));
    fn = std::make_shared<VirtioPci>("virtio-pci", mem, iommu, &irq);
    fn->set_bar_address(VirtioPci::kBar, kBarBase);
    EXPECT_TRUE(bus.map(kBarBase, VirtioPci::kBarSize, fn).ok());
    fn->config_write(modiommu::uapi::pci::COMMAND, modiommu::uapi::pci::COMMAND_MEMORY | modiommu::uapi::pci::COMMAND_MASTER, 2);
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
    const uint32_t lo = cfg(modiommu::uapi::pci::BAR0 + 4 * b, 4);
    uint64_t a = lo & ~0xfull;
    if ((lo & 6) == 4) a |= uint64_t{cfg(modiommu::uapi::pci::BAR0 + 4 * (b + 1), 4)} << 32;
    return a;
  }
  // 4.1.4: every vendor capability, by cfg_type (the first of each type).
  void walk_caps() {
    if (!(cfg(modiommu::uapi::pci::STATUS, 2) & modiommu::uapi::pci::STATUS_CAP_LIST)) return;
    uint32_t at = cfg(modiommu::uapi::pci::CAPABILITY_LIST, 1) & 0xfc;
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
    dq = DriverQueue::at(base, size);
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
  void kick(unsigned q) override { bus.write(queues[q].notify, q, 2); }

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

 protected:
  PhysicalMemory& ring_mem() override { return mem; }

 private:
  uint64_t ram_ = kRam + 0x100000;
};

}  // namespace modiommu::hw::virtio::pcitest
