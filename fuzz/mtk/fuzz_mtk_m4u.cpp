// libFuzzer target: a byte stream becomes MediaTek M4U and SMI larb register
// writes and reads, raw RAM writes (so walks meet hostile ARMv7s tables) and
// translations for any larb/port. The models must never crash, hang or trip
// a sanitizer, and every answer must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "../fuzz_input.h"
#include "hw/memory.h"
#include "hw/mtk/m4u.h"
#include "hw/mtk/regs.h"
#include "hw/mtk/smi_larb.h"

using namespace modiommu::hw;

using modiommu::fuzz::Reader;

namespace {

constexpr uint64_t kRam = 0x40000000, kRamSize = 1ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  if (!mem.add_ram(kRam, kRamSize).ok()) std::abort();
  Reader r{data, size};
  mtk::Features f;
  const uint8_t shape = r.n ? r.get<uint8_t>() : 0;
  f.banks = 1 + shape % 5;
  f.iova_bits = (shape & 8) ? 34 : 32;
  f.pgtable_pa_35 = shape & 16;
  f.inv_sel = (shape & 32) ? mtk::MMU_INV_SEL_GEN1 : mtk::MMU_INV_SEL_GEN2;
  f.bank_portmsk[f.banks - 1] = 0xffff0000u;
  f.tlb_entries = 4;
  IrqLine irq{"m4u"};
  mtk::M4u m4u("fuzz", mem, f, {&irq});
  std::shared_ptr<mtk::SmiLarb> larbs[3] = {
      std::make_shared<mtk::SmiLarb>("l0", 0, mtk::SmiLarb::Layout::nonsec_con),
      std::make_shared<mtk::SmiLarb>("l1", 1, mtk::SmiLarb::Layout::mmu_en_f00),
      std::make_shared<mtk::SmiLarb>("l2", 2, mtk::SmiLarb::Layout::mmu_en_fc0)};
  for (auto& l : larbs) m4u.attach_larb(l->id(), l);
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    switch (op % 5) {
      case 0: {  // M4U register write: any offset in (and past) the region, any width
        const uint64_t off = r.get<uint32_t>() % (m4u.region_size() + 0x100);
        m4u.write(off, r.get<uint64_t>(), 1u << ((op >> 3) & 3));
        break;
      }
      case 1: {  // M4U register read
        const uint64_t off = r.get<uint32_t>() % (m4u.region_size() + 0x100);
        (void)m4u.read(off, 1u << ((op >> 3) & 3));
        break;
      }
      case 2: {  // larb register write
        auto& l = larbs[(op >> 3) % 3];
        l->write(r.get<uint16_t>() % 0x1000, r.get<uint32_t>(), (op & 0x80) ? 8 : 4);
        break;
      }
      case 3: {  // RAM write (tables)
        const uint64_t off = r.get<uint32_t>() % (kRamSize - 4) & ~uint64_t{3};
        (void)mem.write32(kRam + off, r.get<uint32_t>());
        break;
      }
      default: {  // translation for any larb/port
        const uint32_t sid = r.get<uint16_t>();
        const uint64_t iova = r.get<uint64_t>() & ((op & 8) ? ~uint64_t{0} : 0xffffffffu);
        const auto out = m4u.translate(sid, iova, (op & 4) ? Access::write : Access::read);
        if (out.kind != TranslateOutcome::Kind::faulted && out.span == 0) std::abort();
        if (out.kind == TranslateOutcome::Kind::translated && out.pa >> 35) std::abort();  // 35-bit output at most
        break;
      }
    }
  }
  return 0;
}
