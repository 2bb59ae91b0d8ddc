// libFuzzer target: a byte stream becomes virtio-iommu requests placed in the
// request queue (well-formed chains carrying fuzzed request bytes), raw
// hostile descriptors and ring indices, transport register writes, event
// buffers and DMA translations. The models must never crash, hang or trip a
// sanitizer; every completed request carries a defined status code and every
// translation answer is self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../fuzz_input.h"
#include "hw/memory.h"
#include "hw/virtio/virtio_iommu.h"
#include "hw/virtio/virtio_mmio.h"

using namespace modiommu::hw;
using namespace modiommu::hw::virtio;

using modiommu::fuzz::Reader;
using modiommu::fuzz::check;

namespace {

constexpr uint64_t kRam = 0x40000000, kRamSize = 1ull << 20;
constexpr uint32_t kQ = 8;  // queue size
// Per queue q: desc at kRam + q*0x10000, avail +0x1000, used +0x2000, data +0x4000.
uint64_t qbase(unsigned q) { return kRam + 0x10000ull * q; }

struct Rig {
  PhysicalMemory mem;
  std::shared_ptr<VirtioIommu> iommu;
  std::unique_ptr<VirtioMmio> mmio;
  uint16_t avail[2] = {0, 0};

  Rig() {
    check(mem.add_ram(kRam, kRamSize).ok());
    VirtioIommuOptions o;
    o.endpoints = {1, 2, 3};
    o.queue_size = kQ;
    o.max_mappings = 64;
    o.probe_size = 64;
    iommu = std::make_shared<VirtioIommu>("fuzz", mem, o);
    mmio = std::make_unique<VirtioMmio>("fuzz-mmio", mem, iommu, nullptr);
  }
  void init(uint64_t features) {
    mmio->write(mmio::kStatus, 0, 4);
    mmio->write(mmio::kStatus, kStatusAcknowledge | kStatusDriver, 4);
    mmio->write(mmio::kDriverFeaturesSel, 0, 4);
    mmio->write(mmio::kDriverFeatures, static_cast<uint32_t>(features), 4);
    mmio->write(mmio::kDriverFeaturesSel, 1, 4);
    mmio->write(mmio::kDriverFeatures, 1, 4);  // VERSION_1
    mmio->write(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk, 4);
    for (unsigned q = 0; q < 2; ++q) {
      mmio->write(mmio::kQueueSel, q, 4);
      mmio->write(mmio::kQueueNum, kQ, 4);
      mmio->write(mmio::kQueueDescLow, static_cast<uint32_t>(qbase(q)), 4);
      mmio->write(mmio::kQueueDriverLow, static_cast<uint32_t>(qbase(q) + 0x1000), 4);
      mmio->write(mmio::kQueueDeviceLow, static_cast<uint32_t>(qbase(q) + 0x2000), 4);
      mmio->write(mmio::kQueueReady, 1, 4);
      avail[q] = 0;
    }
    mmio->write(mmio::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk, 4);
  }
  void desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    struct {
      uint64_t a;
      uint32_t l;
      uint16_t f, n;
    } d{addr, len, flags, next};
    check(mem.write(qbase(q) + 16ull * (i % kQ), &d, sizeof d).ok());
  }
  void make_available(unsigned q, uint16_t head) {
    check(mem.write(qbase(q) + 0x1000 + 4 + 2ull * (avail[q] % kQ), &head, 2).ok());
    ++avail[q];
    check(mem.write(qbase(q) + 0x1002, &avail[q], 2).ok());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Rig rig;
  Reader r{data, size};
  rig.init(r.get<uint8_t>());
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    switch (op % 6) {
      case 0: {  // a well-formed chain carrying fuzzed request bytes
        const size_t rlen = r.get<uint8_t>() % 96;
        const uint32_t wlen = r.get<uint8_t>() % 96;
        uint8_t req[96] = {};
        for (size_t i = 0; i < rlen; ++i) req[i] = r.get<uint8_t>();
        const uint64_t rbuf = qbase(0) + 0x4000, wbuf = qbase(0) + 0x5000;
        check(rig.mem.write(rbuf, req, rlen ? rlen : 1).ok());
        check(rig.mem.fill(wbuf, 0xee, 96).ok());
        const uint16_t head = r.get<uint8_t>() % (kQ - 1);
        rig.desc(0, head, rbuf, static_cast<uint32_t>(rlen), kDescFNext, head + 1);
        rig.desc(0, head + 1, wbuf, wlen, kDescFWrite, 0);
        const uint16_t before = static_cast<uint16_t>(rig.mem.read32(qbase(0) + 0x2000).value_or(0) >> 16);
        rig.make_available(0, head);
        rig.mmio->write(mmio::kQueueNotify, 0, 4);
        const uint16_t after = static_cast<uint16_t>(rig.mem.read32(qbase(0) + 0x2000).value_or(0) >> 16);
        // A completed request with room for the tail carries a defined status.
        if (after != before && wlen >= 4 && !(rig.mmio->status() & kStatusNeedsReset)) {
          uint8_t tail = 0xff;
          check(rig.mem.read(wbuf + wlen - 4, &tail, 1).ok());
          check(tail <= viommu::kSNoMem);
        }
        break;
      }
      case 1: {  // raw (possibly hostile) descriptor + kick
        const unsigned q = r.get<uint8_t>() & 1;
        const uint16_t i = r.get<uint16_t>();
        uint64_t addr = r.get<uint64_t>();
        if (addr & 1) addr = kRam + (addr % kRamSize);  // mostly inside RAM
        rig.desc(q, i, addr, r.get<uint16_t>(), r.get<uint8_t>() & 7, r.get<uint16_t>() % (kQ + 2));
        if (r.get<uint8_t>() & 1) rig.make_available(q, r.get<uint16_t>() % (kQ + 2));
        rig.mmio->write(mmio::kQueueNotify, q, 4);
        break;
      }
      case 2: {  // DMA translation
        const uint32_t ep = r.get<uint8_t>() % 5;
        const uint64_t iova = r.get<uint64_t>();
        const auto t = rig.iommu->translate(ep, iova, r.get<uint8_t>() & 1 ? Access::write : Access::read);
        if (t.kind == TranslateOutcome::Kind::faulted) check(t.span == 0);
        else check(t.span >= 1);
        if (t.kind == TranslateOutcome::Kind::bypassed) check(t.pa == iova);
        // A burst: at most max outcomes, spans sum to at most len, only the
        // last may be a fault.
        TranslateOutcome out[4];
        const uint64_t len = r.get<uint16_t>();
        const size_t n = rig.iommu->translate_burst(ep, iova, len, Access::read, out, 4);
        check(n <= 4 && (len == 0) == (n == 0));
        uint64_t sum = 0;
        for (size_t i = 0; i < n; ++i) {
          check(out[i].kind != TranslateOutcome::Kind::faulted || i + 1 == n);
          sum += out[i].span;
        }
        check(sum <= len);
        break;
      }
      case 3: {  // transport register or config write
        const uint64_t off = (r.get<uint16_t>() % mmio::kRegionSize);
        const unsigned sz = 1u << (r.get<uint8_t>() % 4);
        const uint64_t v = r.get<uint64_t>();
        if (off % sz == 0) rig.mmio->write(off, v, sz);
        (void)rig.mmio->read(off & ~uint64_t(3), 4);
        break;
      }
      case 4: {  // an event buffer
        const uint16_t i = r.get<uint8_t>() % kQ;
        rig.desc(1, i, qbase(1) + 0x4000 + 64ull * i, r.get<uint8_t>() % 48, kDescFWrite, 0);
        rig.make_available(1, i);
        rig.mmio->write(mmio::kQueueNotify, 1, 4);
        break;
      }
      case 5:  // reset and bring up again
        rig.init(r.get<uint8_t>());
        break;
    }
  }
  return 0;
}
