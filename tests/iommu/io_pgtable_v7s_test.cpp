// The ARMv7 short-descriptor io-pgtable (PgtableFormat::arm_v7s), as the
// LPAE matrix tests it: every mapping is checked by iova_to_phys and by the
// hardware walker (hw/arm/v7s_walk) reading the tables from emulated RAM.
// The matrix: plain v7s (32-bit IOVA, AP permissions) and the MediaTek
// configuration (no permissions, PA bits 32-34 in the descriptors, 32- and
// 34-bit IOVA).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>

#include "hw/arm/v7s_walk.h"
#include "iommu/io_pgtable.h"
#include "iommu/io_pgtable_arm_v7s.h"
#include "pgtable_fixture.h"

namespace modiommu::iommu::test {
namespace {

using hw::arm::Access;
using Fault = hw::arm::WalkResult::Fault;

struct V7sParam {
  bool mtk;
  unsigned ias;
  unsigned oas;
};

std::string v7s_name(const ::testing::TestParamInfo<V7sParam>& info) {
  return fmt::format("{}_ias{}_oas{}", info.param.mtk ? "mtk" : "plain", info.param.ias, info.param.oas);
}

constexpr uint64_t K4 = 4096, K64 = 64 << 10, M1 = 1 << 20, M16 = 16 << 20;
constexpr int kRW = IOMMU_READ | IOMMU_WRITE;

class V7sMatrix : public ::testing::TestWithParam<V7sParam> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRamBase, kRamSize).ok());
    auto pa = mm::PageAllocator::create(mem, kRamBase, kTableMem);
    ASSERT_TRUE(pa.ok()) << pa.error().str();
    pages = std::move(pa).value();
    cfg.fmt = PgtableFormat::arm_v7s;
    cfg.ias = GetParam().ias;
    cfg.oas = GetParam().oas;
    if (GetParam().mtk) cfg.quirks = kQuirkArmNs | kQuirkNoPerms | kQuirkArmMtkExt;
    cfg.tlb = &tlb;
    auto pt = IoPgtable::alloc(cfg, mem, *pages);
    ASSERT_TRUE(pt.ok()) << pt.error().str();
    pgt = std::move(pt).value();
    limit = uint64_t{1} << cfg.ias;
    // Outputs above 4 GiB exercise the MediaTek PA bits.
    out = GetParam().oas > 32 ? 0x5'4000'0000ull : 0x9000'0000ull;
    // The walker from the TTBR value alone, as the M4U decodes it.
    const uint32_t ttbr = pgt->cfg().arm_v7s_cfg.ttbr;
    wcfg.ttb = GetParam().mtk ? ((uint64_t{ttbr & 7} << 32) | (ttbr & 0xffffff80u)) : ttbr;
    wcfg.ttb &= ~((uint64_t{4} << (cfg.ias - 20)) - 1);
    wcfg.input_bits = cfg.ias;
    wcfg.mtk_ext = GetParam().mtk;
  }
  hw::arm::WalkResult walk(uint64_t iova, Access a = Access::read) const { return hw::arm::v7s_walk(mem, wcfg, iova, a); }
  void expect_mapped(uint64_t iova, uint64_t pa, uint64_t leaf, bool writable = true) {
    SCOPED_TRACE(fmt::format("iova {:#x}", iova));
    auto r = pgt->iova_to_phys(iova);
    ASSERT_TRUE(r.ok()) << r.error().str();
    EXPECT_EQ(*r, pa);
    const auto w = walk(iova);
    ASSERT_TRUE(w.ok()) << walk_str(w);
    EXPECT_EQ(w.pa, pa);
    EXPECT_EQ(w.block_size, leaf);
    EXPECT_EQ(walk(iova, Access::write).ok(), writable || GetParam().mtk);
  }
  void expect_unmapped(uint64_t iova) {
    SCOPED_TRACE(fmt::format("iova {:#x}", iova));
    auto r = pgt->iova_to_phys(iova);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::noent);
    EXPECT_EQ(walk(iova).fault, Fault::translation);
  }

  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  RecordingFlushOps tlb;
  IoPgtableCfg cfg;
  std::unique_ptr<IoPgtable> pgt;
  hw::arm::V7sWalkConfig wcfg;
  uint64_t limit = 0, out = 0;
};

