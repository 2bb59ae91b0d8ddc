// SMMUv2 model tests: registers driven directly, tables built by hand.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "pgtable_builder.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/smmuv2/regs.h"
#include "hw/smmuv2/smmuv2.h"

namespace modiommu::hw::smmuv2 {
namespace {

using Kind = TranslateOutcome::Kind;
using testing::TableBuilder;

constexpr uint64_t kRam = 0x80000000, kRamSize = 64ull << 20;
constexpr uint64_t kPool = kRam + (32ull << 20);

class SmmuV2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    Irqs irqs;
    irqs.global = &gfault;
    for (auto& l : ctx) irqs.context.push_back(&l);
    smmu = std::make_unique<SmmuV2>("smmu", mem, Features{}, irqs);
  }
  uint32_t gr0(uint64_t off) { return static_cast<uint32_t>(smmu->read(off, 4)); }
  void gr0w(uint64_t off, uint32_t v) { smmu->write(off, v, 4); }
  void gr1w(uint64_t off, uint32_t v) { smmu->write(smmu->page_size() + off, v, 4); }
  uint64_t cb(unsigned n, uint64_t off, unsigned size = 4) { return smmu->read(smmu->cb_offset(n) + off, size); }
  void cbw(unsigned n, uint64_t off, uint64_t v, unsigned size = 4) { smmu->write(smmu->cb_offset(n) + off, v, size); }
  void smr(unsigned i, uint32_t id, uint32_t mask, bool valid = true) {
    gr0w(SMR_BASE + 4 * i, (valid ? SMR_VALID : 0) | (mask << 16) | id);
  }
  void s2cr(unsigned i, uint32_t type, uint32_t cbndx = 0) { gr0w(S2CR_BASE + 4 * i, (type << 16) | cbndx); }
  void enable(bool usf_fault = true) {
    gr0w(SCR0, SCR0_GFRE | SCR0_GFIE | (usf_fault ? SCR0_USFCFG : 0));
  }
  // Bank n: AArch64 stage 1, 4K granule, 39-bit input, ASID asid, tables at tb.root().
  void s1_bank(unsigned n, const TableBuilder& tb, uint16_t asid, unsigned irq = 0) {
    gr1w(CBAR_BASE + 4 * n, (CBAR_S1_BYPASS << 16) | (irq << 24) | 1 /*VMID*/);
    gr1w(CBA2R_BASE + 4 * n, CBA2R_VA64);
    cbw(n, CB_TCR, 64 - 39);            // T0SZ=25, TG0=4K
    cbw(n, CB_TCR2, 5 | (1u << 4));     // PASIZE=48, AS=16-bit ASID
    cbw(n, CB_TTBR0, tb.root() | (uint64_t{asid} << 48), 8);
    cbw(n, CB_SCTLR, SCTLR_M | SCTLR_CFIE | SCTLR_CFRE);
  }

  PhysicalMemory mem;
  IrqLine gfault{"gfault"};
  IrqLine ctx[8] = {IrqLine{"c0"}, IrqLine{"c1"}, IrqLine{"c2"}, IrqLine{"c3"},
                    IrqLine{"c4"}, IrqLine{"c5"}, IrqLine{"c6"}, IrqLine{"c7"}};
  std::unique_ptr<SmmuV2> smmu;
};

TEST_F(SmmuV2Test, IdRegistersReportFeatures) {
  const uint32_t idr0 = gr0(IDR0), idr1 = gr0(IDR1);
  EXPECT_EQ(idr0 & 0xff, 48u);              // NUMSMRG
  EXPECT_EQ((idr0 >> 9) & 0xf, 15u);        // NUMSIDB
  EXPECT_EQ((idr0 >> 16) & 0xff, 8u);       // NUMIRPT
  EXPECT_TRUE(idr0 & (1u << 30));           // S1TS
  EXPECT_TRUE(idr0 & (1u << 29));           // S2TS
  EXPECT_FALSE(idr0 & (1u << 28));          // NTS
  EXPECT_EQ(idr1 & 0xff, 8u);               // NUMCB
  EXPECT_FALSE(idr1 & (1u << 31));          // 4K pages
  // NUMPAGE = 2^(NUMPAGENDXB+1) pages per half.
  EXPECT_EQ(smmu->region_size(), 2 * (uint64_t{2} << ((idr1 >> 28) & 7)) * 0x1000);
  EXPECT_EQ(smmu->cb_offset(0), smmu->region_size() / 2);
}

