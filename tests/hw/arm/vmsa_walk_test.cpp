#include "hw/arm/vmsa_walk.h"

#include <gtest/gtest.h>

#include <tuple>

#include "pgtable_builder.h"

namespace modiommu::hw::arm {
namespace {

using testing::TableBuilder;
using Fault = WalkResult::Fault;

constexpr uint64_t kRam = 0x40000000, kRamSize = 0x40000000;  // 1 GiB at 1 GiB
constexpr uint64_t kPool = 0x60000000;                         // tables live here

unsigned shift_of(Granule g) { return g == Granule::k4K ? 12 : g == Granule::k16K ? 14 : 16; }

TEST(VmsaWalk, StartLevels) {
  EXPECT_EQ(s1_start_level(Granule::k4K, 48), 0u);
  EXPECT_EQ(s1_start_level(Granule::k4K, 39), 1u);
  EXPECT_EQ(s1_start_level(Granule::k4K, 32), 1u);
  EXPECT_EQ(s1_start_level(Granule::k4K, 30), 2u);
  EXPECT_EQ(s1_start_level(Granule::k16K, 48), 0u);
  EXPECT_EQ(s1_start_level(Granule::k16K, 47), 1u);
  EXPECT_EQ(s1_start_level(Granule::k16K, 36), 2u);
  EXPECT_EQ(s1_start_level(Granule::k64K, 48), 1u);
  EXPECT_EQ(s1_start_level(Granule::k64K, 42), 2u);
  EXPECT_EQ(s1_start_level(Granule::k64K, 29), 3u);
  EXPECT_EQ(s1_start_level(Granule::k4K, 52), 4u);
  EXPECT_EQ(s2_start_level(Granule::k4K, 0), 2u);
  EXPECT_EQ(s2_start_level(Granule::k4K, 2), 0u);
  EXPECT_EQ(s2_start_level(Granule::k64K, 2), 1u);
  EXPECT_EQ(s2_start_level(Granule::k16K, 1), 2u);
  EXPECT_EQ(s2_start_level(Granule::k4K, 3), 4u);
}

// Matrix: granule x input size x stage; a page and a block mapping each.
class WalkMatrix : public ::testing::TestWithParam<std::tuple<Granule, unsigned, Stage>> {};

TEST_P(WalkMatrix, PageAndBlock) {
  auto [g, ib, st] = GetParam();
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
  const unsigned shift = shift_of(g), stride = shift - 3;
  unsigned start = st == Stage::s1 ? s1_start_level(g, ib) : 0;
  if (st == Stage::s2) {
    // Choose SL0 giving one concatenated level of at most 16 tables.
    for (unsigned sl0 = 0; sl0 < 3; ++sl0) {
      unsigned l = s2_start_level(g, sl0);
      unsigned ls = shift + stride * (3 - l);
      if (l <= 3 && ib > ls && ib - ls <= stride + 4) {
        start = l;
        break;
      }
    }
  }
  ASSERT_LE(start, 3u);
  TableBuilder tb(mem, kPool, g, st, ib, start);
  WalkConfig cfg;
  cfg.stage = st;
  cfg.granule = g;
  cfg.input_bits = ib;
  cfg.output_bits = 40;
  cfg.ttb = tb.root();
  cfg.start_level = start;

  const uint64_t page = uint64_t{1} << shift;
  const uint64_t iova = (uint64_t{1} << (ib - 1)) + 5 * page;  // near the top of the range
  tb.map(iova, kRam + 7 * page, 3);
  WalkResult r = walk(mem, cfg, iova + 0x123, Access::write);
  ASSERT_EQ(r.fault, Fault::none) << fault_name(r.fault);
  EXPECT_EQ(r.pa, kRam + 7 * page + 0x123);
  EXPECT_EQ(r.level, 3u);
  EXPECT_EQ(r.block_size, page);
  EXPECT_TRUE(r.readable && r.writable);

  // Level-2 block (allowed for every granule).
  const uint64_t bsize = uint64_t{1} << (shift + stride);
  if (start <= 2 && bsize <= kRamSize / 2) {
    const uint64_t biova = 3 * bsize;
    tb.map(biova, kRam + bsize * (kRamSize / bsize / 2), 2);
    WalkResult b = walk(mem, cfg, biova + bsize - 8, Access::read);
    ASSERT_EQ(b.fault, Fault::none) << fault_name(b.fault);
    EXPECT_EQ(b.level, 2u);
    EXPECT_EQ(b.block_size, bsize);
    EXPECT_EQ(b.pa, kRam + bsize * (kRamSize / bsize / 2) + bsize - 8);
  }
  // Unmapped neighbour: translation fault naming the address.
  WalkResult f = walk(mem, cfg, iova + 2 * page, Access::read);
  EXPECT_EQ(f.fault, Fault::translation);
  EXPECT_EQ(f.fault_ipa_or_va, iova + 2 * page);
  // Beyond the input size.
  if (ib < 48) {
    EXPECT_EQ(walk(mem, cfg, uint64_t{1} << ib, Access::read).fault, Fault::translation);
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, WalkMatrix,
    ::testing::Combine(::testing::Values(Granule::k4K, Granule::k16K, Granule::k64K), ::testing::Values(48u, 39u, 32u),
                       ::testing::Values(Stage::s1, Stage::s2)));

struct Fixture : ::testing::Test {
  PhysicalMemory mem;
  void SetUp() override { ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok()); }
  WalkConfig cfg(const TableBuilder& tb, Stage st = Stage::s1) {
    WalkConfig c;
    c.stage = st;
    c.granule = Granule::k4K;
    c.input_bits = 48;
    c.output_bits = 40;
    c.ttb = tb.root();
    c.start_level = 0;
    return c;
  }
};

TEST_F(Fixture, S1ReadOnlyPermission) {
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s1, 48, 0);
  tb.map(0x1000, kRam, 3, {true, false, true});
  auto c = cfg(tb);
  EXPECT_TRUE(walk(mem, c, 0x1000, Access::read).ok());
  WalkResult w = walk(mem, c, 0x1008, Access::write);
  EXPECT_EQ(w.fault, Fault::permission);
  EXPECT_EQ(w.fault_ipa_or_va, 0x1008u);
  EXPECT_EQ(w.level, 3u);
}

TEST_F(Fixture, S1UnprivilegedNeedsApUser) {
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s1, 48, 0);
  tb.map(0x1000, kRam, 3);  // AP[1] = 0: EL1 only
  auto c = cfg(tb);
  c.s1_ignore_ap_user = false;
  EXPECT_EQ(walk(mem, c, 0x1000, Access::read).fault, Fault::permission);
  tb.raw(0x1000, 3, kRam | 3 | (1 << 10) | (1 << 6));
  EXPECT_TRUE(walk(mem, c, 0x1000, Access::read).ok());
}