TEST_P(V7sMatrix, ConfigOutputs) {
  EXPECT_EQ(pgt->pgsize_bitmap(), K4 | K64 | M1 | M16);
  EXPECT_EQ(pgt->cfg().levels, 2u);
  const uint32_t ttbr = pgt->cfg().arm_v7s_cfg.ttbr;
  EXPECT_EQ(pgt->ttbr(), ttbr);
  // The level-1 table: 4 bytes per MiB, aligned to its size.
  EXPECT_EQ(wcfg.ttb % (uint64_t{4} << (cfg.ias - 20)), 0u);
  EXPECT_EQ(pgt->table_pages(), std::max<uint64_t>(1, (uint64_t{4} << (cfg.ias - 20)) / 4096));
}

TEST_P(V7sMatrix, EveryPageSizeMapsAndUnmaps) {
  for (uint64_t sz : {K4, K64, M1, M16}) {
    SCOPED_TRACE(fmt::format("size {:#x}", sz));
    const uint64_t iova = 4 * M16 + sz * 3;
    size_t mapped = 0;
    ASSERT_TRUE(pgt->map_pages(iova, out + sz, sz, 2, kRW, &mapped).ok());
    EXPECT_EQ(mapped, 2 * sz);
    expect_mapped(iova, out + sz, sz);
    expect_mapped(iova + 2 * sz - K4, out + 3 * sz - K4, sz);
    IotlbGather g;
    tlb.pages.clear();
    EXPECT_EQ(pgt->unmap(iova, 2 * sz, &g), 2 * sz);
    ASSERT_EQ(tlb.pages.size(), 2u);
    EXPECT_EQ(tlb.pages[0].granule, sz);
    EXPECT_EQ(g.start, iova);
    EXPECT_EQ(g.end, iova + 2 * sz - 1);
    expect_unmapped(iova);
    expect_unmapped(iova + 2 * sz - K4);
    ASSERT_TRUE(pgt->free_gathered(g).ok());
  }
}

TEST_P(V7sMatrix, OverlapIsRejectedAndChangesNothing) {
  ASSERT_TRUE(pgt->map(M16, out, K64, kRW).ok());
  for (uint64_t sz : {K4, K64, M1, M16}) {
    size_t mapped = 7;
    auto s = pgt->map_pages(M16 & ~(sz - 1), out + M16, sz, 1, kRW, &mapped);
    ASSERT_FALSE(s.ok()) << sz;
    EXPECT_EQ(s.error().code, Errc::exist);
    EXPECT_EQ(mapped, 0u);
  }
  expect_mapped(M16, out, K64);
  expect_unmapped(M16 + K64);
}

TEST_P(V7sMatrix, MapRangeUsesTheLargestAlignedSizes) {
  // 16M + 1M + 64K + 4K, aligned to 16M.
  const uint64_t size = M16 + M1 + K64 + K4;
  auto r = pgt->map(2 * M16, out, size, kRW);
  ASSERT_TRUE(r.ok()) << r.error().str();
  EXPECT_EQ(*r, size);
  expect_mapped(2 * M16, out, M16);
  expect_mapped(3 * M16, out + M16, M1);
  expect_mapped(3 * M16 + M1, out + M16 + M1, K64);
  expect_mapped(3 * M16 + M1 + K64, out + M16 + M1 + K64, K4);
  expect_unmapped(3 * M16 + M1 + K64 + K4);
}

TEST_P(V7sMatrix, PartialUnmapSplitsSupersectionSectionAndLargePage) {
  // Read-only where permissions exist: the split entries keep the attributes.
  const int prot = GetParam().mtk ? kRW : IOMMU_READ;
  const bool w = GetParam().mtk;
  ASSERT_TRUE(pgt->map(M16, out, M16, prot).ok());
  const uint64_t hole = M16 + 5 * M1 + 3 * K64 + K4;
  IotlbGather g;
  tlb.pages.clear();
  EXPECT_EQ(pgt->unmap(hole, K4, &g), K4);
  ASSERT_EQ(tlb.pages.size(), 1u);
  EXPECT_EQ(tlb.pages[0].granule, K4);
  EXPECT_EQ(g.start, hole);
  EXPECT_EQ(g.end, hole + K4 - 1);
  expect_unmapped(hole);
  expect_mapped(M16, out, M1, w);                           // other sections stay sections
  expect_mapped(M16 + 5 * M1, out + 5 * M1, K4, w);         // the split section: small pages
  expect_mapped(hole - K4, out + (hole - M16) - K4, K4, w);
  expect_mapped(hole + K4, out + (hole - M16) + K4, K4, w);
  expect_mapped(2 * M16 - K4, out + M16 - K4, M1, w);
  ASSERT_TRUE(pgt->free_gathered(g).ok());
  // A large page partly unmapped: 16 small pages, one gone.
  ASSERT_TRUE(pgt->map(8 * M16, out, K64, prot).ok());
  EXPECT_EQ(pgt->unmap(8 * M16 + 2 * K4, K4, &g), K4);
  expect_unmapped(8 * M16 + 2 * K4);
  expect_mapped(8 * M16, out, K4, w);
  expect_mapped(8 * M16 + K64 - K4, out + K64 - K4, K4, w);
  ASSERT_TRUE(pgt->free_gathered(g).ok());
}

