// Rockchip IOMMU model tests: registers driven directly, tables written by
// hand in emulated RAM (v1 and v2 entry formats).
#include <gtest/gtest.h>

#include <memory>

#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/rockchip/regs.h"
#include "hw/rockchip/rk_iommu.h"

namespace modiommu::hw::rockchip {
namespace {

using Kind = TranslateOutcome::Kind;

constexpr uint64_t kRam = 0x40000000, kRamSize = 16ull << 20;
constexpr uint64_t kHighRam = 0x9000000000ull;  // above 32 bits, below 40

class RkMmuTest : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    ASSERT_TRUE(mem.add_ram(kHighRam, 1 << 20).ok());
    mmu = std::make_unique<RkMmu>("mmu", mem, GetParam(), &irq, 4);
  }
  uint32_t rd(uint64_t off) { return static_cast<uint32_t>(mmu->read(off, 4)); }
  void wr(uint64_t off, uint32_t v) { mmu->write(off, v, 4); }
  void cmd(uint32_t c) { wr(MMU_COMMAND, c); }
  // Directory at dt, one page table at pt for DTE index of iova, PTE for iova.
  void map(uint64_t dt, uint64_t pt, uint64_t iova, uint64_t pa, uint32_t flags) {
    ASSERT_TRUE(mem.write32(dt + 4 * IovaDte::get(iova), pack_address(GetParam(), pt) | ENTRY_VALID).ok());
    ASSERT_TRUE(mem.write32(pt + 4 * IovaPte::get(iova), pack_address(GetParam(), pa) | flags | ENTRY_VALID).ok());
  }
  void enable(uint64_t dt) {
    wr(MMU_DTE_ADDR, pack_address(GetParam(), dt));
    wr(MMU_INT_MASK, IRQ_MASK);
    cmd(CMD_ENABLE_PAGING);
  }

  PhysicalMemory mem;
  IrqLine irq{"mmu"};
  std::unique_ptr<RkMmu> mmu;
};

INSTANTIATE_TEST_SUITE_P(Versions, RkMmuTest, ::testing::Values(Version::v1, Version::v2),
                         [](const auto& p) { return p.param == Version::v1 ? "v1" : "v2"; });

TEST_P(RkMmuTest, ResetStateBypassesAndCountsAsEscapeForADescribedMaster) {
  EXPECT_EQ(rd(MMU_STATUS) & STATUS_PAGING_ENABLED, 0u);
  EXPECT_NE(rd(MMU_STATUS) & STATUS_STALL_NOT_ACTIVE, 0u);
  EXPECT_EQ(rd(MMU_DTE_ADDR), 0u);
  auto o = mmu->translate(kRam + 0x123, Access::read);
  EXPECT_EQ(o.kind, Kind::bypassed);
  EXPECT_EQ(o.pa, kRam + 0x123);
  // A master that must be translated: the bypass is an escape.
  auto node = std::make_shared<RkIommu>(std::vector<std::shared_ptr<RkMmu>>{std::shared_ptr<RkMmu>(mmu.get(), [](RkMmu*) {})});
  UpstreamPort port(mem);
  port.set_translator(node, 0);
  port.set_untranslated_allowed(false);
  uint8_t buf[64];
  ASSERT_TRUE(port.read(kRam, buf, sizeof buf).ok());
  EXPECT_EQ(port.stats().escapes, 1u);
  EXPECT_EQ(port.stats().bypassed, 1u);
}

TEST_P(RkMmuTest, DteAddrKeepsTheBitsLinuxChecksAndForceResetClearsIt) {
  wr(MMU_DTE_ADDR, 0xcafebabe);
  EXPECT_EQ(rd(MMU_DTE_ADDR), GetParam() == Version::v1 ? 0xcafeb000u : 0xcafebab0u);
  wr(MMU_INT_MASK, 0xffffffff);
  EXPECT_EQ(rd(MMU_INT_MASK), IRQ_MASK);
  wr(MMU_AUTO_GATING, AUTO_GATING_DISABLE_FETCH_DTE_TIME_LIMIT);
  cmd(CMD_ENABLE_PAGING);
  cmd(CMD_FORCE_RESET);
  EXPECT_EQ(rd(MMU_DTE_ADDR), 0u);
  EXPECT_EQ(rd(MMU_INT_MASK), 0u);
  EXPECT_EQ(rd(MMU_AUTO_GATING), 0u);
  EXPECT_EQ(rd(MMU_STATUS) & STATUS_PAGING_ENABLED, 0u);
  EXPECT_EQ(mmu->stats().force_resets, 1u);
}

