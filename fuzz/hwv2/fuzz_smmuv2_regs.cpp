// libFuzzer target: a byte stream becomes SMMUv2 register writes, reads and
// translations (plus raw RAM writes so walks meet hostile tables). The model
// must never crash, hang or trip a sanitizer, and every answer must be
// self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "../fuzz_input.h"
#include "hw/memory.h"
#include "hw/smmuv2/regs.h"
#include "hw/smmuv2/smmuv2.h"

using namespace modiommu::hw;

using modiommu::fuzz::Reader;

namespace {

constexpr uint64_t kRam = 0x80000000, kRamSize = 1ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  if (!mem.add_ram(kRam, kRamSize).ok()) std::abort();
  smmuv2::Features f;
  f.num_smrg = 8;
  f.num_cb = 4;
  f.tlb_entries = 4;
  smmuv2::SmmuV2 smmu("fuzz", mem, f);
  Reader r{data, size};
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    switch (op % 4) {
      case 0: {  // register write, offset folded into the region
        const uint64_t off = (r.get<uint32_t>() % smmu.region_size()) & ~uint64_t{3};
        const uint64_t v = r.get<uint64_t>();
        smmu.write((op & 4) ? off & ~uint64_t{7} : off, v, (op & 4) ? 8 : 4);
        break;
      }
      case 1: {  // register read
        const uint64_t off = (r.get<uint32_t>() % smmu.region_size()) & ~uint64_t{3};
        (void)smmu.read(off, 4);
        break;
      }
      case 2: {  // RAM write (tables)
        const uint64_t off = r.get<uint32_t>() % (kRamSize - 8) & ~uint64_t{7};
        (void)mem.write64(kRam + off, r.get<uint64_t>());
        break;
      }
      default: {  // translation
        const uint32_t sid = r.get<uint16_t>();
        const uint64_t iova = r.get<uint64_t>();
        const auto out = smmu.translate(sid, iova, (op & 4) ? Access::write : Access::read);
        if (out.kind != TranslateOutcome::Kind::faulted && out.span == 0) std::abort();
        break;
      }
    }
  }
  return 0;
}
