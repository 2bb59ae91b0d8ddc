// MediaTek M4U and SMI larb models, programmed through registers and tables
// written by hand (no io-pgtable): larb bypass at reset, translation of every
// descriptor size with the MediaTek PA bits, the TLB and its invalidations,
// fault latching with INT_ID/FAULT_VA and the interrupt, banks, hostile
// register traffic.
#include <gtest/gtest.h>

#include <random>

#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/mtk/m4u.h"
#include "hw/mtk/regs.h"
#include "hw/mtk/smi_larb.h"

namespace modiommu::hw::mtk {
namespace {

using Kind = TranslateOutcome::Kind;

constexpr uint64_t kRam = 0x4000'0000, kL1 = 0x4010'0000, kL2 = 0x4020'0000;

class M4uTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, 256 << 20).ok());
    Features f;
    f.inv_sel = MMU_INV_SEL_GEN1;
    f.int_id_of_larb = {0, 7, 5, 6, 1, 2, 3, 4};  // mt8183
    m4u = std::make_unique<M4u>("m4u", mem, f, std::vector<IrqLine*>{&irq});
    larb0 = std::make_shared<SmiLarb>("larb0", 0, SmiLarb::Layout::nonsec_con);
    larb1 = std::make_shared<SmiLarb>("larb1", 1, SmiLarb::Layout::mmu_en_f00);
    m4u->attach_larb(0, larb0);
    m4u->attach_larb(1, larb1);
  }
  void w(uint64_t off, uint32_t v) { m4u->write(off, v, 4); }
  uint32_t r(uint64_t off) { return static_cast<uint32_t>(m4u->read(off, 4)); }
  void l1(uint64_t iova, uint32_t d) { ASSERT_TRUE(mem.write32(kL1 + (iova >> 20) * 4, d).ok()); }
  void l2(uint64_t iova, uint32_t d) { ASSERT_TRUE(mem.write32(kL2 + ((iova >> 12) & 0xff) * 4, d).ok()); }
  void enable_port(unsigned port) { larb0->write(SMI_LARB_NONSEC_CON_BASE + 4 * port, F_MMU_EN, 4); }
  void flush_all() {
    w(MMU_INV_SEL_GEN1, F_INVLD_EN0 | F_INVLD_EN1);
    w(MMU_INVALIDATE, F_ALL_INVLD);
  }

  PhysicalMemory mem;
  IrqLine irq{"m4u"};
  std::unique_ptr<M4u> m4u;
  std::shared_ptr<SmiLarb> larb0, larb1;
};