TEST_P(RkMmuTest, StallOnlyWithPaging) {
  cmd(CMD_ENABLE_STALL);
  EXPECT_EQ(rd(MMU_STATUS) & STATUS_STALL_ACTIVE, 0u);
  enable(kRam);
  cmd(CMD_ENABLE_STALL);
  EXPECT_NE(rd(MMU_STATUS) & STATUS_STALL_ACTIVE, 0u);
  EXPECT_EQ(rd(MMU_STATUS) & STATUS_STALL_NOT_ACTIVE, 0u);
  cmd(CMD_DISABLE_STALL);
  EXPECT_EQ(rd(MMU_STATUS) & STATUS_STALL_ACTIVE, 0u);
}

TEST_P(RkMmuTest, TwoLevelWalkTranslatesWithPermissions) {
  const uint64_t dt = kRam, pt = kRam + 0x1000;
  // v2 can output 40-bit addresses; v1 only 32.
  const uint64_t page = GetParam() == Version::v2 ? kHighRam + 0x5000 : kRam + 0x80000;
  map(dt, pt, 0x12345000, page, PTE_READABLE);
  enable(dt);
  auto o = mmu->translate(0x12345678, Access::read);
  ASSERT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, page + 0x678);
  EXPECT_EQ(o.span, 0x1000u - 0x678);
  // Read-only: a write faults with its address and direction.
  const uint64_t raised = irq.count();
  EXPECT_EQ(mmu->translate(0x12345010, Access::write).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), raised + 1);
  EXPECT_EQ(rd(MMU_PAGE_FAULT_ADDR), 0x12345010u);
  EXPECT_NE(rd(MMU_STATUS) & STATUS_PAGE_FAULT_ACTIVE, 0u);
  EXPECT_NE(rd(MMU_STATUS) & STATUS_PAGE_FAULT_IS_WRITE, 0u);
  EXPECT_EQ(rd(MMU_INT_STATUS), IRQ_PAGE_FAULT);
  // The first fault stays recorded until PAGE_FAULT_DONE.
  EXPECT_EQ(mmu->translate(0x7000000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(rd(MMU_PAGE_FAULT_ADDR), 0x12345010u);
  EXPECT_EQ(irq.count(), raised + 1);
  cmd(CMD_PAGE_FAULT_DONE);
  wr(MMU_INT_CLEAR, IRQ_PAGE_FAULT);
  EXPECT_EQ(rd(MMU_INT_RAWSTAT), 0u);
  EXPECT_EQ(rd(MMU_STATUS) & STATUS_PAGE_FAULT_ACTIVE, 0u);
  // Unmapped DTE and IOVAs above 32 bits fault too.
  EXPECT_EQ(mmu->translate(0x7000000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(rd(MMU_PAGE_FAULT_ADDR), 0x7000000u);
  cmd(CMD_PAGE_FAULT_DONE);
  EXPECT_EQ(mmu->translate(0x112345000ull, Access::read).kind, Kind::faulted);
  EXPECT_EQ(mmu->stats().page_faults, 4u);
}

TEST_P(RkMmuTest, TlbKeepsStaleEntriesUntilZapped) {
  const uint64_t dt = kRam, pt = kRam + 0x1000;
  map(dt, pt, 0x1000, kRam + 0x10000, PTE_READABLE | PTE_WRITABLE);
  map(dt, pt, 0x2000, kRam + 0x20000, PTE_READABLE | PTE_WRITABLE);
  enable(dt);
  EXPECT_EQ(mmu->translate(0x1000, Access::read).pa, kRam + 0x10000);
  EXPECT_EQ(mmu->translate(0x2000, Access::read).pa, kRam + 0x20000);
  EXPECT_EQ(mmu->tlb_size(), 2u);
  // Unmap both in memory: the cached lines still translate.
  ASSERT_TRUE(mem.write32(pt + 4, 0).ok());
  ASSERT_TRUE(mem.write32(pt + 8, 0).ok());
  EXPECT_EQ(mmu->translate(0x1000, Access::write).kind, Kind::translated);
  wr(MMU_ZAP_ONE_LINE, 0x1000);
  EXPECT_EQ(mmu->translate(0x1000, Access::read).kind, Kind::faulted);
  cmd(CMD_PAGE_FAULT_DONE);
  EXPECT_EQ(mmu->translate(0x2000, Access::read).kind, Kind::translated);
  cmd(CMD_ZAP_CACHE);
  EXPECT_EQ(mmu->tlb_size(), 0u);
  EXPECT_EQ(mmu->translate(0x2000, Access::read).kind, Kind::faulted);
  EXPECT_GE(mmu->stats().tlb_hits, 2u);
}

TEST_P(RkMmuTest, TableOutsideRamIsABusError) {
  wr(MMU_DTE_ADDR, 0x10000000);  // not RAM
  wr(MMU_INT_MASK, IRQ_MASK);
  cmd(CMD_ENABLE_PAGING);
  const uint64_t raised = irq.count();
  EXPECT_EQ(mmu->translate(0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(rd(MMU_INT_STATUS), IRQ_BUS_ERROR);
  EXPECT_EQ(irq.count(), raised + 1);
  EXPECT_EQ(mmu->stats().bus_errors, 1u);
}

TEST_P(RkMmuTest, MaskedFaultRaisesWhenUnmasked) {
  enable(kRam);
  wr(MMU_INT_MASK, 0);
  const uint64_t raised = irq.count();
  EXPECT_EQ(mmu->translate(0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), raised);
  EXPECT_EQ(rd(MMU_INT_STATUS), 0u);
  EXPECT_EQ(rd(MMU_INT_RAWSTAT), IRQ_PAGE_FAULT);
  wr(MMU_INT_MASK, IRQ_PAGE_FAULT);
  EXPECT_EQ(irq.count(), raised + 1);
}

TEST_P(RkMmuTest, HostileAccessesAreIgnored) {
  for (uint32_t c : {7u, 100u, 0xffffffffu}) cmd(c);
  EXPECT_EQ(mmu->stats().bad_commands, 3u);
  for (unsigned size : {1u, 2u, 8u}) {
    mmu->write(MMU_DTE_ADDR, 0xffffffff, size);
    EXPECT_EQ(mmu->read(MMU_DTE_ADDR, size), 0u);
  }
  for (uint64_t off = 0; off < 0x100; off += 4) {
    wr(off, 0xffffffff);
    (void)rd(off);
  }
  wr(MMU_STATUS, 0xffffffff);  // read-only
  (void)mmu->translate(0x1000, Access::read);
  (void)mmu->translate(~uint64_t{0}, Access::write);
  SUCCEED();
}

TEST(RkIommu, ReadsUseTheFirstBankWritesTheLast) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
  auto b0 = std::make_shared<RkMmu>("b0", mem, Version::v2);
  auto b1 = std::make_shared<RkMmu>("b1", mem, Version::v2);
  RkIommu node({b0, b1});
  // Only bank 0 translates; bank 1 is in its reset state.
  ASSERT_TRUE(mem.write32(kRam, pack_address(Version::v2, kRam + 0x1000) | ENTRY_VALID).ok());
  ASSERT_TRUE(mem.write32(kRam + 0x1000, pack_address(Version::v2, kRam + 0x8000) | 7).ok());
  b0->write(MMU_DTE_ADDR, pack_address(Version::v2, kRam), 4);
  b0->write(MMU_COMMAND, CMD_ENABLE_PAGING, 4);
  EXPECT_EQ(node.translate(0, 0x10, Access::read).kind, Kind::translated);
  EXPECT_EQ(node.translate(0, 0x10, Access::write).kind, Kind::bypassed);
  b1->write(MMU_DTE_ADDR, pack_address(Version::v2, kRam), 4);
  b1->write(MMU_COMMAND, CMD_ENABLE_PAGING, 4);
  auto w = node.translate(0, 0x10, Access::write);
  EXPECT_EQ(w.kind, Kind::translated);
  EXPECT_EQ(w.pa, kRam + 0x8010);
}

TEST(RkFormat, V2PacksAddressBits39To32) {
  const uint64_t pa = 0xab12345000ull;
  const uint32_t e = pack_address(Version::v2, pa);
  EXPECT_EQ(e, 0x12345000u | (0xbu << 8) | (0xau << 4));
  EXPECT_EQ(entry_address(Version::v2, e), pa);
  EXPECT_EQ(entry_address(Version::v1, e), 0x12345000u);
}

}  // namespace
}  // namespace modiommu::hw::rockchip
