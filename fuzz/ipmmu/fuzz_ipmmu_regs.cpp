// libFuzzer target: a byte stream becomes IPMMU-VMSA register writes and
// reads on a root and a cache IPMMU (Gen2, Gen3 or Gen4 layout), raw RAM
// writes so walks meet hostile tables, and translations through the
// cache's micro-TLBs. The model must never crash, hang or trip a
// sanitizer, and every answer must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "../fuzz_input.h"
#include "hw/ipmmu/ipmmu.h"
#include "hw/irq.h"
#include "hw/memory.h"

using namespace modiommu::hw;

using modiommu::fuzz::Reader;

namespace {

constexpr uint64_t kRam = 0x48000000, kRamSize = 1ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  if (!mem.add_ram(kRam, kRamSize).ok()) std::abort();
  Reader r{data, size};
  const auto gen = static_cast<ipmmu::Generation>(r.get<uint8_t>() % 3);
  ipmmu::Features f = ipmmu::features_for(gen);
  f.tlb_entries = 4;
  IrqLine irq{"ipmmu"};
  auto root = std::make_shared<ipmmu::Ipmmu>("root", mem, f, &irq);
  ipmmu::Ipmmu leaf("leaf", mem, f, nullptr, [root] { return root; });
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    ipmmu::Ipmmu& m = (op & 8) ? *root : leaf;
    switch (op % 4) {
      case 0: {  // register write, offset folded into the region
        const uint64_t off = (r.get<uint32_t>() % m.region_size()) & ~uint64_t{3};
        const uint64_t v = r.get<uint64_t>();
        m.write(off, v, (op & 4) ? 8 : 4);
        break;
      }
      case 1: {  // register read
        const uint64_t off = (r.get<uint32_t>() % m.region_size()) & ~uint64_t{3};
        (void)m.read(off, 4);
        break;
      }
      case 2: {  // RAM write (tables)
        const uint64_t off = r.get<uint32_t>() % (kRamSize - 8) & ~uint64_t{7};
        (void)mem.write64(kRam + off, r.get<uint64_t>());
        break;
      }
      default: {  // translation through a micro-TLB (some out of range)
        const uint32_t utlb = r.get<uint8_t>() % 80;
        const uint64_t iova = r.get<uint64_t>();
        const auto out = m.translate(utlb, iova, (op & 4) ? Access::write : Access::read);
        if (out.kind != TranslateOutcome::Kind::faulted && out.span == 0) std::abort();
        if (out.kind == TranslateOutcome::Kind::bypassed && out.pa != iova) std::abort();
        break;
      }
    }
  }
  return 0;
}
