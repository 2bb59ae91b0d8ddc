// sun50i IOMMU model tests: registers driven directly, tables written by
// hand in emulated RAM.
#include "hw/sun50i/sun50i_iommu.h"

#include <gtest/gtest.h>

#include <memory>

#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/sun50i/regs.h"

namespace modiommu::hw::sun50i {
namespace {

using Kind = TranslateOutcome::Kind;

constexpr uint64_t kRam = 0x40000000, kRamSize = 16ull << 20;
constexpr uint64_t kDt = kRam, kPt = kRam + 0x10000, kPa = kRam + 0x100000;
constexpr unsigned kRdWr = 4, kRd = 2, kWr = 3, kNone = 1;

class Sun50iModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    mmu = std::make_unique<Sun50iIommu>("iommu", mem, &irq, 4, 2);
  }
  uint32_t rd(uint64_t off) { return static_cast<uint32_t>(mmu->read(off, 4)); }
  void wr(uint64_t off, uint32_t v) { mmu->write(off, v, 4); }
  void map(uint64_t iova, uint64_t pa, unsigned aci, uint64_t pt = kPt) {
    ASSERT_TRUE(mem.write32(kDt + 4 * IovaDte::get(iova), static_cast<uint32_t>(pt) | DTE_VALID).ok());
    ASSERT_TRUE(mem.write32(pt + 4 * IovaPte::get(iova), static_cast<uint32_t>(pa) | aci << 4 | PTE_VALID).ok());
  }
  // As Linux's sun50i_iommu_enable (with the ACI registers written whole).
  void enable() {
    wr(IOMMU_TTB_REG, static_cast<uint32_t>(kDt));
    wr(IOMMU_INT_ENABLE_REG, INT_MASK);
    uint32_t none = 0, rdwr = 0;
    for (unsigned m = 0; m < kMasters; ++m) {
      none |= 3u << dm_aut_rd_bit(kNone, m);
      rdwr |= 2u << dm_aut_rd_bit(kRd, m) | 1u << dm_aut_rd_bit(kWr, m);
    }
    wr(dm_aut_ctrl(kNone), none);
    wr(dm_aut_ctrl(kRd), rdwr);
    wr(IOMMU_ENABLE_REG, ENABLE_ENABLE);
  }

  PhysicalMemory mem;
  IrqLine irq{"iommu"};
  std::unique_ptr<Sun50iIommu> mmu;
};

TEST_F(Sun50iModelTest, ResetStatePassesUntranslated) {
  EXPECT_FALSE(mmu->enabled());
  const auto o = mmu->translate(0, 0x1234, Access::read);
  EXPECT_EQ(o.kind, Kind::bypassed);
  EXPECT_EQ(o.pa, 0x1234u);
  EXPECT_EQ(mmu->stats().bypassed, 1u);
  EXPECT_EQ(rd(IOMMU_RESET_REG), 0xffffffffu);
  EXPECT_EQ(rd(IOMMU_ENABLE_REG), 0u);
  // ACI 0 is read-only at reset (Linux sun50i-iommu.c).
  EXPECT_EQ(rd(dm_aut_ctrl(0)) & 0xffff, 0xaaaau);
}

TEST_F(Sun50iModelTest, TranslatesThroughBothLevelsAndCaches) {
  map(0x12345000, kPa, kRdWr);
  enable();
  auto o = mmu->translate(2, 0x12345678, Access::write);
  ASSERT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, kPa + 0x678);
  EXPECT_EQ(o.span, 0x1000u - 0x678);
  o = mmu->translate(2, 0x12345000, Access::read);
  EXPECT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(mmu->stats().tlb_hits, 1u);
  EXPECT_EQ(mmu->tlb_size(), 1u);
  EXPECT_EQ(mmu->ptw_size(), 1u);
}

TEST_F(Sun50iModelTest, EmptyDirectoryBlocksEveryMaster) {
  enable();
  for (uint32_t m = 0; m < kMasters; ++m) EXPECT_EQ(mmu->translate(m, 0x1000 * m, Access::read).kind, Kind::faulted);
  EXPECT_EQ(mmu->translate(6, 0, Access::read).kind, Kind::faulted);  // no such master port
  EXPECT_EQ(mmu->stats().bypassed, 0u);
  EXPECT_EQ(mmu->stats().bad_master, 1u);
}

