// Test harness: an SMMUv3 model driven through its registers, with queues
// and tables in emulated RAM, and builders for STEs and CDs (IHI 0070 5.2, 5.4).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>

#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mmio.h"
#include "hw/smmuv3/smmuv3.h"
#include "pgtable_builder.h"

namespace modiommu::hw::testing {

using namespace modiommu::hw::smmuv3;

constexpr uint64_t kRam = 0x40000000, kRamSize = 0x40000000;
constexpr uint64_t kSmmuBase = 0x9050000;
constexpr uint64_t kCmdq = 0x40000000, kEvtq = 0x40100000, kStrtab = 0x40200000, kCds = 0x40400000,
                   kTables = 0x41000000, kData = 0x50000000;

struct Ste {
  uint64_t w[8] = {};
  static Ste abort() { Ste s; s.w[0] = 1 | (STE_CFG_ABORT << 1); return s; }
  static Ste bypass() { Ste s; s.w[0] = 1 | (STE_CFG_BYPASS << 1); return s; }
  static Ste s1(uint64_t cd) { Ste s; s.w[0] = 1 | (STE_CFG_S1 << 1) | (cd & ~0x3full); return s; }
  // S2: 4K granule, SL0 (1 -> level 1), T0SZ, PS=48 bits, AA64, S2R.
  static Ste s2(uint16_t vmid, uint64_t ttb, unsigned t0sz = 24, unsigned sl0 = 1, unsigned tg = 0) {
    Ste s;
    s.w[0] = 1 | (STE_CFG_S2 << 1);
    s.w[2] = vmid | (uint64_t{t0sz} << 32) | (uint64_t{sl0} << 38) | (uint64_t{tg} << 46) | (5ull << 48) |
             (1ull << 51) | (1ull << 58);
    s.w[3] = ttb;
    return s;
  }
  static Ste nested(uint64_t cd_ipa, uint16_t vmid, uint64_t s2ttb) {
    Ste s = s2(vmid, s2ttb);
    s.w[0] = 1 | (STE_CFG_NESTED << 1) | (cd_ipa & ~0x3full);
    return s;
  }
};

// CD: T0SZ, TG0 (0 = 4K, 1 = 64K, 2 = 16K), IPS=48, AA64, R, A, V, ASID, TTB0.
inline void cd_words(uint64_t w[8], uint16_t asid, uint64_t ttb, unsigned t0sz = 16, unsigned tg = 0) {
  std::memset(w, 0, 64);
  w[0] = t0sz | (uint64_t{tg} << 6) | (1ull << 31) | (5ull << 32) | (1ull << 41) | (1ull << 45) | (1ull << 46) |
         (uint64_t{asid} << 48);
  w[1] = ttb;
}

class SmmuHarness {
 public:
  explicit SmmuHarness(Features f = {}, unsigned strtab_log2 = 8, unsigned cmdq_log2 = 6, unsigned evtq_log2 = 6)
      : eventq_irq("eventq"), gerror_irq("gerror"), sync_irq("cmdq-sync") {
    EXPECT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    smmu = std::make_shared<SmmuV3>("smmu", mem, f, Irqs{&eventq_irq, &gerror_irq, &sync_irq});
    EXPECT_TRUE(bus.map(kSmmuBase, kRegionSize, smmu).ok());
    cmdq_log2_ = cmdq_log2;
    evtq_log2_ = evtq_log2;
    w64(STRTAB_BASE, kStrtab);
    w32(STRTAB_BASE_CFG, strtab_log2);  // linear
    w64(CMDQ_BASE, kCmdq | cmdq_log2);
    w32(CMDQ_PROD, 0);
    w32(CMDQ_CONS, 0);
    w64(EVENTQ_BASE, kEvtq | evtq_log2);
    w32(EVENTQ_PROD, 0);
    w32(EVENTQ_CONS, 0);
    w32(IRQ_CTRL, IRQ_GERROR | IRQ_EVENTQ);
  }
  void enable() { w32(CR0, CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN); }

  uint32_t r32(uint64_t off) { return bus.read32(kSmmuBase + off); }
  uint64_t r64(uint64_t off) { return bus.read64(kSmmuBase + off); }
  void w32(uint64_t off, uint32_t v) { bus.write32(kSmmuBase + off, v); }
  void w64(uint64_t off, uint64_t v) { bus.write64(kSmmuBase + off, v); }

  void put_ste(uint32_t sid, const Ste& s, uint64_t table = kStrtab) {
    ASSERT_TRUE(mem.write(table + uint64_t{sid} * 64, s.w, 64).ok());
  }
  void put_cd(uint64_t addr, uint16_t asid, uint64_t ttb, unsigned t0sz = 16, unsigned tg = 0) {
    uint64_t w[8];
    cd_words(w, asid, ttb, t0sz, tg);
    ASSERT_TRUE(mem.write(addr, w, 64).ok());
  }

  // Queues one command and writes CMDQ_PROD (consumption is synchronous).
  void cmd(uint64_t w0, uint64_t w1 = 0) {
    const uint32_t prod = r32(CMDQ_PROD);
    const uint32_t idx = prod & ((1u << cmdq_log2_) - 1);
    uint64_t c[2] = {w0, w1};
    ASSERT_TRUE(mem.write(kCmdq + idx * 16ull, c, 16).ok());
    w32(CMDQ_PROD, (prod + 1) & ((2u << cmdq_log2_) - 1));
  }
  void sync() { cmd(CMD_SYNC); }
  void cfgi_ste(uint32_t sid) { cmd(CMD_CFGI_STE | (uint64_t{sid} << 32), 1); }
  void cfgi_all() { cmd(CMD_CFGI_STE_RANGE, 31); }
  void tlbi_nh_va(uint16_t vmid, uint16_t asid, uint64_t va) {
    cmd(CMD_TLBI_NH_VA | (uint64_t{vmid} << 32) | (uint64_t{asid} << 48), va & ~0xfffull);
  }
  bool cmdq_drained() { return (r32(CMDQ_CONS) & 0xfffff) == r32(CMDQ_PROD); }

  // Pops one event record, if any.
  std::optional<Event> pop_event() {
    const uint32_t prod = r32(EVENTQ_PROD), cons = r32(EVENTQ_CONS);
    const uint32_t mask = (2u << evtq_log2_) - 1;
    if ((prod & mask) == (cons & mask)) return std::nullopt;
    uint64_t w[4];
    EXPECT_TRUE(mem.read(kEvtq + (cons & ((1u << evtq_log2_) - 1)) * 32ull, w, 32).ok());
    w32(EVENTQ_CONS, (cons & Q_OVFLG) | ((cons + 1) & mask));
    return Event::decode(w);
  }
  size_t drain_events() {
    size_t n = 0;
    while (pop_event()) ++n;
    return n;
  }

  TranslateOutcome tr(uint32_t sid, uint64_t iova, Access a = Access::read) { return smmu->translate(sid, iova, a); }

  PhysicalMemory mem;
  MmioBus bus;
  IrqLine eventq_irq, gerror_irq, sync_irq;
  std::shared_ptr<SmmuV3> smmu;
  unsigned cmdq_log2_ = 6, evtq_log2_ = 6;
};

}  // namespace modiommu::hw::testing
