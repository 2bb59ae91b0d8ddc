// IPMMU-VMSA model tests: registers driven directly, tables built by hand.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "pgtable_builder.h"
#include "hw/ipmmu/ipmmu.h"
#include "hw/ipmmu/regs.h"
#include "hw/irq.h"
#include "hw/memory.h"

namespace modiommu::hw::ipmmu {
namespace {

using Kind = TranslateOutcome::Kind;
using testing::Attr;
using testing::TableBuilder;

constexpr uint64_t kRam = 0x48000000, kRamSize = 64ull << 20;
constexpr uint64_t kPool = kRam + (32ull << 20);

class IpmmuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    root = std::make_shared<Ipmmu>("mm", mem, features_for(Generation::gen3), &irq);
    leaf = std::make_shared<Ipmmu>("ds0", mem, features_for(Generation::gen3), nullptr, [this] { return root; });
  }
  static void w(Ipmmu& m, uint64_t off, uint32_t v) { m.write(off, v, 4); }
  static uint32_t r(Ipmmu& m, uint64_t off) { return static_cast<uint32_t>(m.read(off, 4)); }
  uint64_t ctx(unsigned c, uint64_t reg) const { return root->layout().ctx_offset(c) + reg; }
  uint64_t utlb(unsigned n, uint64_t reg) const { return leaf->layout().utlb_offset(n) + reg; }
  // Root context c: LPAE, 32-bit input, start level 1 (Gen3 two-bit SL0), tables at tb.
  void setup_ctx(unsigned c, uint64_t ttb) {
    w(*root, ctx(c, IMTTLBR0), static_cast<uint32_t>(ttb));
    w(*root, ctx(c, IMTTUBR0), static_cast<uint32_t>(ttb >> 32));
    w(*root, ctx(c, IMTTBCR), IMTTBCR_EAE | imttbcr::SL0_TWOBIT::prep(SL0_TWOBIT_LVL1));
    w(*root, ctx(c, IMSTR), 0);
    w(*root, ctx(c, IMCTR), IMCTR_INTEN | IMCTR_FLUSH | IMCTR_MMUEN);
    w(*leaf, ctx(c, IMCTR), IMCTR_INTEN | IMCTR_FLUSH | IMCTR_MMUEN);
  }
  void enable_utlb(unsigned n, unsigned c) {
    w(*leaf, utlb(n, IMUCTR), IMUCTR_TTSEL::prep(c) | IMUCTR_FLUSH | IMUCTR_MMUEN);
  }
  TableBuilder tables() { return TableBuilder(mem, pool_next(), arm::Granule::k4K, arm::Stage::s1, 32, 1); }
  uint64_t pool_next() {
    const uint64_t p = pool_;
    pool_ += 1ull << 20;
    return p;
  }

  PhysicalMemory mem;
  IrqLine irq{"ipmmu"};
  std::shared_ptr<Ipmmu> root, leaf;
  uint64_t pool_ = kPool;
};

TEST_F(IpmmuTest, ResetPassesEveryMicroTlbThrough) {
  for (unsigned n : {0u, 7u, 47u}) {
    const auto out = leaf->translate(n, 0x12345678, Access::read);
    EXPECT_EQ(out.kind, Kind::bypassed) << n;
    EXPECT_EQ(out.pa, 0x12345678u);
    EXPECT_EQ(out.span, 0x1000u - 0x678);
  }
  EXPECT_EQ(r(*root, ctx(0, IMCTR)), 0u);
  // A micro-TLB number the instance does not have is no master of it: aborted.
  EXPECT_EQ(leaf->translate(48, 0x1000, Access::read).kind, Kind::faulted);
}

TEST_F(IpmmuTest, LeafTranslatesThroughRootContextAndCachesIt) {
  auto tb = tables();
  tb.map(0x10000000, kRam + 0x5000, 3);
  tb.map(0x40000000, kRam + 0x200000, 2);  // a 2 MiB block
  setup_ctx(3, tb.root());
  enable_utlb(5, 3);
  auto out = leaf->translate(5, 0x10000010, Access::write);
  ASSERT_EQ(out.kind, Kind::translated);
  EXPECT_EQ(out.pa, kRam + 0x5010);
  EXPECT_EQ(out.span, 0x1000u - 0x10);
  out = leaf->translate(5, 0x40001000, Access::read);
  ASSERT_EQ(out.kind, Kind::translated);
  EXPECT_EQ(out.pa, kRam + 0x201000);
  EXPECT_EQ(out.span, 0x200000u - 0x1000);
  EXPECT_EQ(leaf->stats().tlb_misses, 2u);
  (void)leaf->translate(5, 0x10000020, Access::read);
  EXPECT_EQ(leaf->stats().tlb_hits, 1u);
  EXPECT_EQ(leaf->tlb_size(), 2u);
  // Remap without a flush: the TLB still answers the old translation.
  tb.map(0x10000000, kRam + 0x9000, 3);
  EXPECT_EQ(leaf->translate(5, 0x10000000, Access::read).pa, kRam + 0x5000);
  // IMCTR.FLUSH on the leaf's context drops it, and reads back as done.
  w(*leaf, ctx(3, IMCTR), IMCTR_INTEN | IMCTR_FLUSH | IMCTR_MMUEN);
  EXPECT_EQ(r(*leaf, ctx(3, IMCTR)) & IMCTR_FLUSH, 0u);
  EXPECT_EQ(leaf->tlb_size(), 0u);
  EXPECT_EQ(leaf->translate(5, 0x10000000, Access::read).pa, kRam + 0x9000);
}

