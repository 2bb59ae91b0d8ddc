// libFuzzer target: a byte stream becomes configuration-space and BAR
// accesses to the virtio-pci (modern) transport model in front of a
// virtio-iommu, any offset and width, with queue bring-ups mixed in and DMA
// translations through the IOMMU. The model must never crash, hang or trip
// a sanitizer; the ISR keeps only its two defined bits, the vendor and
// device IDs never change, and translation answers stay self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../fuzz_input.h"
#include "hw/memory.h"
#include "hw/virtio/virtio_iommu.h"
#include "hw/virtio/virtio_pci.h"
#include "uapi/virtio_pci.h"

using namespace modiommu::hw;
using namespace modiommu::hw::virtio;

using modiommu::fuzz::Reader;
using modiommu::fuzz::check;

namespace {

constexpr uint64_t kRam = 0x40000000, kRamSize = 1ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  check(mem.add_ram(kRam, kRamSize).ok());
  VirtioIommuOptions o;
  o.endpoints = {1, 2};
  o.queue_size = 8;
  o.max_mappings = 64;
  auto iommu = std::make_shared<VirtioIommu>("fuzz", mem, o);
  VirtioPci fn("fuzz-pci", mem, iommu, nullptr);
  const uint32_t ids = fn.config_read(0, 4);
  Reader r{data, size};
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    switch (op % 6) {
      case 0: {  // configuration space write (any offset, 1/2/4 bytes)
        const uint32_t off = r.get<uint16_t>() % 4096;
        const unsigned sz = 1u << (r.get<uint8_t>() % 3);
        fn.config_write(off, r.get<uint32_t>(), sz);
        (void)fn.config_read(off & ~3u, 4);
        break;
      }
      case 1: {  // BAR write (any offset in the BAR, 1/2/4/8 bytes)
        const uint64_t off = r.get<uint16_t>() % VirtioPci::kBarSize;
        const unsigned sz = 1u << (r.get<uint8_t>() % 4);
        fn.write(off, r.get<uint64_t>(), sz);
        break;
      }
      case 2: {  // BAR read
        const uint64_t off = r.get<uint16_t>() % VirtioPci::kBarSize;
        const unsigned sz = 1u << (r.get<uint8_t>() % 4);
        const uint64_t v = fn.read(off, sz);
        if (off == VirtioPci::kIsrOff && sz == 1) check(v <= 3);  // 4.1.4.5: two bits
        break;
      }
      case 3: {  // queue layout inside RAM, then enable (hostile sizes too)
        namespace c = modiommu::uapi::virtio_pci;
        const uint16_t q = r.get<uint8_t>() % 3;
        const uint64_t common = VirtioPci::kCommonOff;
        fn.write(common + c::kQueueSelect, q, 2);
        fn.write(common + c::kQueueSize, r.get<uint16_t>(), 2);
        for (uint32_t reg : {c::kQueueDesc, c::kQueueDriver, c::kQueueDevice})
          fn.write(common + reg, kRam + (r.get<uint32_t>() % kRamSize), 8);
        fn.write(common + c::kQueueEnable, 1, 2);
        fn.write(VirtioPci::kNotifyOff + VirtioPci::kNotifyMultiplier * q, q, 2);
        break;
      }
      case 5: {  // driver status bring-up with fuzzed features
        namespace c = modiommu::uapi::virtio_pci;
        fn.write(c::kDeviceStatus, 0, 1);
        fn.write(c::kDeviceStatus, kStatusAcknowledge | kStatusDriver, 1);
        fn.write(c::kDriverFeatureSelect, 0, 4);
        fn.write(c::kDriverFeature, r.get<uint32_t>(), 4);
        fn.write(c::kDriverFeatureSelect, 1, 4);
        fn.write(c::kDriverFeature, 1, 4);  // VERSION_1
        fn.write(c::kDeviceStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk, 1);
        break;
      }
      case 4: {  // DMA translation
        const uint32_t ep = r.get<uint8_t>() % 4;
        const uint64_t iova = r.get<uint64_t>();
        const auto t = iommu->translate(ep, iova, r.get<uint8_t>() & 1 ? Access::write : Access::read);
        if (t.kind == TranslateOutcome::Kind::faulted) check(t.span == 0);
        else check(t.span >= 1);
        break;
      }
    }
    check(fn.config_read(0, 4) == ids);  // read-only IDs stay put
  }
  return 0;
}
