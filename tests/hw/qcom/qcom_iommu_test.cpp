// Qualcomm MSM IOMMU model tests: context bank registers driven directly
// through each bank's window, LPAE tables built by hand.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "pgtable_builder.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/qcom/qcom_iommu.h"
#include "hw/smmuv2/regs.h"

namespace modiommu::hw::qcom {
namespace {

using Kind = TranslateOutcome::Kind;
using testing::Attr;
using testing::TableBuilder;
using namespace smmuv2;

constexpr uint64_t kRam = 0x80000000, kRamSize = 64ull << 20;
constexpr uint64_t kPool = kRam + (32ull << 20);

class QcomIommuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    mmu = std::make_shared<QcomIommu>("apps", mem, 16);
    ASSERT_TRUE(mmu->add_context(4, &irq4));
    ASSERT_TRUE(mmu->add_context(5, &irq5));
    cb4 = QcomIommu::context_window(mmu, 4);
    cb5 = QcomIommu::context_window(mmu, 5);
    ASSERT_TRUE(cb4 && cb5);
  }
  static void w(MmioDevice& m, uint64_t off, uint32_t v) { m.write(off, v, 4); }
  static uint32_t r(MmioDevice& m, uint64_t off) { return static_cast<uint32_t>(m.read(off, 4)); }
  // As Linux qcom_iommu_init_domain programs a bank: AArch32 LPAE, T0SZ 32.
  void program(MmioDevice& cb, uint64_t ttb, uint8_t asid, uint32_t sctlr = SCTLR_M | SCTLR_CFIE | SCTLR_CFRE) {
    cb.write(CB_TTBR0, ttb | (uint64_t{asid} << 48), 8);
    w(cb, CB_TCR, 32u | TCR_EAE);
    w(cb, CB_SCTLR, sctlr);
  }
  TableBuilder tables() {
    TableBuilder tb(mem, pool_, arm::Granule::k4K, arm::Stage::s1, 32, 1);
    pool_ += 1ull << 20;
    return tb;
  }

  PhysicalMemory mem;
  IrqLine irq4{"cb4"}, irq5{"cb5"};
  std::shared_ptr<QcomIommu> mmu;
  std::shared_ptr<MmioDevice> cb4, cb5;
  uint64_t pool_ = kPool;
};

