// Bytes become SMMUv3 commands in a queue in RAM; then PROD is written, errors
// acked, and translations run. Must never crash, hang or trip a sanitizer.
#include <cstdint>
#include <cstring>
#include <memory>

#include "hw/memory.h"
#include "hw/smmuv3/smmuv3.h"

using namespace modiommu::hw;
using namespace modiommu::hw::smmuv3;

namespace {
constexpr uint64_t kRam = 0x40000000, kCmdq = kRam, kEvtq = kRam + 0x10000, kStrtab = kRam + 0x20000;

PhysicalMemory& memory() {
  static PhysicalMemory* m = [] {
    auto* p = new PhysicalMemory;
    (void)p->add_ram(kRam, 0x100000);
    return p;
  }();
  return *m;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  PhysicalMemory& mem = memory();
  Features f;
  f.stage1 = data[0] & 1;
  f.stage2 = data[0] & 2;
  f.hyp = data[0] & 4;
  f.sev = data[0] & 8;
  f.sid_bits = 4 + (data[1] & 15);
  f.cmdq_log2 = 1 + (data[2] & 7);
  const unsigned log2 = data[3] & 31;  // may exceed IDR1.CMDQS: hostile
  data += 4;
  size -= 4;
  SmmuV3 smmu("fuzz", mem, f);
  // A few bypass STEs so CFGI/translate have something to chew on.
  for (uint32_t sid = 0; sid < 16; ++sid) {
    uint64_t ste[8] = {1 | (4 << 1)};
    (void)mem.write(kStrtab + sid * 64, ste, sizeof ste);
  }
  smmu.write(STRTAB_BASE, kStrtab, 8);
  smmu.write(STRTAB_BASE_CFG, 4, 4);
  smmu.write(EVENTQ_BASE, kEvtq | 4, 8);
  smmu.write(CMDQ_BASE, kCmdq | log2, 8);
  smmu.write(CR0, CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN, 4);

  const size_t n = std::min<size_t>(size / 16, 1u << f.cmdq_log2);
  (void)mem.write(kCmdq, data, n * 16);
  smmu.write(CMDQ_PROD, static_cast<uint32_t>(n), 4);
  // Ack errors (skipping the failing command like a driver) until drained.
  for (int i = 0; i < 64; ++i) {
    const uint32_t gerror = static_cast<uint32_t>(smmu.read(GERROR, 4));
    if (!((gerror ^ smmu.read(GERRORN, 4)) & GERROR_CMDQ_ERR)) break;
    const uint32_t cons = static_cast<uint32_t>(smmu.read(CMDQ_CONS, 4)) & 0xfffff;
    uint64_t sync[2] = {CMD_SYNC, 0};
    (void)mem.write(kCmdq + (cons & ((1u << f.cmdq_log2) - 1)) * 16, sync, 16);
    smmu.write(GERRORN, gerror, 4);
  }
  for (uint32_t sid = 0; sid < 20; ++sid) (void)smmu.translate(sid, sid * 0x1000, Access::read);
  // Any trailing bytes: raw register writes.
  for (size_t i = n * 16; i + 5 <= size; i += 5) {
    uint32_t v;
    std::memcpy(&v, data + i + 1, 4);
    smmu.write((uint64_t{data[i]} * 4) % kRegionSize, v, 4);
  }
  return 0;
}
