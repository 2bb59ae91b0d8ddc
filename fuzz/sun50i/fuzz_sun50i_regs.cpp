// libFuzzer target: a byte stream becomes sun50i IOMMU register writes and
// reads (any offset in the 0x200 window, any size), raw RAM writes so walks
// meet hostile directories and page tables, and translations for any master
// ID. The model must never crash, hang or trip a sanitizer, and every
// answer must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "../fuzz_input.h"
#include "hw/memory.h"
#include "hw/sun50i/regs.h"
#include "hw/sun50i/sun50i_iommu.h"

using namespace modiommu::hw;

using modiommu::fuzz::Reader;

namespace {

constexpr uint64_t kRam = 0x40000000, kRamSize = 1ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  if (!mem.add_ram(kRam, kRamSize).ok()) std::abort();
  Reader r{data, size};
  IrqLine irq{"fuzz"};
  sun50i::Sun50iIommu mmu("fuzz", mem, &irq, 4, 2);
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    switch (op % 4) {
      case 0: {  // register write
        const uint64_t off = r.get<uint16_t>() % 0x200;
        const unsigned sz = 1u << ((op >> 4) & 3);
        mmu.write(off, r.get<uint32_t>(), sz);
        break;
      }
      case 1: {  // register read
        const uint64_t off = r.get<uint16_t>() % 0x200 & ~uint64_t{3};
        const uint64_t v = mmu.read(off, 4);
        if (off == sun50i::IOMMU_INT_STA_REG && (v & ~sun50i::INT_MASK)) std::abort();
        if (off == sun50i::IOMMU_TLB_FLUSH_REG && v) std::abort();  // flushes complete at once
        if (off == sun50i::IOMMU_BYPASS_REG && (v & ~sun50i::kMasterMask)) std::abort();
        break;
      }
      case 2: {  // RAM write (directory, page tables)
        const uint64_t off = r.get<uint32_t>() % (kRamSize - 4) & ~uint64_t{3};
        (void)mem.write32(kRam + off, r.get<uint32_t>());
        break;
      }
      default: {  // translation for a master (IDs beyond 5 included)
        const uint32_t master = (op >> 3) & 7;
        const uint64_t iova = (op & 0x40) ? r.get<uint64_t>() : r.get<uint32_t>();
        const auto out = mmu.translate(master, iova, (op & 4) ? Access::write : Access::read);
        if (out.kind != TranslateOutcome::Kind::faulted && (out.span == 0 || out.span > sun50i::kPageSize)) std::abort();
        if (out.kind == TranslateOutcome::Kind::translated &&
            (out.pa >> 32 || (out.pa & 0xfff) != (iova & 0xfff) || iova >> 32))
          std::abort();
        if (out.kind == TranslateOutcome::Kind::bypassed && out.pa != iova) std::abort();
        break;
      }
    }
  }
  return 0;
}
