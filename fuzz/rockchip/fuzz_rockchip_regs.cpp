// libFuzzer target: a byte stream becomes Rockchip IOMMU register writes
// and reads on two banks of one node (v1 or v2, chosen by the first byte),
// raw RAM writes so walks meet hostile directories and page tables, and
// translations through the node. The model must never crash, hang or trip a
// sanitizer, and every answer must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "../fuzz_input.h"
#include "hw/memory.h"
#include "hw/rockchip/regs.h"
#include "hw/rockchip/rk_iommu.h"

using namespace modiommu::hw;

using modiommu::fuzz::Reader;

namespace {

constexpr uint64_t kRam = 0x40000000, kRamSize = 1ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  if (!mem.add_ram(kRam, kRamSize).ok()) std::abort();
  Reader r{data, size};
  const auto version = (r.get<uint8_t>() & 1) ? rockchip::Version::v2 : rockchip::Version::v1;
  IrqLine irq{"fuzz"};
  std::vector<std::shared_ptr<rockchip::RkMmu>> banks;
  for (int i = 0; i < 2; ++i) banks.push_back(std::make_shared<rockchip::RkMmu>("fuzz", mem, version, &irq, 4));
  rockchip::RkIommu node(banks);
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    rockchip::RkMmu& bank = *banks[(op >> 3) & 1];
    switch (op % 4) {
      case 0: {  // register write: any offset and size in a 0x100 window
        const uint64_t off = r.get<uint8_t>();
        const unsigned sz = 1u << ((op >> 4) & 3);
        bank.write(off & ~uint64_t{sz - 1}, r.get<uint32_t>(), sz);
        break;
      }
      case 1: {  // register read
        const uint64_t off = r.get<uint8_t>() & ~uint64_t{3};
        const uint64_t v = bank.read(off, 4);
        if (off == rockchip::MMU_INT_STATUS &&
            (v & ~(bank.read(rockchip::MMU_INT_RAWSTAT, 4) & bank.read(rockchip::MMU_INT_MASK, 4))))
          std::abort();
        break;
      }
      case 2: {  // RAM write (directories, page tables)
        const uint64_t off = r.get<uint32_t>() % (kRamSize - 4) & ~uint64_t{3};
        (void)mem.write32(kRam + off, r.get<uint32_t>());
        break;
      }
      default: {  // translation through the node
        const uint64_t iova = (op & 0x40) ? r.get<uint64_t>() : r.get<uint32_t>();
        const auto out = node.translate(0, iova, (op & 4) ? Access::write : Access::read);
        if (out.kind != TranslateOutcome::Kind::faulted && (out.span == 0 || out.span > rockchip::kPageSize)) std::abort();
        if (out.kind == TranslateOutcome::Kind::translated &&
            (out.pa >> rockchip::address_bits(version) || (out.pa & 0xfff) != (iova & 0xfff)))
          std::abort();
        break;
      }
    }
  }
  return 0;
}