TEST_F(IpmmuTest, FaultsLatchInRootImstrAndRaiseItsInterrupt) {
  auto tb = tables();
  tb.map(0x1000, kRam, 3, Attr{true, false});  // read-only
  setup_ctx(1, tb.root());
  enable_utlb(2, 1);
  EXPECT_EQ(leaf->translate(2, 0x8000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(r(*root, ctx(1, IMSTR)) & IMSTR_ERR, IMSTR_TF);
  EXPECT_EQ(r(*root, ctx(1, IMELAR)), 0x8000u);
  EXPECT_EQ(r(*root, ctx(1, IMEUAR)), 0u);
  EXPECT_EQ(irq.count(), 1u);
  // A second fault keeps the first address.
  EXPECT_EQ(leaf->translate(2, 0x1000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(r(*root, ctx(1, IMELAR)), 0x8000u);
  // Cleared by writing 0; writing the value back clears nothing.
  w(*root, ctx(1, IMSTR), r(*root, ctx(1, IMSTR)));
  EXPECT_NE(r(*root, ctx(1, IMSTR)), 0u);
  w(*root, ctx(1, IMSTR), 0);
  EXPECT_EQ(r(*root, ctx(1, IMSTR)), 0u);
  EXPECT_EQ(leaf->translate(2, 0x1000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(r(*root, ctx(1, IMSTR)) & IMSTR_ERR, IMSTR_PF);
  EXPECT_EQ(root->stats().faults, 3u);
  // An IOVA beyond 32 bits never translates.
  w(*root, ctx(1, IMSTR), 0);
  EXPECT_EQ(leaf->translate(2, 0x100001000ull, Access::read).kind, Kind::faulted);
  EXPECT_EQ(r(*root, ctx(1, IMEUAR)), 1u);
  // Without IMCTR.INTEN no interrupt.
  const uint64_t before = irq.count();
  w(*root, ctx(1, IMCTR), IMCTR_MMUEN);
  w(*root, ctx(1, IMSTR), 0);
  EXPECT_EQ(leaf->translate(2, 0x9000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), before);
}

TEST_F(IpmmuTest, EmptyTablesBlockAndDisabledContextPassesThrough) {
  auto tb = tables();  // maps nothing
  setup_ctx(0, tb.root());
  enable_utlb(9, 0);
  EXPECT_EQ(leaf->translate(9, 0x0, Access::read).kind, Kind::faulted);
  EXPECT_EQ(leaf->translate(9, 0xfffff000, Access::write).kind, Kind::faulted);
  // The context switched off (IMCTR.MMUEN=0): untranslated.
  w(*root, ctx(0, IMCTR), IMCTR_FLUSH);
  EXPECT_EQ(leaf->translate(9, 0x3000, Access::read).kind, Kind::bypassed);
  // The micro-TLB off: untranslated as well.
  w(*root, ctx(0, IMCTR), IMCTR_MMUEN);
  w(*leaf, utlb(9, IMUCTR), 0);
  EXPECT_EQ(leaf->translate(9, 0x3000, Access::read).kind, Kind::bypassed);
  EXPECT_EQ(leaf->stats().bypassed, 2u);
}

TEST_F(IpmmuTest, ShortDescriptorsOrOtherStartLevelsFault) {
  auto tb = tables();
  tb.map(0x1000, kRam, 3);
  setup_ctx(2, tb.root());
  enable_utlb(0, 2);
  ASSERT_EQ(leaf->translate(0, 0x1000, Access::read).kind, Kind::translated);
  w(*leaf, ctx(2, IMCTR), IMCTR_FLUSH | IMCTR_MMUEN);
  w(*root, ctx(2, IMTTBCR), imttbcr::SL0_TWOBIT::prep(SL0_TWOBIT_LVL1));  // EAE=0
  EXPECT_EQ(leaf->translate(0, 0x1000, Access::read).kind, Kind::faulted);
  w(*root, ctx(2, IMTTBCR), IMTTBCR_EAE);  // SL0 = level 2? not for a 32-bit input
  EXPECT_EQ(leaf->translate(0, 0x1000, Access::read).kind, Kind::faulted);
}

TEST_F(IpmmuTest, MicroTlbRegisterRangesAndGen4Layout) {
  // uTLB 32 and up live in the second range (IMUCTR32).
  EXPECT_EQ(leaf->layout().utlb_offset(31), 0x300u + 31 * 16);
  EXPECT_EQ(leaf->layout().utlb_offset(32), 0x600u);
  w(*leaf, 0x600, IMUCTR_MMUEN | IMUCTR_TTSEL::prep(4));
  EXPECT_EQ(r(*leaf, utlb(32, IMUCTR)), IMUCTR_MMUEN | IMUCTR_TTSEL::prep(4));
  Ipmmu g4("g4", mem, features_for(Generation::gen4));
  EXPECT_EQ(g4.layout().ctx_offset(0), 0x10000u);
  EXPECT_EQ(g4.layout().ctx_offset(9), 0x10000u + 0x600 + 9 * 0x1040);
  EXPECT_EQ(g4.layout().utlb_offset(63), 0x3000u + 0x600 + 31 * 16);
  g4.write(g4.layout().ctx_offset(15) + IMTTLBR0, 0xabc000, 4);
  EXPECT_EQ(g4.read(g4.layout().ctx_offset(15) + IMTTLBR0, 4), 0xabc000u);
  EXPECT_GE(g4.region_size(), g4.layout().ctx_offset(15) + kContextSpan);
  // Gen2: the non-secure alias at +0x800 holds the registers; below reads 0.
  Ipmmu g2("g2", mem, features_for(Generation::gen2));
  g2.write(0x800 + IMTTLBR0, 0x1000, 4);
  EXPECT_EQ(g2.read(0x800 + IMTTLBR0, 4), 0x1000u);
  EXPECT_EQ(g2.read(IMTTLBR0, 4), 0u);
}

TEST_F(IpmmuTest, Gen2InstanceIsItsOwnRoot) {
  Ipmmu g2("g2", mem, features_for(Generation::gen2), &irq);
  auto tb = tables();
  tb.map(0x2000, kRam + 0x3000, 3);
  const uint64_t c0 = g2.layout().ctx_offset(0);
  g2.write(c0 + IMTTLBR0, static_cast<uint32_t>(tb.root()), 4);
  g2.write(c0 + IMTTBCR, IMTTBCR_EAE | imttbcr::SL0_GEN2::prep(SL0_GEN2_LVL1), 4);
  g2.write(c0 + IMCTR, IMCTR_MMUEN | IMCTR_INTEN, 4);
  g2.write(g2.layout().utlb_offset(3) + IMUCTR, IMUCTR_MMUEN, 4);
  auto out = g2.translate(3, 0x2004, Access::read);
  ASSERT_EQ(out.kind, Kind::translated);
  EXPECT_EQ(out.pa, kRam + 0x3004);
  EXPECT_EQ(g2.translate(3, 0x5000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), 1u);
}

TEST_F(IpmmuTest, HostileWritesNeverCrash) {
  std::mt19937_64 rng(17);
  for (int i = 0; i < 20000; ++i) {
    const uint64_t off = rng() % 0x1000;
    const unsigned size = (rng() & 3) == 0 ? 8 : 4;
    leaf->write(off, rng(), size);
    root->write(off, rng(), size);
    (void)root->read(off, size);
    (void)leaf->translate(static_cast<uint32_t>(rng() % 64), rng(), (rng() & 1) ? Access::read : Access::write);
  }
  // Still a working register file afterwards.
  w(*leaf, utlb(0, IMUCTR), 0);
  EXPECT_EQ(leaf->translate(0, 0x1234, Access::read).kind, Kind::bypassed);
  w(*root, ctx(6, IMTTLBR0), 0x5000);
  EXPECT_EQ(r(*root, ctx(6, IMTTLBR0)), 0x5000u);
}

TEST(IpmmuLeaf, WithoutRootModelNothingTranslates) {
  PhysicalMemory mem;
  Ipmmu leaf("orphan", mem, features_for(Generation::gen3), nullptr, [] { return std::shared_ptr<Ipmmu>(); });
  leaf.write(leaf.layout().utlb_offset(0) + IMUCTR, IMUCTR_MMUEN, 4);
  EXPECT_EQ(leaf.translate(0, 0x1000, Access::read).kind, TranslateOutcome::Kind::faulted);
  EXPECT_TRUE(leaf.is_leaf());
}

}  // namespace
}  // namespace modiommu::hw::ipmmu
