// libFuzzer target: a byte stream becomes Qualcomm MSM IOMMU context bank
// register writes and reads (through the banks' windows, 4- and 8-byte),
// local-window writes, raw RAM writes so walks meet hostile tables, and
// translations for banks that exist and that do not. The model must never
// crash, hang or trip a sanitizer, and every answer must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "../fuzz_input.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/qcom/qcom_iommu.h"

using namespace modiommu::hw;

using modiommu::fuzz::Reader;

namespace {

constexpr uint64_t kRam = 0x80000000, kRamSize = 1ull << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PhysicalMemory mem;
  if (!mem.add_ram(kRam, kRamSize).ok()) std::abort();
  Reader r{data, size};
  IrqLine irq{"qcom"};
  auto mmu = std::make_shared<qcom::QcomIommu>("apps", mem, 4);
  const unsigned banks[] = {1, 4, 5};
  std::shared_ptr<MmioDevice> win[3];
  for (int i = 0; i < 3; ++i) {
    if (!mmu->add_context(banks[i], i == 2 ? nullptr : &irq)) std::abort();
    win[i] = qcom::QcomIommu::context_window(mmu, banks[i]);
  }
  while (r.n > 0) {
    const uint8_t op = r.get<uint8_t>();
    MmioDevice& cb = *win[(op >> 4) % 3];
    switch (op % 5) {
      case 0: {  // bank register write
        const uint64_t off = r.get<uint16_t>() % 0x1000 & ~uint64_t{3};
        cb.write(off, r.get<uint64_t>(), (op & 8) ? 8 : 4);
        break;
      }
      case 1: {  // bank register read
        const uint64_t off = r.get<uint16_t>() % 0x1000 & ~uint64_t{3};
        (void)cb.read(off, (op & 8) ? 8 : 4);
        break;
      }
      case 2: {  // RAM write (tables)
        const uint64_t off = r.get<uint32_t>() % (kRamSize - 8) & ~uint64_t{7};
        (void)mem.write64(kRam + off, r.get<uint64_t>());
        break;
      }
      case 3: {  // local window
        const uint64_t off = r.get<uint16_t>() & ~uint64_t{3};
        mmu->write(off, r.get<uint32_t>(), 4);
        (void)mmu->read(off, 4);
        break;
      }
      default: {  // translation (streams 0..7: some have no bank)
        const uint32_t sid = r.get<uint8_t>() % 8;
        const uint64_t iova = r.get<uint64_t>();
        const auto out = mmu->translate(sid, iova, (op & 8) ? Access::write : Access::read);
        if (out.kind != TranslateOutcome::Kind::faulted && out.span == 0) std::abort();
        if (out.kind == TranslateOutcome::Kind::bypassed && out.pa != iova) std::abort();
        if (out.kind != TranslateOutcome::Kind::faulted && !mmu->has_context(sid)) std::abort();
        break;
      }
    }
  }
  return 0;
}