TEST_F(Fixture, S1ApTableNoWrite) {
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s1, 48, 0);
  tb.map(0x1000, kRam, 3);
  // Set APTable[1] (bit 62) on the level-0 table descriptor.
  const uint64_t l0 = tb.root();
  uint64_t d = mem.read64(l0).value();
  ASSERT_TRUE(mem.write64(l0, d | (1ull << 62)).ok());
  auto c = cfg(tb);
  EXPECT_TRUE(walk(mem, c, 0x1000, Access::read).ok());
  EXPECT_EQ(walk(mem, c, 0x1000, Access::write).fault, Fault::permission);
}

TEST_F(Fixture, S2ApBits) {
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s2, 40, 1);
  tb.map(0x1000, kRam, 3, {false, true, true});  // write-only
  tb.map(0x2000, kRam, 3, {true, false, true});  // read-only
  WalkConfig c = cfg(tb, Stage::s2);
  c.input_bits = 40;
  c.start_level = 1;
  EXPECT_EQ(walk(mem, c, 0x1000, Access::read).fault, Fault::permission);
  EXPECT_TRUE(walk(mem, c, 0x1000, Access::write).ok());
  EXPECT_TRUE(walk(mem, c, 0x2000, Access::read).ok());
  EXPECT_EQ(walk(mem, c, 0x2000, Access::write).fault, Fault::permission);
}