TEST_F(QcomIommuTest, ResetBankPassesThroughAndUnknownBankAborts) {
  const auto out = mmu->translate(5, 0x12345678, Access::read);
  EXPECT_EQ(out.kind, Kind::bypassed);
  EXPECT_EQ(out.pa, 0x12345678u);
  EXPECT_EQ(out.span, 0x1000u - 0x678);
  EXPECT_EQ(r(*cb5, CB_SCTLR), 0u);
  // A stream routed to no bank of the tree: aborted.
  EXPECT_EQ(mmu->translate(6, 0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(mmu->translate(1000, 0x1000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(QcomIommu::context_window(mmu, 6), nullptr);
  EXPECT_FALSE(mmu->add_context(5, nullptr));  // taken
  EXPECT_FALSE(mmu->add_context(kMaxContexts, nullptr));
}

TEST_F(QcomIommuTest, TranslatesCachesAndFlushesByAsidAndVa) {
  auto tb = tables();
  tb.map(0x10000000, kRam + 0x5000, 3);
  tb.map(0x40000000, kRam + 0x200000, 2);  // a 2 MiB block
  program(*cb5, tb.root(), 5);
  auto out = mmu->translate(5, 0x10000010, Access::write);
  ASSERT_EQ(out.kind, Kind::translated);
  EXPECT_EQ(out.pa, kRam + 0x5010);
  EXPECT_EQ(out.span, 0x1000u - 0x10);
  out = mmu->translate(5, 0x40001000, Access::read);
  ASSERT_EQ(out.kind, Kind::translated);
  EXPECT_EQ(out.pa, kRam + 0x201000);
  EXPECT_EQ(out.span, 0x200000u - 0x1000);
  (void)mmu->translate(5, 0x10000020, Access::read);
  EXPECT_EQ(mmu->stats().tlb_hits, 1u);
  EXPECT_EQ(mmu->tlb_size(), 2u);
  // Remapped without invalidation: the TLB still answers the old page.
  tb.map(0x10000000, kRam + 0x9000, 3);
  EXPECT_EQ(mmu->translate(5, 0x10000000, Access::read).pa, kRam + 0x5000);
  // TLBIVA for another ASID or another page drops nothing.
  w(*cb5, CB_TLBIVA, 0x10000000u | 7);
  w(*cb5, CB_TLBIVAL, 0x10003000u | 5);
  EXPECT_EQ(mmu->tlb_size(), 2u);
  // The page with the bank's ASID goes; TLBSYNC completes at once.
  w(*cb5, CB_TLBIVAL, 0x10000000u | 5);
  w(*cb5, CB_TLBSYNC, 0);
  EXPECT_EQ(r(*cb5, CB_TLBSTATUS), 0u);
  EXPECT_EQ(mmu->tlb_size(), 1u);
  EXPECT_EQ(mmu->translate(5, 0x10000000, Access::read).pa, kRam + 0x9000);
  w(*cb5, CB_TLBIASID, 5);
  EXPECT_EQ(mmu->tlb_size(), 0u);
  // Bank 4 does not see bank 5's entries.
  program(*cb4, tables().root(), 4);
  EXPECT_EQ(mmu->translate(5, 0x40000000, Access::read).kind, Kind::translated);
  EXPECT_EQ(mmu->translate(4, 0x40000000, Access::read).kind, Kind::faulted);
}

TEST_F(QcomIommuTest, FaultsLatchFsrFarAndRaiseTheBanksInterrupt) {
  auto tb = tables();
  tb.map(0x1000, kRam, 3, Attr{true, false});  // read-only
  program(*cb4, tb.root(), 4);
  EXPECT_EQ(mmu->translate(4, 0x8000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(r(*cb4, CB_FSR) & FSR_FAULT_MASK, FSR_TF);
  EXPECT_EQ(cb4->read(CB_FAR, 8), 0x8000u);
  EXPECT_NE(r(*cb4, CB_FSYNR0) & FSYNR0_WNR, 0u);
  EXPECT_EQ(irq4.count(), 1u);
  EXPECT_EQ(irq5.count(), 0u);
  // A second fault keeps the first address and sets MULTI.
  EXPECT_EQ(mmu->translate(4, 0x1000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(r(*cb4, CB_FAR), 0x8000u);
  EXPECT_NE(r(*cb4, CB_FSR) & FSR_MULTI, 0u);
  // Write 1 to clear; then a permission fault is recorded as such.
  w(*cb4, CB_FSR, r(*cb4, CB_FSR));
  EXPECT_EQ(r(*cb4, CB_FSR), 0u);
  w(*cb4, 0x8, 1);  // RESUME: terminate
  EXPECT_EQ(mmu->translate(4, 0x1000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(r(*cb4, CB_FSR) & FSR_FAULT_MASK, FSR_PF);
  EXPECT_EQ(mmu->translate(4, 0x1000, Access::read).kind, Kind::translated);
  // Without SCTLR.CFIE no interrupt; an IOVA beyond 32 bits never translates.
  w(*cb4, CB_FSR, 0xffffffff);
  w(*cb4, CB_SCTLR, SCTLR_M);
  const uint64_t before = irq4.count();
  EXPECT_EQ(mmu->translate(4, 0x100001000ull, Access::read).kind, Kind::faulted);
  EXPECT_EQ(irq4.count(), before);
  EXPECT_EQ(mmu->stats().faults, 4u);
}

TEST_F(QcomIommuTest, EmptyTableBlocksAndShortDescriptorsFault) {
  auto empty = tables();
  program(*cb5, empty.root(), 5, SCTLR_M);
  EXPECT_EQ(mmu->translate(5, 0x0, Access::read).kind, Kind::faulted);
  EXPECT_EQ(mmu->translate(5, 0xfffff000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(mmu->stats().bypassed, 0u);
  // TTBCR.EAE=0 (short descriptors) or a split space: not modelled, faults.
  auto tb = tables();
  tb.map(0x1000, kRam, 3);
  program(*cb5, tb.root(), 5, SCTLR_M);
  w(*cb5, CB_TCR, 32u);
  EXPECT_EQ(mmu->translate(5, 0x1000, Access::read).kind, Kind::faulted);
  w(*cb5, CB_TCR, 33u | TCR_EAE);
  EXPECT_EQ(mmu->translate(5, 0x1000, Access::read).kind, Kind::faulted);
  w(*cb5, CB_TCR, 32u | TCR_EAE);
  EXPECT_EQ(mmu->translate(5, 0x1000, Access::read).kind, Kind::translated);
  // 32-bit halves of TTBR0 read back as written.
  EXPECT_EQ(r(*cb5, CB_TTBR0 + 4), 5u << 16);
}

TEST_F(QcomIommuTest, LocalWindowStoresAndHostileWritesNeverCrash) {
  mmu->write(SMMU_INTR_SEL_NS, 0xffffffff, 4);
  EXPECT_EQ(mmu->read(SMMU_INTR_SEL_NS, 4), 0xffffffffu);
  EXPECT_EQ(mmu->read(0x10000, 4), 0u);
  std::mt19937_64 rng(18);
  for (int i = 0; i < 400; ++i) {
    const uint64_t off = rng() % 0x1400;
    const unsigned size = 1u << (rng() % 4);
    MmioDevice& cb = (i & 1) ? *cb4 : *cb5;
    cb.write(off, rng(), size);
    (void)cb.read(off, size);
    mmu->write(rng() % 0x4000, rng(), size);
    (void)mmu->translate(static_cast<uint32_t>(rng() % 8), rng() & 0x1ffffffffull,
                         (rng() & 1) ? Access::write : Access::read);
  }
  SUCCEED() << mmu->stats().faults;
  EXPECT_LE(mmu->tlb_size(), 16u);
}

}  // namespace
}  // namespace modiommu::hw::qcom