TEST_P(V7sMatrix, UnmapWholeMibOfATableGathersTheTable) {
  size_t mapped = 0;
  ASSERT_TRUE(pgt->map_pages(3 * M1, out, K4, 16, kRW, &mapped).ok());
  const uint64_t tables = pgt->table_pages();
  const uint64_t allocated = pages->stats().allocated_pages;
  IotlbGather g;
  EXPECT_EQ(pgt->unmap(3 * M1, M1, &g), M1);
  ASSERT_EQ(g.freelist.size(), 1u);
  expect_unmapped(3 * M1);
  // Not reused before the caller's sync.
  EXPECT_EQ(pages->stats().allocated_pages, allocated);
  ASSERT_TRUE(pgt->free_gathered(g).ok());
  EXPECT_EQ(pgt->table_pages(), tables - 1);
  EXPECT_EQ(pages->stats().allocated_pages, allocated - 1);
}

TEST_P(V7sMatrix, SectionOverAnEmptyTableReplacesIt) {
  ASSERT_TRUE(pgt->map(7 * M1, out, K4, kRW).ok());
  IotlbGather g;
  EXPECT_EQ(pgt->unmap(7 * M1, K4, &g), K4);  // the table stays, empty
  ASSERT_TRUE(pgt->free_gathered(g).ok());
  const uint64_t tables = pgt->table_pages();
  tlb.walks.clear();
  ASSERT_TRUE(pgt->map(7 * M1, out, M1, kRW).ok());
  EXPECT_EQ(tlb.walks.size(), 1u);
  EXPECT_EQ(pgt->table_pages(), tables - 1);
  expect_mapped(7 * M1 + K4, out + K4, M1);
}

TEST_P(V7sMatrix, LastPageHolesAndOutOfRange) {
  size_t mapped = 0;
  ASSERT_TRUE(pgt->map_pages(limit - K4, out, K4, 1, kRW, &mapped).ok());
  expect_mapped(limit - K4, out, K4);
  EXPECT_FALSE(pgt->map_pages(limit, out, K4, 1, kRW, &mapped).ok());
  EXPECT_FALSE(pgt->map_pages(limit - K4, out, K4, 2, kRW, &mapped).ok());
  auto r = pgt->iova_to_phys(limit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::range);
  EXPECT_EQ(walk(limit).fault, Fault::translation);
  // Unmap stops at the first hole.
  EXPECT_EQ(pgt->unmap(limit - 2 * K4, 2 * K4, nullptr), 0u);
  EXPECT_EQ(pgt->unmap(limit - K4, K4, nullptr), K4);
  EXPECT_EQ(pgt->unmap(limit, K4, nullptr), 0u);
}

TEST_P(V7sMatrix, BadArgumentsAreRejected) {
  size_t mapped = 0;
  EXPECT_EQ(pgt->map_pages(K4 / 2, out, K4, 1, kRW, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0, out + 1, K4, 1, kRW, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0, out, 8192, 1, kRW, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0, out, M1, 1, kRW, &mapped).ok(), (out & (M1 - 1)) == 0);
  EXPECT_EQ(pgt->map_pages(M16, uint64_t{1} << cfg.oas, K4, 1, kRW, &mapped).error().code, Errc::range);
  EXPECT_EQ(pgt->unmap(K4 / 2, K4, nullptr), 0u);
}

TEST_P(V7sMatrix, Permissions) {
  ASSERT_TRUE(pgt->map(M16, out, K4, IOMMU_READ).ok());
  ASSERT_TRUE(pgt->map(M16 + M1, out, M1, IOMMU_READ).ok());
  // MediaTek has no permission bits: everything is read/write.
  EXPECT_EQ(walk(M16, Access::write).ok(), GetParam().mtk);
  EXPECT_EQ(walk(M16 + M1, Access::write).ok(), GetParam().mtk);
  EXPECT_TRUE(walk(M16).ok());
  // Neither read nor write: nothing is mapped (Linux).
  size_t mapped = 0;
  EXPECT_TRUE(pgt->map_pages(2 * M16, out, K4, 1, 0, &mapped).ok());
  expect_unmapped(2 * M16);
}