TEST_F(Sun50iModelTest, InvalidDteRaisesL1WithAddressAndBlame) {
  enable();
  EXPECT_EQ(mmu->translate(3, 0x00500000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), 1u);
  EXPECT_EQ(rd(IOMMU_INT_STA_REG), INT_INVALID_L1PG);
  EXPECT_EQ(rd(IOMMU_INT_ERR_ADDR_L1_REG), 0x00500000u);
  EXPECT_EQ(rd(IOMMU_L1PG_INT_REG), 1u << 3);
  wr(IOMMU_INT_CLR_REG, INT_INVALID_L1PG);
  EXPECT_EQ(rd(IOMMU_INT_STA_REG), 0u);
  EXPECT_EQ(rd(IOMMU_L1PG_INT_REG), 0u);
}

TEST_F(Sun50iModelTest, InvalidPteRaisesL2) {
  map(0x00100000, kPa, kRdWr);
  enable();
  EXPECT_EQ(mmu->translate(1, 0x00101000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(rd(IOMMU_INT_STA_REG), INT_INVALID_L2PG);
  EXPECT_EQ(rd(IOMMU_INT_ERR_ADDR_L2_REG), 0x00101000u);
  EXPECT_EQ(rd(IOMMU_L2PG_INT_REG), 1u << 1);
}

TEST_F(Sun50iModelTest, AciGivesPermissionPerMaster) {
  map(0x1000, kPa, kRd);
  map(0x2000, kPa, kWr);
  map(0x3000, kPa, kNone);
  enable();
  EXPECT_EQ(mmu->translate(0, 0x1000, Access::read).kind, Kind::translated);
  EXPECT_EQ(mmu->translate(0, 0x2000, Access::write).kind, Kind::translated);
  EXPECT_EQ(mmu->translate(4, 0x1000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(rd(IOMMU_INT_STA_REG), 1u << 4);
  EXPECT_EQ(rd(err_addr(4)), 0x1000u);
  EXPECT_EQ(PteAci::get(rd(err_data(4))), kRd);
  EXPECT_EQ(mmu->translate(5, 0x2000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(mmu->translate(5, 0x3000, Access::write).kind, Kind::faulted);
  // The first fault of master 5 stays recorded until cleared.
  EXPECT_EQ(rd(err_addr(5)), 0x2000u);
  EXPECT_EQ(mmu->stats().permission_faults, 3u);
}

TEST_F(Sun50iModelTest, BypassBitPassesOnlyThatMaster) {
  enable();
  wr(IOMMU_BYPASS_REG, 1u << 2);
  EXPECT_EQ(mmu->translate(2, 0x5000, Access::write).kind, Kind::bypassed);
  EXPECT_EQ(mmu->translate(1, 0x5000, Access::write).kind, Kind::faulted);
  wr(IOMMU_BYPASS_REG, 0xffffffffu);
  EXPECT_EQ(rd(IOMMU_BYPASS_REG), kMasterMask);
}

TEST_F(Sun50iModelTest, StaleTlbUntilInvalidatedByAddressAndMask) {
  map(0x7000, kPa, kRdWr);
  enable();
  ASSERT_EQ(mmu->translate(0, 0x7000, Access::read).kind, Kind::translated);
  ASSERT_TRUE(mem.write32(kPt + 4 * IovaPte::get(0x7000), 0).ok());
  EXPECT_EQ(mmu->translate(0, 0x7000, Access::read).kind, Kind::translated);  // stale line
  wr(IOMMU_TLB_IVLD_ADDR_REG, 0x8000);
  wr(IOMMU_TLB_IVLD_ADDR_MASK_REG, 0xfffff000u);
  wr(IOMMU_TLB_IVLD_ENABLE_REG, IVLD_ENABLE);
  EXPECT_EQ(rd(IOMMU_TLB_IVLD_ENABLE_REG), 0u);  // the handshake completes
  EXPECT_EQ(mmu->translate(0, 0x7000, Access::read).kind, Kind::translated);  // other page: still stale
  wr(IOMMU_TLB_IVLD_ADDR_REG, 0x7000);
  wr(IOMMU_TLB_IVLD_ENABLE_REG, IVLD_ENABLE);
  EXPECT_EQ(mmu->translate(0, 0x7000, Access::read).kind, Kind::faulted);
}

TEST_F(Sun50iModelTest, PtwCacheKeepsADteUntilInvalidatedOrFlushed) {
  constexpr uint64_t kPt2 = kPt + 0x1000;
  map(0x00200000, kPa, kRdWr);
  enable();
  ASSERT_EQ(mmu->translate(0, 0x00200000, Access::read).kind, Kind::translated);
  // Move the page table; the cached DTE still points at the old one.
  ASSERT_TRUE(mem.write32(kDt + 4 * 2, static_cast<uint32_t>(kPt2) | DTE_VALID).ok());
  ASSERT_TRUE(mem.write32(kPt2 + 4 * 1, static_cast<uint32_t>(kPa + 0x1000) | kRdWr << 4 | PTE_VALID).ok());
  EXPECT_EQ(mmu->translate(0, 0x00201000, Access::read).kind, Kind::faulted);
  wr(IOMMU_INT_CLR_REG, INT_MASK);
  wr(IOMMU_PC_IVLD_ADDR_REG, 0x00200000);
  wr(IOMMU_PC_IVLD_ENABLE_REG, IVLD_ENABLE);
  EXPECT_EQ(rd(IOMMU_PC_IVLD_ENABLE_REG), 0u);
  auto o = mmu->translate(0, 0x00201000, Access::read);
  ASSERT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, kPa + 0x1000);
  wr(IOMMU_TLB_FLUSH_REG, TLB_FLUSH_MACRO_TLB | TLB_FLUSH_PTW_CACHE);
  EXPECT_EQ(rd(IOMMU_TLB_FLUSH_REG), 0u);
  EXPECT_EQ(mmu->tlb_size(), 0u);
  EXPECT_EQ(mmu->ptw_size(), 0u);
}

TEST_F(Sun50iModelTest, InterruptOnlyWhenEnabledAndRaisedOnEnable) {
  map(0x1000, kPa, kRd);
  enable();
  wr(IOMMU_INT_ENABLE_REG, 0);
  EXPECT_EQ(mmu->translate(0, 0x1000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), 0u);
  wr(IOMMU_INT_ENABLE_REG, INT_MASK);
  EXPECT_EQ(irq.count(), 1u);
  EXPECT_EQ(mmu->translate(0, 0x1000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), 1u);  // already pending: no new edge
}

TEST_F(Sun50iModelTest, MasterHeldInResetIsAborted) {
  map(0x1000, kPa, kRdWr);
  enable();
  wr(IOMMU_RESET_REG, ~(1u << 1));
  EXPECT_EQ(mmu->translate(1, 0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(mmu->translate(0, 0x1000, Access::read).kind, Kind::translated);
  wr(IOMMU_RESET_REG, 0xffffffffu);
  EXPECT_EQ(mmu->translate(1, 0x1000, Access::read).kind, Kind::translated);
  EXPECT_EQ(mmu->stats().in_reset, 1u);
}

TEST_F(Sun50iModelTest, HostileAccessesAreIgnored) {
  wr(IOMMU_TTB_REG, 0xffffffffu);
  EXPECT_EQ(rd(IOMMU_TTB_REG), kTtbMask);  // 16 KiB aligned
  mmu->write(IOMMU_ENABLE_REG, 1, 2);       // wrong size: ignored
  mmu->write(IOMMU_ENABLE_REG + 1, 1, 4);   // misaligned: ignored
  EXPECT_FALSE(mmu->enabled());
  EXPECT_EQ(mmu->read(0xffff0, 4), 0u);
  wr(IOMMU_ENABLE_REG, 0xffffffffu);
  // TTB points outside RAM: a walk faults, nothing crashes.
  EXPECT_EQ(mmu->translate(0, 0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(mmu->stats().bus_errors, 1u);
  EXPECT_EQ(mmu->translate(0, 1ull << 33, Access::read).kind, Kind::faulted);
}

}  // namespace
}  // namespace modiommu::hw::sun50i
