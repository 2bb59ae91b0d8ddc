// The Exynos SysMMU model's registers: version per layout, reset bypass,
// faults latched in the version's registers with the interrupt, BLOCK
// holding the old configuration, hostile writes ignored.
#include "hw/exynos/sysmmu.h"

#include <gtest/gtest.h>

#include "hw/irq.h"
#include "hw/memory.h"

namespace modiommu::hw::exynos {
namespace {

constexpr uint64_t kRam = 0x40000000;
using Kind = TranslateOutcome::Kind;

class SysmmuTest : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override { ASSERT_TRUE(mem.add_ram(kRam, 4ull << 20).ok()); }
  PhysicalMemory mem;
  IrqLine irq{"sysmmu"};
};

TEST_P(SysmmuTest, ResetBypassesAndEnabledEmptyTableFaults) {
  Sysmmu mmu("m", mem, GetParam(), &irq);
  const Layout& l = layout(GetParam());
  EXPECT_EQ((mmu.read(REG_MMU_VERSION, 4) >> 21) >> 7, GetParam() == Version::v1 ? 3u : GetParam() == Version::v5 ? 5u : 7u);
  EXPECT_EQ(mmu.translate(0, 0x1000, Access::read).kind, Kind::bypassed);
  // A first level of fault entries at kRam (RAM reads as zero).
  mmu.write(l.pt_base, GetParam() == Version::v1 ? kRam : kRam >> 12, 4);
  mmu.write(REG_MMU_CTRL, CTRL_ENABLE, 4);
  if (GetParam() == Version::v7_vm) {
    EXPECT_EQ(mmu.read(REG_V7_CAPA1, 4) & CAPA1_VCR_ENABLED, CAPA1_VCR_ENABLED);
    EXPECT_EQ(mmu.translate(0, 0x1000, Access::read).kind, Kind::bypassed);  // VM 0 not enabled yet
    mmu.write(REG_V7_CTRL_VM, CTRL_VM_ENABLE, 4);
  }
  const uint64_t raised = irq.count();
  EXPECT_EQ(mmu.translate(0, 0x12345000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), raised + 1);
  const uint32_t st = static_cast<uint32_t>(mmu.read(l.int_status, 4));
  ASSERT_NE(st, 0u);
  switch (GetParam()) {
    case Version::v1: EXPECT_EQ(mmu.read(REG_PAGE_FAULT_ADDR, 4), 0x12345000u); break;
    case Version::v5:
      EXPECT_EQ(st, V5_INT_PAGE << kV5WriteShift);
      EXPECT_EQ(mmu.read(REG_V5_FAULT_AW_VA, 4), 0x12345000u);
      break;
    default:
      EXPECT_EQ(mmu.read(l.fault_va, 4), 0x12345000u);
      EXPECT_EQ(mmu.read(l.fault_info, 4) & V7_INFO_WRITE, V7_INFO_WRITE);
  }
  mmu.write(l.int_clear, st, 4);
  EXPECT_EQ(mmu.read(l.int_status, 4), 0u);
  EXPECT_EQ(mmu.stats().page_faults, 1u);
}

TEST_P(SysmmuTest, BlockHoldsTheOldConfiguration) {
  Sysmmu mmu("m", mem, GetParam());
  const Layout& l = layout(GetParam());
  if (GetParam() == Version::v7_vm) mmu.write(REG_V7_CTRL_VM, CTRL_VM_ENABLE, 4);
  mmu.write(REG_MMU_CTRL, CTRL_BLOCK, 4);  // from reset: traffic held untranslated
  EXPECT_EQ(mmu.read(REG_MMU_STATUS, 4) & STATUS_BLOCKED, STATUS_BLOCKED);
  mmu.write(l.pt_base, GetParam() == Version::v1 ? kRam : kRam >> 12, 4);
  EXPECT_EQ(mmu.translate(0, 0x1000, Access::read).kind, Kind::bypassed);
  mmu.write(REG_MMU_CTRL, CTRL_ENABLE, 4);
  EXPECT_EQ(mmu.translate(0, 0x1000, Access::read).kind, Kind::faulted);
}

TEST_P(SysmmuTest, HostileWritesAreIgnored) {
  Sysmmu mmu("m", mem, GetParam(), &irq);
  for (uint64_t off = 0; off < 0x9000; off += 4) mmu.write(off, 0xffffffff, 4);
  for (uint64_t off = 0; off < 0x9000; off += 4) (void)mmu.read(off, 4);
  mmu.write(0x10, 1, 2);  // wrong size
  // Whatever the table base, walks of memory outside RAM are bus errors.
  EXPECT_NE(mmu.translate(0, 0xfff00000, Access::read).kind, Kind::translated);
  EXPECT_GT(mmu.stats().ignored_writes, 0u);
}

INSTANTIATE_TEST_SUITE_P(Versions, SysmmuTest, ::testing::Values(Version::v1, Version::v5, Version::v7, Version::v7_vm),
                         [](const auto& p) {
                           switch (p.param) {
                             case Version::v1: return "v1";
                             case Version::v5: return "v5";
                             case Version::v7: return "v7";
                             default: return "v7_vm";
                           }
                         });

}  // namespace
}  // namespace modiommu::hw::exynos