TEST_P(V7sMatrix, UnmapWithoutGatherFlushesAndFrees) {
  ASSERT_TRUE(pgt->map(M16, out, 2 * K4, kRW).ok());
  const uint64_t allocated = pages->stats().allocated_pages;
  const int flushes = tlb.flush_all;
  // The whole MiB: the level-1 entry goes with its table (as Linux).
  EXPECT_EQ(pgt->unmap(M16, M1, nullptr), M1);
  EXPECT_EQ(tlb.flush_all, flushes + 1);
  expect_unmapped(M16);
  EXPECT_EQ(pages->stats().allocated_pages, allocated - 1);
}

TEST_P(V7sMatrix, RandomMappingsAgreeWithHardwareWalk) {
  std::mt19937_64 rng(1234 + cfg.ias);
  struct M {
    uint64_t iova, pa, size;
  };
  std::vector<M> maps;
  const uint64_t sizes[] = {K4, K64, M1, M16};
  for (int i = 0; i < 300; ++i) {
    const uint64_t sz = sizes[rng() % 4];
    const uint64_t iova = (rng() % (limit / sz)) * sz;
    const uint64_t pa = ((rng() % ((uint64_t{1} << cfg.oas) / sz)) * sz);
    size_t mapped = 0;
    if (pgt->map_pages(iova, pa, sz, 1, kRW, &mapped).ok()) maps.push_back({iova, pa, sz});
  }
  ASSERT_GT(maps.size(), 100u);
  for (const auto& m : maps) {
    const uint64_t off = (rng() % (m.size / K4)) * K4 + 8;
    expect_mapped(m.iova + off, m.pa + off, m.size);
  }
  for (const auto& m : maps) EXPECT_EQ(pgt->unmap(m.iova, m.size, nullptr), m.size);
  for (const auto& m : maps) expect_unmapped(m.iova);
}

TEST_P(V7sMatrix, DestructionFreesEveryTable) {
  ASSERT_TRUE(pgt->map(0, out, 16 * K4, kRW).ok());
  ASSERT_TRUE(pgt->map(limit - M1, out, 16 * K4, kRW).ok());
  ASSERT_TRUE(pgt->map(M16, out, M1, kRW).ok());
  const int flushes = tlb.flush_all;
  pgt.reset();
  EXPECT_EQ(tlb.flush_all, flushes + 1);
  EXPECT_EQ(pages->stats().allocated_pages, 0u);
}

INSTANTIATE_TEST_SUITE_P(Matrix, V7sMatrix,
                         ::testing::Values(V7sParam{false, 32, 32}, V7sParam{true, 32, 32}, V7sParam{true, 32, 35},
                                           V7sParam{true, 34, 35}),
                         v7s_name);

TEST(V7sCfg, RejectsWhatLinuxRejects) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRamBase, kRamSize).ok());
  auto pages = mm::PageAllocator::create(mem, kRamBase, kTableMem);
  ASSERT_TRUE(pages.ok());
  IoPgtableCfg c;
  c.fmt = PgtableFormat::arm_v7s;
  c.ias = 34;
  c.oas = 32;
  EXPECT_EQ(IoPgtable::alloc(c, mem, **pages).error().code, Errc::inval);  // 34 bits only with MTK
  c.ias = 32;
  c.oas = 35;
  EXPECT_EQ(IoPgtable::alloc(c, mem, **pages).error().code, Errc::inval);  // 35 bits only with MTK
  c.quirks = kQuirkArmMtkExt;
  EXPECT_EQ(IoPgtable::alloc(c, mem, **pages).error().code, Errc::inval);  // MTK needs no-perms
  c.quirks |= kQuirkNoPerms;
  EXPECT_TRUE(IoPgtable::alloc(c, mem, **pages).ok());
  EXPECT_STREQ(format_name(PgtableFormat::arm_v7s), "arm-v7s");
}

TEST(V7sMtk, PaBitsRoundTrip) {
  for (uint64_t pa : {0x1'0000'0000ull, 0x2'0000'0000ull, 0x4'0000'0000ull, 0x7'0000'0000ull, 0x0ull}) {
    EXPECT_EQ(arm_v7s::mtk_pa_of(arm_v7s::mtk_pa_bits(pa)), pa & 0x7'0000'0000ull);
  }
  EXPECT_EQ(arm_v7s::mtk_pa_bits(0x1'0000'0000ull), 1u << 9);
  EXPECT_EQ(arm_v7s::mtk_pa_bits(0x2'0000'0000ull), 1u << 4);
  EXPECT_EQ(arm_v7s::mtk_pa_bits(0x4'0000'0000ull), 1u << 5);
}

}  // namespace
}  // namespace modiommu::iommu::test
