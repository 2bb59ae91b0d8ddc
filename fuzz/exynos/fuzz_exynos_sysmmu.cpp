// libFuzzer target: a byte stream becomes Exynos SysMMU register writes and
// reads (the version chosen by the first byte, so every register layout is
// hit), raw RAM writes so walks meet hostile first- and second-level
// tables, and translations. The model must never crash, hang or trip a
// sanitizer, and every answer must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "../fuzz_input.h"
#include "hw/exynos/regs.h"
#include "hw/exynos/sysmmu.h"
#include "hw/memory.h"

using namespace modiommu::hw;

using modiommu::fuzz::Reader;

namespace {

constexpr uint64_t kRam = 0x40000000, kRamSize = 1ull << 20;
// Offsets worth hitting: the common registers and each layout's.
constexpr uint64_t kOffsets[] = {0x0, 0x4, 0x8, 0xc, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34,
                                 0x60, 0x64, 0x70, 0x78, 0x80, 0x870, 0x874, 0x1000, 0x1004, 0x8000, 0x800c,
                                 0x8010, 0x8014, 0x8018, 0x8020, 0x8024};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  if (!mem.add_ram(kRam, kRamSize).ok()) std::abort();
  Reader r{data, size};
  const auto version = static_cast<exynos::Version>(r.get<uint8_t>() % 4);
  IrqLine irq{"fuzz"};
  exynos::Sysmmu mmu("fuzz", mem, version, &irq, 4);
  const exynos::Layout& lay = exynos::layout(version);
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    switch (op % 4) {
      case 0: {  // register write: a known offset, or any
        const uint8_t pick = r.get<uint8_t>();
        const uint64_t off = (op & 0x10) ? (uint64_t{r.get<uint16_t>()} & ~uint64_t{3})
                                         : kOffsets[pick % (sizeof(kOffsets) / sizeof(kOffsets[0]))];
        const unsigned sz = (op & 0x20) ? 1u << ((op >> 6) & 3) : 4;
        mmu.write(off, r.get<uint32_t>(), sz);
        break;
      }
      case 1: {  // register read
        const uint8_t pick = r.get<uint8_t>();
        const uint64_t off = kOffsets[pick % (sizeof(kOffsets) / sizeof(kOffsets[0]))];
        const uint64_t v = mmu.read(off, 4);
        if (off == exynos::REG_MMU_CTRL && (v & ~uint64_t{7})) std::abort();
        if (off == lay.int_status && v && mmu.stats().page_faults + mmu.stats().access_faults +
                                                 mmu.stats().bus_errors == 0)
          std::abort();  // a cause with no fault ever
        break;
      }
      case 2: {  // RAM write (tables)
        const uint64_t off = r.get<uint32_t>() % (kRamSize - 4) & ~uint64_t{3};
        (void)mem.write32(kRam + off, r.get<uint32_t>());
        break;
      }
      default: {  // translation
        const uint64_t iova = (op & 0x40) ? r.get<uint64_t>() : r.get<uint32_t>();
        const auto out = mmu.translate(0, iova, (op & 4) ? Access::write : Access::read);
        if (out.kind != TranslateOutcome::Kind::faulted && (out.span == 0 || out.span > exynos::kSectSize)) std::abort();
        if (out.kind == TranslateOutcome::Kind::translated &&
            (out.pa >> exynos::pa_bits(version) || (out.pa & 0xfff) != (iova & 0xfff)))
          std::abort();
        break;
      }
    }
  }
  return 0;
}
