// Bytes become an STE, a CD, a level-1 stream table descriptor and
// translation table pages; then translations run. Must never crash.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "hw/memory.h"
#include "hw/smmuv3/smmuv3.h"

using namespace modiommu::hw;
using namespace modiommu::hw::smmuv3;

namespace {
constexpr uint64_t kRam = 0x40000000, kEvtq = kRam, kStrtab = kRam + 0x10000, kL2 = kRam + 0x20000,
                   kCd = kRam + 0x30000, kTables = kRam + 0x40000;  // 8 table pages of 4 KiB
constexpr size_t kTablePages = 8;

PhysicalMemory& memory() {
  static PhysicalMemory* m = [] {
    auto* p = new PhysicalMemory;
    (void)p->add_ram(kRam, 0x100000);
    return p;
  }();
  return *m;
}

uint64_t take64(const uint8_t*& d, size_t& n) {
  uint64_t v = 0;
  const size_t k = std::min<size_t>(n, 8);
  std::memcpy(&v, d, k);
  d += k;
  n -= k;
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  PhysicalMemory& mem = memory();
  const uint8_t mode = data[0], sidb = data[1];
  data += 2;
  size -= 2;
  (void)mem.fill(kRam, 0, 0x100000);
  uint64_t ste[8], cd[8];
  for (auto& w : ste) w = take64(data, size);
  for (auto& w : cd) w = take64(data, size);
  const uint64_t l1 = take64(data, size);
  // Optionally aim the pointers at our tables so walks get deep.
  if (mode & 1) {
    ste[0] = (ste[0] & ~0x000ffffffffffc0ull) | kCd;
    ste[3] = (ste[3] & ~0x000ffffffffff0ull) | kTables;
    cd[1] = (cd[1] & ~0x000ffffffffff0ull) | kTables;
  }
  if (mode & 2) ste[0] |= 1;  // valid
  (void)mem.write(kStrtab, &l1, 8);
  (void)mem.write(kStrtab + (sidb & 3) * 64, ste, 64);
  (void)mem.write(kL2 + (sidb & 3) * 64, ste, 64);
  (void)mem.write(kCd, cd, 64);
  // Table pages: raw bytes; with mode bit 2, table descriptors are
  // redirected into the table area.
  for (size_t p = 0; p < kTablePages && size; ++p) {
    for (size_t i = 0; i < 512 && size; ++i) {
      uint64_t d = take64(data, size);
      if (mode & 4) d = (d & ~0x000ffffffffff000ull) | (kTables + ((d >> 12) % kTablePages) * 0x1000);
      (void)mem.write64(kTables + p * 0x1000 + i * 8, d);
    }
  }
  Features f;
  f.two_level_strtab = mode & 8;
  f.oas_bits = (mode & 16) ? 40 : 48;
  f.ssid_bits = (mode & 32) ? 4 : 0;
  SmmuV3 smmu("fuzz", mem, f);
  smmu.write(STRTAB_BASE, kStrtab, 8);
  const uint32_t cfg = (mode & 8) ? (12u | (static_cast<uint32_t>(sidb >> 4) << 6) | (1u << 16)) : 6u;  // hostile SPLIT values too
  smmu.write(STRTAB_BASE_CFG, cfg, 4);
  smmu.write(EVENTQ_BASE, kEvtq | 3, 8);
  smmu.write(CR0, CR0_SMMUEN | CR0_EVENTQEN, 4);
  const uint64_t iova = take64(data, size);
  for (uint32_t i = 0; i < 8; ++i) {
    const uint32_t sid = (sidb & 3) + (i & 1 ? (uint32_t{sidb} << 6) : 0);
    (void)smmu.translate(sid, iova + i * 0x1000, i & 2 ? Access::write : Access::read);
    (void)smmu.translate(sid, iova ^ (uint64_t{i} << 30), Access::read);
  }
  return 0;
}