TEST_F(M4uTest, ResetLarbsBypassTheM4u) {
  EXPECT_EQ(r(MMU_PT_BASE_ADDR), 0u);
  EXPECT_EQ(r(MMU_FAULT_ST1), 0u);
  auto o = m4u->translate(0x2, 0x1234'5678, Access::write);
  EXPECT_EQ(o.kind, Kind::bypassed);
  EXPECT_EQ(o.pa, 0x1234'5678u);
  EXPECT_EQ(o.span, 0x1000u - 0x678);
  EXPECT_EQ(m4u->stats().larb_bypassed, 1u);
}

TEST_F(M4uTest, NoTableFaultsAndLatchesTheFirstFault) {
  enable_port(2);
  w(MMU_INT_MAIN_CONTROL, 0x3fff);
  auto o = m4u->translate(0x2, 0x8000'1000, Access::write);
  EXPECT_EQ(o.kind, Kind::faulted);
  EXPECT_EQ(irq.count(), 1u);
  EXPECT_EQ(r(MMU_FAULT_ST1), 1u);
  EXPECT_EQ(r(MMU0_FAULT_VA), 0x8000'1000u | F_MMU_FAULT_VA_WRITE_BIT);
  EXPECT_EQ(INT_ID_PORT::get(r(MMU0_INT_ID)), 2u);
  EXPECT_EQ(INT_ID_LARB::get(r(MMU0_INT_ID)), 0u);
  // A second fault does not overwrite the first; F_INT_CLR_BIT clears.
  larb1->write(SMI_LARB_MMU_EN_MT8173, 1u << 3, 4);
  EXPECT_EQ(m4u->translate((1 << 5) | 3, 0x9000'0000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(r(MMU0_FAULT_VA), 0x8000'1000u | F_MMU_FAULT_VA_WRITE_BIT);
  w(MMU_INT_CONTROL0, F_INT_CLR_BIT | F_TABLE_WALK_FAULT_INT_EN);
  EXPECT_EQ(r(MMU_FAULT_ST1), 0u);
  EXPECT_EQ(r(MMU_INT_CONTROL0), F_TABLE_WALK_FAULT_INT_EN);
  EXPECT_EQ(m4u->translate((1 << 5) | 3, 0x9000'0000, Access::read).kind, Kind::faulted);
  // larb 1 hangs off SMI common port 7 on mt8183 (Linux larbid_remap).
  EXPECT_EQ(INT_ID_LARB::get(r(MMU0_INT_ID)), 7u);
  EXPECT_EQ(INT_ID_PORT::get(r(MMU0_INT_ID)), 3u);
  EXPECT_EQ(m4u->stats().faults, 3u);
  // Interrupt disabled: latched, no line.
  w(MMU_INT_CONTROL0, F_INT_CLR_BIT);
  w(MMU_INT_MAIN_CONTROL, 0);
  const uint64_t n = irq.count();
  EXPECT_EQ(m4u->translate(0x2, 0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), n);
  EXPECT_EQ(r(MMU_FAULT_ST1), 1u);
}

TEST_F(M4uTest, WalksEverySizeWithTheMediatekPaBits) {
  enable_port(0);
  // Section at 0x100000 -> PA 0x1_4010_0000 (bit 32 in descriptor bit 9).
  l1(0x0010'0000, 0x4010'0000u | 0x2 | (1u << 9));
  // Supersection at 16M..32M -> 0x6_0000_0000 (bits 33, 34: descriptor bits 4, 5).
  for (unsigned i = 0; i < 16; ++i) l1(0x0100'0000 + i * 0x10'0000, 0x0000'0000u | (1u << 18) | 0x2 | (1u << 4) | (1u << 5));
  // Level-2 table at 0x200000: small page and a large page.
  l1(0x0020'0000, static_cast<uint32_t>(kL2) | 0x1);
  l2(0x0020'3000, 0x4003'3000u | 0x2);
  for (unsigned i = 0; i < 16; ++i) l2(0x0021'0000 + i * 0x1000, 0x4005'0000u | 0x1);
  w(MMU_PT_BASE_ADDR, static_cast<uint32_t>(kL1));
  struct Case {
    uint64_t iova, pa, span;
  } cases[] = {{0x0010'0040, 0x1'4010'0040, 0x10'0000 - 0x40},
               {0x0180'0000, 0x6'0080'0000, 0x80'0000},
               {0x0020'3008, 0x4003'3008, 0xff8},
               {0x0021'4000, 0x4005'4000, 0xc000}};
  for (const auto& c : cases) {
    auto o = m4u->translate(0x0, c.iova, Access::read);
    ASSERT_EQ(o.kind, Kind::translated) << std::hex << c.iova;
    EXPECT_EQ(o.pa, c.pa) << std::hex << c.iova;
    EXPECT_EQ(o.span, c.span) << std::hex << c.iova;
  }
  EXPECT_EQ(m4u->stats().tlb_misses, 4u);
  EXPECT_EQ(m4u->translate(0x0, 0x0010'0080, Access::write).pa, 0x1'4010'0080u);
  EXPECT_EQ(m4u->stats().tlb_hits, 1u);
  // A level-2 hole faults with the layer bit.
  EXPECT_EQ(m4u->translate(0x0, 0x0020'5000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(r(MMU0_FAULT_VA), 0x0020'5000u | F_MMU_FAULT_VA_LAYER_BIT);
}

TEST_F(M4uTest, TlbKeepsStaleEntriesUntilInvalidated) {
  enable_port(0);
  l1(0x0030'0000, 0x4030'0000u | 0x2);
  w(MMU_PT_BASE_ADDR, static_cast<uint32_t>(kL1));
  ASSERT_EQ(m4u->translate(0, 0x0030'0000, Access::read).kind, Kind::translated);
  l1(0x0030'0000, 0);
  EXPECT_EQ(m4u->translate(0, 0x0030'0000, Access::read).kind, Kind::translated) << "stale TLB entry";
  // Without MMU_INV_SEL nothing is invalidated.
  w(MMU_INVALIDATE, F_ALL_INVLD);
  EXPECT_EQ(m4u->tlb_size(), 1u);
  // A range that misses the entry keeps it; CPE_DONE says done.
  w(MMU_INV_SEL_GEN1, F_INVLD_EN0 | F_INVLD_EN1);
  w(MMU_INVLD_START_A, 0x0050'0000);
  w(MMU_INVLD_END_A, 0x0050'0fff);
  w(MMU_INVALIDATE, F_MMU_INV_RANGE);
  EXPECT_EQ(r(MMU_CPE_DONE), 1u);
  w(MMU_CPE_DONE, 0);
  EXPECT_EQ(m4u->tlb_size(), 1u);
  // A range inside the section drops the whole section entry.
  w(MMU_INVLD_START_A, 0x0030'5000);
  w(MMU_INVLD_END_A, 0x0030'5000);
  w(MMU_INVALIDATE, F_MMU_INV_RANGE);
  EXPECT_EQ(m4u->tlb_size(), 0u);
  EXPECT_EQ(m4u->translate(0, 0x0030'0000, Access::read).kind, Kind::faulted);
  // Invalidate-all.
  l1(0x0030'0000, 0x4030'0000u | 0x2);
  ASSERT_EQ(m4u->translate(0, 0x0030'0000, Access::read).kind, Kind::translated);
  flush_all();
  EXPECT_EQ(m4u->tlb_size(), 0u);
}

TEST_F(M4uTest, LarbLayouts) {
  larb0->write(SMI_LARB_NONSEC_CON_BASE + 4 * 5, F_MMU_EN, 4);
  EXPECT_TRUE(larb0->mmu_enabled(5));
  EXPECT_EQ(larb0->read(SMI_LARB_NONSEC_CON_BASE + 4 * 5, 4), F_MMU_EN);
  larb0->write(SMI_LARB_NONSEC_CON_BASE + 4 * 5, 0, 4);
  EXPECT_FALSE(larb0->mmu_enabled(5));
  larb1->write(SMI_LARB_MMU_EN_MT8173, 0x8001, 4);
  EXPECT_EQ(larb1->mmu_mask(), 0x8001u);
  EXPECT_EQ(larb1->read(SMI_LARB_MMU_EN_MT8173, 4), 0x8001u);
  larb1->write(SMI_LARB_MMU_EN_MT8167, 0xffff, 4);  // not this layout's register
  EXPECT_EQ(larb1->mmu_mask(), 0x8001u);
  SmiLarb l67("l", 2, SmiLarb::Layout::mmu_en_fc0);
  l67.write(SMI_LARB_MMU_EN_MT8167, 4, 4);
  EXPECT_TRUE(l67.mmu_enabled(2));
}

TEST_F(M4uTest, BanksHaveTheirOwnTables) {
  Features f;
  f.banks = 5;
  f.bank_portmsk[4] = 0xfff0'0000u;
  IrqLine b0{"b0"}, b4{"b4"};
  M4u infra("infra", mem, f, {&b0, nullptr, nullptr, nullptr, &b4});
  EXPECT_EQ(infra.region_size(), 5 * kBankSize);
  l1(0x0010'0000, 0x4010'0000u | 0x2);
  infra.write(4 * kBankSize + MMU_PT_BASE_ADDR, kL1, 4);
  infra.write(4 * kBankSize + MMU_INT_MAIN_CONTROL, 1, 4);
  infra.write(MMU_INT_MAIN_CONTROL, 1, 4);
  // Port 20 is bank 4's: translated; port 16 (bank 0, no table) faults on bank 0's line.
  EXPECT_EQ(infra.translate(20, 0x0010'0000, Access::read).kind, Kind::translated);
  EXPECT_EQ(infra.translate(16, 0x0010'0000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(b0.count(), 1u);
  EXPECT_EQ(b4.count(), 0u);
  EXPECT_EQ(infra.read(MMU_FAULT_ST1, 4), 1u);
  EXPECT_EQ(infra.read(4 * kBankSize + MMU_FAULT_ST1, 4), 0u);
}

TEST_F(M4uTest, HostileRegisterTrafficNeverCrashes) {
  std::mt19937_64 rng(7);
  enable_port(0);
  for (int i = 0; i < 20000; ++i) {
    const uint64_t off = rng() % 0x3000;
    const unsigned size = 1u << (rng() % 4);
    const uint64_t v = rng();
    if (rng() & 1) m4u->write(off, v, size);
    else (void)m4u->read(off, size);
    if (i % 64 == 0) (void)m4u->translate(static_cast<uint32_t>(rng()), rng(), Access::read);
  }
  // Still answers coherently: a disabled larb port bypasses.
  larb0->write(SMI_LARB_NONSEC_CON_BASE, 0, 4);
  EXPECT_EQ(m4u->translate(0, 0x1000, Access::read).kind, Kind::bypassed);
}

}  // namespace
}  // namespace modiommu::hw::mtk
