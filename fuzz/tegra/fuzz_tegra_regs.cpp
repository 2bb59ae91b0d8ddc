// libFuzzer target: a byte stream becomes Tegra SMMU register writes and
// reads (Tegra210 or Tegra124 client tables, chosen by the first byte) over
// the MC window, raw RAM writes so walks meet hostile directories and page
// tables, and translations by any swgroup. The model must never crash, hang
// or trip a sanitizer, and every answer must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "../fuzz_input.h"
#include "hw/memory.h"
#include "hw/tegra/regs.h"
#include "hw/tegra/soc.h"
#include "hw/tegra/tegra_smmu.h"

using namespace modiommu::hw;

using modiommu::fuzz::Reader;

namespace {

constexpr uint64_t kRam = 0x80000000, kRamSize = 1ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  if (!mem.add_ram(kRam, kRamSize).ok()) std::abort();
  Reader r{data, size};
  const tegra::SmmuSoc& soc = (r.get<uint8_t>() & 1) ? tegra::tegra124_soc() : tegra::tegra210_soc();
  IrqLine irq{"fuzz"};
  tegra::TegraSmmu smmu("fuzz", mem, soc, &irq, 4);
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    switch (op % 4) {
      case 0: {  // register write: any offset in the 4 KiB window, any size
        const uint64_t off = r.get<uint16_t>() & 0xfff;
        const unsigned sz = 1u << ((op >> 4) & 3);
        smmu.write(off & ~uint64_t{sz - 1}, r.get<uint32_t>(), sz);
        break;
      }
      case 1: {  // register read
        const uint64_t off = r.get<uint16_t>() & 0xffc;
        const uint64_t v = smmu.read(off, 4);
        if (off == tegra::SMMU_PTB_ASID && v >= soc.num_asids) std::abort();
        if (off == tegra::SMMU_CONFIG && (v & ~uint64_t{tegra::SMMU_CONFIG_ENABLE})) std::abort();
        break;
      }
      case 2: {  // RAM write (directories, page tables)
        const uint64_t off = r.get<uint32_t>() % (kRamSize - 4) & ~uint64_t{3};
        (void)mem.write32(kRam + off, r.get<uint32_t>());
        break;
      }
      default: {  // a DMA access by a swgroup
        const uint32_t swgroup = r.get<uint8_t>() % 40;
        const uint64_t iova = (op & 0x40) ? r.get<uint64_t>() : r.get<uint32_t>();
        const auto out = smmu.translate(swgroup, iova, (op & 4) ? Access::write : Access::read);
        if (out.kind != TranslateOutcome::Kind::faulted && (out.span == 0 || out.span > tegra::kPageSize)) std::abort();
        if (out.kind == TranslateOutcome::Kind::translated &&
            (out.pa >> soc.address_bits || (out.pa & 0xfff) != (iova & 0xfff) || iova >> 32))
          std::abort();
        if (out.kind == TranslateOutcome::Kind::bypassed && out.pa != iova) std::abort();
        break;
      }
    }
  }
  return 0;
}