TEST_F(SmmuV2Test, ResetIsClientPortDisabledBypass) {
  EXPECT_TRUE(gr0(SCR0) & SCR0_CLIENTPD);
  const auto out = smmu->translate(5, 0x1234, Access::read);
  EXPECT_EQ(out.kind, Kind::bypassed);
  EXPECT_EQ(out.pa, 0x1234u);
  // CLIENTPD overrides a faulting configuration.
  smr(0, 5, 0);
  s2cr(0, S2CR_FAULT);
  gr0w(SCR0, SCR0_CLIENTPD | SCR0_USFCFG);
  EXPECT_EQ(smmu->translate(5, 0x1234, Access::read).kind, Kind::bypassed);
  EXPECT_EQ(smmu->translate(6, 0x1234, Access::read).kind, Kind::bypassed);
}

TEST_F(SmmuV2Test, UnmatchedStreamFaultsOrBypassesPerUsfcfg) {
  enable(false);
  EXPECT_EQ(smmu->translate(9, 0x5000, Access::read).kind, Kind::bypassed);
  EXPECT_EQ(gr0(SGFSR), 0u);
  enable(true);
  EXPECT_EQ(smmu->translate(9, 0x5008, Access::write).kind, Kind::faulted);
  EXPECT_EQ(gr0(SGFSR), SGFSR_USF);
  EXPECT_EQ(smmu->read(SGFAR, 8), 0x5008u);
  EXPECT_EQ(gr0(SGFSYNR1), 9u);
  EXPECT_TRUE(gr0(SGFSYNR0) & SGFSYNR0_WNR);
  EXPECT_EQ(gfault.count(), 1u);
  // A second fault sets MULTI and keeps the first syndrome.
  EXPECT_EQ(smmu->translate(10, 0x6000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(gr0(SGFSR), SGFSR_USF | SGFSR_MULTI);
  EXPECT_EQ(gr0(SGFSYNR1), 9u);
  gr0w(SGFSR, SGFSR_USF | SGFSR_MULTI);  // W1C
  EXPECT_EQ(gr0(SGFSR), 0u);
}

TEST_F(SmmuV2Test, SmrMaskMatchingAndS2crTypes) {
  enable();
  smr(0, 0x100, 0x0f);  // 0x100-0x10f
  s2cr(0, S2CR_BYPASS);
  smr(1, 0x200, 0);
  s2cr(1, S2CR_FAULT);
  smr(2, 0x300, 0, /*valid=*/false);
  s2cr(2, S2CR_BYPASS);
  EXPECT_EQ(smmu->translate(0x100, 0x1000, Access::read).kind, Kind::bypassed);
  EXPECT_EQ(smmu->translate(0x10f, 0x1000, Access::read).kind, Kind::bypassed);
  EXPECT_EQ(gr0(SGFSR), 0u);
  EXPECT_EQ(smmu->translate(0x110, 0x1000, Access::read).kind, Kind::faulted);  // outside mask
  EXPECT_EQ(gr0(SGFSR), SGFSR_USF);
  gr0w(SGFSR, ~0u);
  EXPECT_EQ(smmu->translate(0x200, 0x1000, Access::read).kind, Kind::faulted);  // S2CR fault
  EXPECT_EQ(smmu->translate(0x300, 0x1000, Access::read).kind, Kind::faulted);  // invalid SMR
  EXPECT_EQ(gr0(SGFSR), SGFSR_USF);
}

TEST_F(SmmuV2Test, StreamMatchConflictIsGlobalFault) {
  enable();
  smr(0, 0x40, 0x3);
  s2cr(0, S2CR_BYPASS);
  smr(1, 0x42, 0x0);
  s2cr(1, S2CR_BYPASS);
  EXPECT_EQ(smmu->translate(0x41, 0, Access::read).kind, Kind::bypassed);
  EXPECT_EQ(smmu->translate(0x42, 0, Access::read).kind, Kind::faulted);
  EXPECT_EQ(gr0(SGFSR), SGFSR_SMCF);
  EXPECT_EQ(gr0(SGFSYNR1), 0x42u);
  EXPECT_EQ(gfault.count(), 1u);
}

TEST_F(SmmuV2Test, HostileCbndxAndBankTypesGiveGlobalFaults) {
  enable();
  smr(0, 1, 0);
  s2cr(0, S2CR_TRANSLATE, 200);  // no such bank
  EXPECT_EQ(smmu->translate(1, 0, Access::read).kind, Kind::faulted);
  EXPECT_EQ(gr0(SGFSR), SGFSR_UCBF);
  gr0w(SGFSR, ~0u);
  s2cr(0, S2CR_TRANSLATE, 3);
  gr1w(CBAR_BASE + 12, CBAR_NESTED << 16);
  EXPECT_EQ(smmu->translate(1, 0, Access::read).kind, Kind::faulted);
  EXPECT_EQ(gr0(SGFSR), SGFSR_ICF);
}

TEST_F(SmmuV2Test, Stage1TranslationFaultAndIrq) {
  enable();
  TableBuilder tb(mem, kPool, arm::Granule::k4K, arm::Stage::s1, 39, 1);
  tb.map(0x10000, kRam + 0x5000, 3);
  tb.map(0x200000, kRam + 0x400000, 2);  // 2 MiB block
  tb.map(0x20000, kRam + 0x6000, 3, {.r = true, .w = false});
  smr(0, 7, 0);
  s2cr(0, S2CR_TRANSLATE, 2);
  s1_bank(2, tb, 0x33, /*irq=*/2);
  auto out = smmu->translate(7, 0x10010, Access::read);
  ASSERT_EQ(out.kind, Kind::translated);
  EXPECT_EQ(out.pa, kRam + 0x5010);
  EXPECT_EQ(out.span, 0x1000u - 0x10);
  out = smmu->translate(7, 0x234567, Access::write);
  ASSERT_EQ(out.kind, Kind::translated);
  EXPECT_EQ(out.pa, kRam + 0x434567);
  EXPECT_EQ(out.span, 0x200000u - 0x34567);
  // Unmapped: translation fault recorded in bank 2, its IRQ raised.
  EXPECT_EQ(smmu->translate(7, 0x30000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(cb(2, CB_FSR), FSR_TF);
  EXPECT_EQ(cb(2, CB_FAR, 8), 0x30000u);
  EXPECT_TRUE(cb(2, CB_FSYNR0) & FSYNR0_WNR);
  EXPECT_EQ(ctx[2].count(), 1u);
  EXPECT_EQ(ctx[0].count(), 0u);
  EXPECT_EQ(gr0(SGFSR), 0u);
  cbw(2, CB_FSR, FSR_TF);  // W1C
  EXPECT_EQ(cb(2, CB_FSR), 0u);
  // Read-only page: write is a permission fault, read translates.
  EXPECT_EQ(smmu->translate(7, 0x20000, Access::read).kind, Kind::translated);
  EXPECT_EQ(smmu->translate(7, 0x20000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(cb(2, CB_FSR), FSR_PF);
  EXPECT_EQ(smmu->translate(7, 0x30000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(cb(2, CB_FSR), FSR_PF | FSR_MULTI);
  EXPECT_EQ(cb(2, CB_FAR, 8), 0x20000u);
  // Without CFIE no interrupt.
  const uint64_t before = ctx[2].count();
  cbw(2, CB_FSR, ~0u);
  cbw(2, CB_SCTLR, SCTLR_M);
  EXPECT_EQ(smmu->translate(7, 0x30000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(ctx[2].count(), before);
  EXPECT_EQ(cb(2, CB_FSR), FSR_TF);
}

TEST_F(SmmuV2Test, BankWithMmuOffBypasses) {
  enable();
  smr(0, 7, 0);
  s2cr(0, S2CR_TRANSLATE, 1);
  gr1w(CBAR_BASE + 4, CBAR_S1_BYPASS << 16);
  auto out = smmu->translate(7, 0xabc000, Access::read);
  EXPECT_EQ(out.kind, Kind::bypassed);
  EXPECT_EQ(out.pa, 0xabc000u);
}

TEST_F(SmmuV2Test, TtbrOutsideRamIsExternalAbort) {
  enable();
  smr(0, 7, 0);
  s2cr(0, S2CR_TRANSLATE, 0);
  TableBuilder tb(mem, kPool, arm::Granule::k4K, arm::Stage::s1, 39, 1);
  s1_bank(0, tb, 1);
  cbw(0, CB_TTBR0, 0x10000000000ull, 8);  // not RAM
  EXPECT_EQ(smmu->translate(7, 0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(cb(0, CB_FSR), FSR_EF);
  // Reserved granule encoding: translation fault, not a crash.
  cbw(0, CB_FSR, ~0u);
  cbw(0, CB_TCR, (3u << 14) | 25);
  EXPECT_EQ(smmu->translate(7, 0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(cb(0, CB_FSR), FSR_TF);
}

TEST_F(SmmuV2Test, Stage2Bank) {
  enable();
  TableBuilder tb(mem, kPool, arm::Granule::k4K, arm::Stage::s2, 40, 1);
  tb.map(0x40000000, kRam + 0x7000, 3);
  smr(0, 3, 0);
  s2cr(0, S2CR_TRANSLATE, 4);
  gr1w(CBAR_BASE + 16, (CBAR_S2 << 16) | 9);
  gr1w(CBA2R_BASE + 16, CBA2R_VA64);
  cbw(4, CB_TCR, 24 | (1u << 6) | (2u << 16));  // T0SZ=24, SL0=1 (level 1), PS=40 bits
  cbw(4, CB_TTBR0, tb.root(), 8);
  cbw(4, CB_SCTLR, SCTLR_M);
  auto out = smmu->translate(3, 0x40000123, Access::write);
  ASSERT_EQ(out.kind, Kind::translated);
  EXPECT_EQ(out.pa, kRam + 0x7123);
}

TEST_F(SmmuV2Test, TlbStaleUntilInvalidatedNeverAfter) {
  enable();
  TableBuilder tb(mem, kPool, arm::Granule::k4K, arm::Stage::s1, 39, 1);
  tb.map(0x10000, kRam + 0x5000, 3);
  tb.map(0x11000, kRam + 0x8000, 3);
  smr(0, 7, 0);
  s2cr(0, S2CR_TRANSLATE, 0);
  s1_bank(0, tb, 0x44);
  ASSERT_EQ(smmu->translate(7, 0x10000, Access::read).pa, kRam + 0x5000);
  ASSERT_EQ(smmu->translate(7, 0x11000, Access::read).pa, kRam + 0x8000);
  EXPECT_EQ(smmu->tlb_size(0), 2u);
  // Remap both pages in memory: the TLB still answers with the old ones.
  tb.map(0x10000, kRam + 0x9000, 3);
  tb.map(0x11000, kRam + 0xa000, 3);
  EXPECT_EQ(smmu->translate(7, 0x10000, Access::read).pa, kRam + 0x5000);
  EXPECT_GE(smmu->stats().tlb_hits, 1u);
  // TLBIVA with the wrong ASID leaves it; with the right ASID drops one page.
  cbw(0, CB_TLBIVA, (0x10000 >> 12) | (uint64_t{0x45} << 48), 8);
  EXPECT_EQ(smmu->translate(7, 0x10000, Access::read).pa, kRam + 0x5000);
  cbw(0, CB_TLBIVA, (0x10000 >> 12) | (uint64_t{0x44} << 48), 8);
  cbw(0, CB_TLBSYNC, 0);
  EXPECT_EQ(cb(0, CB_TLBSTATUS), 0u);
  EXPECT_EQ(smmu->translate(7, 0x10000, Access::read).pa, kRam + 0x9000);
  EXPECT_EQ(smmu->translate(7, 0x11000, Access::read).pa, kRam + 0x8000);  // untouched
  cbw(0, CB_TLBIALL, 0);
  EXPECT_EQ(smmu->translate(7, 0x11000, Access::read).pa, kRam + 0xa000);
  // TLBIASID and global TLBIVMID / TLBIALLNSNH.
  tb.map(0x11000, kRam + 0xb000, 3);
  cbw(0, CB_TLBIASID, 0x44);
  EXPECT_EQ(smmu->translate(7, 0x11000, Access::read).pa, kRam + 0xb000);
  tb.map(0x11000, kRam + 0xc000, 3);
  gr0w(TLBIVMID, 2);  // other VMID: no effect
  EXPECT_EQ(smmu->translate(7, 0x11000, Access::read).pa, kRam + 0xb000);
  gr0w(TLBIVMID, 1);
  gr0w(TLBGSYNC, 0);
  EXPECT_EQ(gr0(TLBGSTATUS), 0u);
  EXPECT_EQ(smmu->translate(7, 0x11000, Access::read).pa, kRam + 0xc000);
  tb.map(0x11000, kRam + 0xd000, 3);
  gr0w(TLBIALLNSNH, 0);
  EXPECT_EQ(smmu->translate(7, 0x11000, Access::read).pa, kRam + 0xd000);
  EXPECT_EQ(smmu->tlb_size(0), 1u);  // only the page walked since TLBIALLNSNH
}

TEST_F(SmmuV2Test, TlbCapacityIsBounded) {
  enable();
  TableBuilder tb(mem, kPool, arm::Granule::k4K, arm::Stage::s1, 39, 1);
  for (uint64_t i = 0; i < 100; ++i) tb.map(i << 12, kRam + (i << 12), 3);
  smr(0, 7, 0);
  s2cr(0, S2CR_TRANSLATE, 0);
  s1_bank(0, tb, 1);
  for (uint64_t i = 0; i < 100; ++i) {
    auto out = smmu->translate(7, i << 12, Access::read);
    ASSERT_EQ(out.kind, Kind::translated);
    EXPECT_EQ(out.pa, kRam + (i << 12));
  }
  EXPECT_EQ(smmu->tlb_size(0), smmu->features().tlb_entries);
}

TEST_F(SmmuV2Test, HostileRegisterWritesDoNotCrash) {
  for (uint64_t off = 0; off < smmu->region_size() + 0x2000; off += 4) {
    smmu->write(off, 0xffffffffu, 4);
    (void)smmu->read(off, 4);
  }
  smmu->write(3, 1, 1);
  gr0w(SCR0, SCR0_USFCFG);
  for (uint32_t sid = 0; sid < 0x20000; sid += 0x1111) {
    // Every SMR is now valid with a full mask: all match, so a conflict.
    EXPECT_EQ(smmu->translate(sid, 0xfffffffffffff000ull, Access::write).kind, Kind::faulted);
  }
  // ID registers are read-only.
  EXPECT_EQ(gr0(IDR0) & 0xff, 48u);
  EXPECT_EQ(gr0(IDR1) & 0xff, 8u);
  EXPECT_TRUE(gr0(SGFSR) & SGFSR_SMCF);
}

TEST(SmmuV2Ext, ExtendedStreamIdsUseS2crExidvalid) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
  Features f;
  f.sid_bits = 16;
  f.num_cb = 2;
  f.page64k = true;
  SmmuV2 smmu("smmu", mem, f);
  EXPECT_TRUE(smmu.read(IDR0, 4) & (1u << 8));   // EXIDS
  EXPECT_TRUE(smmu.read(IDR1, 4) & (1u << 31));  // 64K register pages
  EXPECT_EQ(smmu.page_size(), 0x10000u);
  smmu.write(SCR0, SCR0_EXIDENABLE | SCR0_USFCFG, 4);
  smmu.write(SMR_BASE, (0x00ffu << 16) | 0x8100, 4);  // no SMR.VALID in this mode
  EXPECT_EQ(smmu.translate(0x8142, 0, Access::read).kind, Kind::faulted);
  smmu.write(S2CR_BASE, S2CR_EXIDVALID | (S2CR_BYPASS << 16), 4);
  EXPECT_EQ(smmu.translate(0x8142, 0, Access::read).kind, Kind::bypassed);
  EXPECT_EQ(smmu.translate(0x8242, 0, Access::read).kind, Kind::faulted);
}

TEST_F(SmmuV2Test, ConcurrentTranslateAndInvalidate) {
  enable();
  TableBuilder tb(mem, kPool, arm::Granule::k4K, arm::Stage::s1, 39, 1);
  for (uint64_t i = 0; i < 16; ++i) tb.map(i << 12, kRam + (i << 12), 3);
  smr(0, 7, 0);
  s2cr(0, S2CR_TRANSLATE, 0);
  s1_bank(0, tb, 1);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0};
  std::thread dma([&] {
    for (uint64_t n = 0; !stop.load(); ++n) {
      const uint64_t va = (n % 16) << 12;
      auto out = smmu->translate(7, va, Access::read);
      if (out.kind != Kind::translated || out.pa != kRam + va) ++bad;
    }
  });
  for (int i = 0; i < 2000; ++i) {
    cbw(0, CB_TLBIALL, 0);
    cbw(0, CB_TLBIVA, (uint64_t(i % 16)) | (uint64_t{1} << 48), 8);
    cbw(0, CB_MAIR0, static_cast<uint32_t>(i));
  }
  stop = true;
  dma.join();
  EXPECT_EQ(bad.load(), 0u);
}

}  // namespace
}  // namespace modiommu::hw::smmuv2

namespace modiommu::hw::smmuv2 {
namespace {
// IHI 0062 10.7.2: CBFRSYNRAn names the stream of the fault the bank
// recorded (a masked SMR matches several), and keeps the first one.
TEST_F(SmmuV2Test, CbfrsynraHoldsTheFaultingStream) {
  enable();
  TableBuilder tb(mem, kPool, arm::Granule::k4K, arm::Stage::s1, 39, 1);
  tb.map(0x10000, kRam + 0x5000, 3);
  smr(0, 0x40, 0xf);
  s2cr(0, S2CR_TRANSLATE, 3);
  s1_bank(3, tb, 0x12, 3);
  const uint64_t gr1 = smmu->page_size();
  EXPECT_EQ(smmu->translate(0x4a, 0x50000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(smmu->read(gr1 + CBFRSYNRA_BASE + 4 * 3, 4), 0x4au);
  EXPECT_EQ(smmu->translate(0x41, 0x60000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(smmu->read(gr1 + CBFRSYNRA_BASE + 4 * 3, 4), 0x4au);  // second fault: MULTI only
  cbw(3, CB_FSR, ~0u);
  EXPECT_EQ(smmu->translate(0x41, 0x60000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(smmu->read(gr1 + CBFRSYNRA_BASE + 4 * 3, 4), 0x41u);
}
}  // namespace
}  // namespace modiommu::hw::smmuv2