TEST_F(Fixture, AccessFlagFault) {
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s1, 48, 0);
  tb.map(0x5000, kRam, 3, {true, true, false});
  WalkResult r = walk(mem, cfg(tb), 0x5000, Access::read);
  EXPECT_EQ(r.fault, Fault::access_flag);
  EXPECT_EQ(r.level, 3u);
}

TEST_F(Fixture, AddressSizeFaultOnOutputAndTable) {
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s1, 48, 0);
  tb.map(0x1000, uint64_t{1} << 41, 3);  // OA beyond 40 bits
  auto c = cfg(tb);
  EXPECT_EQ(walk(mem, c, 0x1000, Access::read).fault, Fault::address_size);
  // Next-level table pointer beyond the OA size.
  tb.raw(0x40000000000ull, 2, (uint64_t{1} << 42) | 3);
  WalkResult r = walk(mem, c, 0x40000000000ull, Access::read);
  EXPECT_EQ(r.fault, Fault::address_size);
  EXPECT_EQ(r.level, 2u);
  // TTB itself beyond.
  c.ttb = uint64_t{1} << 44;
  EXPECT_EQ(walk(mem, c, 0x1000, Access::read).fault, Fault::address_size);
}

TEST_F(Fixture, ExternalFaultOnTableOutsideRam) {
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s1, 48, 0);
  tb.raw(0x1000, 2, 0x10000000 | 3);  // level-3 table in a hole (no RAM at 256 MiB)
  WalkResult r = walk(mem, cfg(tb), 0x1000, Access::read);
  EXPECT_EQ(r.fault, Fault::external);
  EXPECT_EQ(r.fetch_pa, 0x10000000u + 8);
  auto c = cfg(tb);
  c.ttb = 0x1000;  // root outside RAM
  EXPECT_EQ(walk(mem, c, 0, Access::read).fault, Fault::external);
}

TEST_F(Fixture, ReservedAndInvalidDescriptors) {
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s1, 48, 0);
  auto c = cfg(tb);
  tb.raw(0x3000, 3, kRam | 1 | (1 << 10));  // block encoding at level 3: reserved
  EXPECT_EQ(walk(mem, c, 0x3000, Access::read).fault, Fault::translation);
  // Block at level 0 (4K) is not allowed.
  ASSERT_TRUE(mem.write64(tb.root() + 8 * 5, 1 | (1 << 10)).ok());
  EXPECT_EQ(walk(mem, c, uint64_t{5} << 39, Access::read).fault, Fault::translation);
  // 1 GiB block at level 1 is allowed for 4K.
  tb.raw(0x80000000, 1, kRam | 1 | (1 << 10));
  WalkResult b = walk(mem, c, 0x80000010, Access::read);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.block_size, 1ull << 30);
  EXPECT_EQ(b.pa, kRam + 0x10);
}

TEST_F(Fixture, S2ConcatenatedStartTables) {
  // 4K, 40-bit IPA, SL0=1 -> level 1 with 2 concatenated tables.
  TableBuilder tb(mem, kPool, Granule::k4K, Stage::s2, 40, 1);
  const uint64_t high = (uint64_t{1} << 39) + 0x2000;
  tb.map(high, kRam + 0x3000, 3);
  WalkConfig c = cfg(tb, Stage::s2);
  c.input_bits = 40;
  c.start_level = 1;
  WalkResult r = walk(mem, c, high + 4, Access::read);
  ASSERT_TRUE(r.ok()) << fault_name(r.fault);
  EXPECT_EQ(r.pa, kRam + 0x3004);
  // A 48-bit IPA cannot start at level 2 (too many concatenated tables).
  c.input_bits = 48;
  c.start_level = 2;
  EXPECT_EQ(walk(mem, c, 0, Access::read).fault, Fault::translation);
}

}  // namespace
}  // namespace modiommu::hw::arm
