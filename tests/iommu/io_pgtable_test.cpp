// The io-pgtable matrix: format x granule x input size. Every mapping is
// checked twice, by io-pgtable's own iova_to_phys and by the hardware walker
// reading the tables from emulated RAM.
#include "iommu/io_pgtable.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <bit>
#include <map>
#include <random>

#include "iommu/io_pgtable_arm.h"
#include "pgtable_fixture.h"

namespace modiommu::iommu::test {
namespace {

using hw::arm::Access;
using Fault = hw::arm::WalkResult::Fault;

struct Param {
  PgtableFormat fmt;
  Granule granule;
  unsigned ias;
  unsigned oas = 48;
};

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const Param& p = info.param;
  return fmt::format("{}_{}K_ias{}", p.fmt == PgtableFormat::arm_lpae_s1 ? "s1" : "s2",
                     granule_bytes(p.granule) >> 10, p.ias) +
         (p.oas != 48 ? fmt::format("_oas{}", p.oas) : "");
}

std::vector<Param> matrix() {
  std::vector<Param> out;
  for (auto fmt : {PgtableFormat::arm_lpae_s1, PgtableFormat::arm_lpae_s2}) {
    for (unsigned ias : {32u, 36u, 39u, 40u, 42u, 48u}) out.push_back({fmt, Granule::k4K, ias});
    for (unsigned ias : {32u, 36u, 40u, 42u, 47u, 48u}) out.push_back({fmt, Granule::k16K, ias});
    for (unsigned ias : {32u, 36u, 40u, 42u, 48u}) out.push_back({fmt, Granule::k64K, ias});
  }
  // Linux ARM_32_LPAE_S1 as ipmmu-vmsa uses it: 32-bit IOVA, 40-bit output.
  out.push_back({PgtableFormat::arm_lpae_s1, Granule::k4K, 32, 40});
  return out;
}

class IoPgtableMatrix : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRamBase, kRamSize).ok());
    auto pa = mm::PageAllocator::create(mem, kRamBase, kTableMem);
    ASSERT_TRUE(pa.ok()) << pa.error().str();
    pages = std::move(pa).value();
    cfg.fmt = GetParam().fmt;
    cfg.granule = GetParam().granule;
    cfg.ias = GetParam().ias;
    cfg.oas = GetParam().oas;
    cfg.tlb = &tlb;
    auto pt = IoPgtable::alloc(cfg, mem, *pages);
    ASSERT_TRUE(pt.ok()) << pt.error().str();
    pgt = std::move(pt).value();
    wcfg = walk_config(*pgt);
    pg = granule_bytes(cfg.granule);
    limit = uint64_t{1} << cfg.ias;
  }
  bool s1() const { return cfg.fmt == PgtableFormat::arm_lpae_s1; }
  // Block sizes the granule supports above the page size.
  std::vector<uint64_t> block_sizes() const {
    std::vector<uint64_t> out;
    for (unsigned b = 0; b < 64; ++b)
      if (((pgt->pgsize_bitmap() >> b) & 1) && (uint64_t{1} << b) > pg) out.push_back(uint64_t{1} << b);
    return out;
  }
  hw::arm::WalkResult hw_walk(uint64_t iova, Access a = Access::read) const { return hw::arm::walk(mem, wcfg, iova, a); }

  // Both views agree that iova -> pa through a leaf of `leaf` bytes.
  void expect_mapped(uint64_t iova, PhysAddr pa, uint64_t leaf, bool writable = true) {
    SCOPED_TRACE(fmt::format("iova {:#x}", iova));
    auto r = pgt->iova_to_phys(iova);
    ASSERT_TRUE(r.ok()) << r.error().str();
    EXPECT_EQ(*r, pa);
    const auto w = hw_walk(iova);
    ASSERT_TRUE(w.ok()) << walk_str(w);
    EXPECT_EQ(w.pa, pa);
    EXPECT_EQ(w.block_size, leaf);
    EXPECT_TRUE(w.readable);
    EXPECT_EQ(w.writable, writable);
    const auto ww = hw_walk(iova, Access::write);
    EXPECT_EQ(ww.ok(), writable) << walk_str(ww);
  }
  void expect_unmapped(uint64_t iova) {
    SCOPED_TRACE(fmt::format("iova {:#x}", iova));
    auto r = pgt->iova_to_phys(iova);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::noent);
    const auto w = hw_walk(iova);
    EXPECT_EQ(w.fault, Fault::translation) << walk_str(w);
  }

  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  RecordingFlushOps tlb;
  IoPgtableCfg cfg;
  std::unique_ptr<IoPgtable> pgt;
  hw::arm::WalkConfig wcfg;
  uint64_t pg = 0;
  uint64_t limit = 0;
  static constexpr int kRW = IOMMU_READ | IOMMU_WRITE;
  static constexpr PhysAddr kOut = 0x12'0000'0000;  // an output address well inside 48 bits
};

TEST_P(IoPgtableMatrix, RegisterFieldsMatchGeometry) {
  const unsigned tg = cfg.granule == Granule::k4K ? 0 : cfg.granule == Granule::k64K ? 1 : 2;
  const unsigned ips = cfg.oas == 40 ? 2u : 5u;  // TCR.IPS: 40 or 48 bits
  if (s1()) {
    const auto& c = pgt->cfg().arm_lpae_s1_cfg;
    EXPECT_EQ(c.tcr.tsz, 64 - cfg.ias);
    EXPECT_EQ(c.tcr.tg, tg);
    EXPECT_EQ(c.tcr.ips, ips);
    EXPECT_EQ(c.tcr.sh, 3u);   // coherent: inner shareable
    EXPECT_EQ(c.tcr.irgn, 1u);
    EXPECT_EQ(pgt->tcr() & 0x3f, 64u - cfg.ias);
    EXPECT_EQ((pgt->tcr() >> 14) & 3, tg);
    EXPECT_EQ((pgt->tcr() >> 32) & 7, ips);
    EXPECT_EQ(pgt->mair() & 0xffffff, 0x04ff44u);
    EXPECT_EQ(pgt->cfg().start_level, hw::arm::s1_start_level(hw_granule(cfg.granule), cfg.ias));
  } else {
    const auto& c = pgt->cfg().arm_lpae_s2_cfg;
    EXPECT_EQ(c.vtcr.tsz, 64 - cfg.ias);
    EXPECT_EQ(c.vtcr.tg, tg);
    EXPECT_EQ(c.vtcr.ps, 5u);
    EXPECT_EQ((pgt->vtcr() >> 6) & 3, c.vtcr.sl);
    EXPECT_EQ((pgt->vtcr() >> 16) & 7, 5u);
    // SL0 decoded by the hardware side gives back our start level.
    EXPECT_EQ(hw::arm::s2_start_level(hw_granule(cfg.granule), c.vtcr.sl), pgt->cfg().start_level);
  }
  EXPECT_EQ(pgt->ttbr() % 64, 0u);
  EXPECT_TRUE(pages->owns(pgt->ttbr()));
  EXPECT_EQ(pgt->pgsize_bitmap() & pg, pg);
  EXPECT_GE(pgt->table_pages(), 1u);
}

TEST_P(IoPgtableMatrix, MapPagesIovaToPhysUnmap) {
  const std::vector<uint64_t> iovas = {0, 5 * pg, (limit >> 1) + 3 * pg, limit - 2 * pg};
  for (size_t i = 0; i < iovas.size(); ++i) {
    size_t mapped = 0;
    auto s = pgt->map_pages(iovas[i], kOut + i * 7 * pg, pg, 1, kRW, &mapped);
    ASSERT_TRUE(s.ok()) << s.error().str();
    EXPECT_EQ(mapped, pg);
  }
  for (size_t i = 0; i < iovas.size(); ++i) {
    expect_mapped(iovas[i], kOut + i * 7 * pg, pg);
    expect_mapped(iovas[i] + pg - 8, kOut + i * 7 * pg + pg - 8, pg);
    expect_unmapped(iovas[i] + pg);
  }
  for (size_t i = 0; i < iovas.size(); ++i) {
    IotlbGather g;
    tlb.pages.clear();
    EXPECT_EQ(pgt->unmap(iovas[i], pg, &g), pg);
    ASSERT_EQ(tlb.pages.size(), 1u);
    EXPECT_EQ(tlb.pages[0].iova, iovas[i]);
    EXPECT_EQ(tlb.pages[0].granule, pg);
    EXPECT_EQ(g.start, iovas[i]);
    EXPECT_EQ(g.end, iovas[i] + pg - 1);
    EXPECT_TRUE(g.freelist.empty()) << "a page unmap frees no table";
    expect_unmapped(iovas[i]);
  }
  // Nothing left to unmap there.
  IotlbGather g;
  EXPECT_EQ(pgt->unmap(iovas[0], pg, &g), 0u);
}

TEST_P(IoPgtableMatrix, OverlapIsRejectedAndChangesNothing) {
  const uint64_t base = 64 * pg;
  ASSERT_TRUE(pgt->map(base, kOut, 4 * pg, kRW).ok());
  const uint64_t tables = pgt->table_pages();
  const auto before = pages->stats();
  // Overlapping the front, the back, all of it, and by map_pages.
  for (uint64_t start : {base - 2 * pg, base + 3 * pg, base - pg}) {
    auto r = pgt->map(start, kOut + 0x100000000, 6 * pg, kRW);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::exist) << r.error().str();
  }
  size_t mapped = 99;
  auto s = pgt->map_pages(base - pg, kOut, pg, 3, kRW, &mapped);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::exist);
  EXPECT_EQ(mapped, 0u);
  // The non-overlapping parts of the refused requests were not mapped.
  expect_unmapped(base - 2 * pg);
  expect_unmapped(base - pg);
  expect_unmapped(base + 4 * pg);
  for (int i = 0; i < 4; ++i) expect_mapped(base + i * pg, kOut + i * pg, pg);
  EXPECT_EQ(pgt->table_pages(), tables);
  EXPECT_EQ(pages->stats().allocated_pages, before.allocated_pages);
  // A block over the existing pages is refused as well.
  for (uint64_t b : block_sizes()) {
    if (2 * b > limit) continue;
    auto r = pgt->map(0, kOut, b, kRW);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::exist);
  }
}

TEST_P(IoPgtableMatrix, BlockMapAndRemap) {
  for (uint64_t b : block_sizes()) {
    if (4 * b > limit) continue;
    SCOPED_TRACE(fmt::format("block {:#x}", b));
    const uint64_t iova = 2 * b;
    auto r = pgt->map(iova, kOut, b, kRW);
    ASSERT_TRUE(r.ok()) << r.error().str();
    EXPECT_EQ(*r, b);
    expect_mapped(iova, kOut, b);
    expect_mapped(iova + b - pg, kOut + b - pg, b);
    expect_unmapped(iova + b);
    // Unmap the whole block: one leaf, one gathered page of block size.
    IotlbGather g;
    tlb.pages.clear();
    EXPECT_EQ(pgt->unmap(iova, b, &g), b);
    ASSERT_EQ(tlb.pages.size(), 1u);
    EXPECT_EQ(tlb.pages[0].granule, b);
    EXPECT_EQ(g.pgsize, b);
    expect_unmapped(iova);
    // Remap the same range with pages first, unmap, then a block again: the
    // empty table is replaced by the block.
    size_t mapped = 0;
    ASSERT_TRUE(pgt->map_pages(iova, kOut, pg, 2, kRW, &mapped).ok());
    EXPECT_EQ(pgt->unmap(iova, 2 * pg, &g), 2 * pg);
    ASSERT_TRUE(pgt->free_gathered(g).ok());
    const auto walks = tlb.walks.size();
    ASSERT_TRUE(pgt->map_pages(iova, kOut + b, b, 1, IOMMU_READ, &mapped).ok());
    EXPECT_EQ(mapped, b);
    expect_mapped(iova + pg, kOut + b + pg, b, /*writable=*/false);
    EXPECT_GT(tlb.walks.size(), walks) << "replacing a table must flush walks";
    EXPECT_EQ(pgt->unmap(iova, b, &g), b);
  }
}

TEST_P(IoPgtableMatrix, MapRangeUsesBlocksWhereAligned) {
  auto bs = block_sizes();
  ASSERT_FALSE(bs.empty());
  const uint64_t b = bs.front();
  ASSERT_LE(4 * b, limit);
  // [b - pg, 2b + pg): a page, then a block, then a page.
  const uint64_t iova = b - pg;
  auto r = pgt->map(iova, kOut + b - pg, b + 2 * pg, kRW);
  ASSERT_TRUE(r.ok()) << r.error().str();
  expect_mapped(iova, kOut + b - pg, pg);
  expect_mapped(b, kOut + b, b);
  expect_mapped(2 * b - 8, kOut + 2 * b - 8, b);
  expect_mapped(2 * b, kOut + 2 * b, pg);
  expect_unmapped(2 * b + pg);
  // Misaligned output (offset by one page): only pages can be used.
  auto r2 = pgt->map(3 * b, kOut + pg, b, kRW);
  ASSERT_TRUE(r2.ok());
  expect_mapped(3 * b + b / 2, kOut + pg + b / 2, pg);
}

TEST_P(IoPgtableMatrix, PartialUnmapSplitsBlock) {
  for (uint64_t b : block_sizes()) {
    if (4 * b > limit) continue;
    SCOPED_TRACE(fmt::format("block {:#x}", b));
    const uint64_t iova = b;
    // Read-only, so the split tables must carry the block's attributes.
    ASSERT_TRUE(pgt->map(iova, kOut, b, IOMMU_READ).ok());
    const uint64_t hole = iova + b / 2 + pg;
    IotlbGather g;
    tlb.pages.clear();
    EXPECT_EQ(pgt->unmap(hole, pg, &g), pg);
    EXPECT_EQ(g.start, hole);
    EXPECT_EQ(g.end, hole + pg - 1);
    ASSERT_EQ(tlb.pages.size(), 1u);
    EXPECT_EQ(tlb.pages[0].granule, pg);
    expect_unmapped(hole);
    // The rest still translates. Sub-blocks the hole only partly covers are
    // split down to pages; the others keep the next level's block size.
    std::vector<std::pair<uint64_t, uint64_t>> holes = {{hole - iova, pg}};
    const uint64_t sub = b >> (std::countr_zero(pg) - 3);  // one level down
    auto leaf_at = [&](uint64_t off) {
      if (sub == pg) return pg;
      const uint64_t sb = off / sub * sub;
      for (auto [hs, hn] : holes)
        if (hs < sb + sub && sb < hs + hn && !(hs <= sb && hs + hn >= sb + sub)) return pg;
      return sub;
    };
    for (uint64_t off : {uint64_t{0}, b / 2, b / 2 + 2 * pg, b - pg}) expect_mapped(iova + off, kOut + off, leaf_at(off), false);
    // Unmap a second, larger range crossing sub-block boundaries.
    const uint64_t s2 = iova + pg, n2 = (b >> 3) + 3 * pg;
    holes.push_back({pg, n2});
    tlb.pages.clear();
    EXPECT_EQ(pgt->unmap(s2, n2, &g), n2);
    expect_unmapped(s2);
    expect_unmapped(s2 + n2 - pg);
    expect_mapped(iova, kOut, leaf_at(0), false);
    expect_mapped(s2 + n2, kOut + pg + n2, leaf_at(pg + n2), false);
    expect_mapped(iova + b - pg, kOut + b - pg, leaf_at(b - pg), false);
    uint64_t removed = 0;
    for (auto& p : tlb.pages) removed += p.size;
    EXPECT_EQ(removed, n2) << "every unmapped byte is gathered once";
    // Tear the rest down: the entry for the whole block span goes at once,
    // holes inside it or not (as Linux), and its tables are gathered.
    g.freelist.clear();
    EXPECT_EQ(pgt->unmap(iova, b, &g), b);
    EXPECT_FALSE(g.freelist.empty());
    expect_unmapped(iova + b - pg);
    ASSERT_TRUE(pgt->free_gathered(g).ok());
  }
}

TEST_P(IoPgtableMatrix, UnmapWholeTableSpanGathersTables) {
  auto bs = block_sizes();
  const uint64_t b = bs.front();  // the span of one last-level table
  ASSERT_LE(4 * b, limit);
  const uint64_t iova = 2 * b;
  size_t mapped = 0;
  ASSERT_TRUE(pgt->map_pages(iova, kOut, pg, b / pg, kRW, &mapped).ok());
  ASSERT_EQ(mapped, b);
  expect_mapped(iova + b - pg, kOut + b - pg, pg);
  const uint64_t tables = pgt->table_pages();
  const uint64_t allocated = pages->stats().allocated_pages;
  IotlbGather g;
  tlb.pages.clear();
  tlb.walks.clear();
  EXPECT_EQ(pgt->unmap(iova, b, &g), b);
  ASSERT_EQ(tlb.walks.size(), 1u);
  EXPECT_EQ(tlb.walks[0].iova, iova);
  EXPECT_EQ(tlb.walks[0].size, b);
  EXPECT_EQ(tlb.walks[0].granule, pg);
  EXPECT_TRUE(tlb.pages.empty());
  ASSERT_EQ(g.freelist.size(), 1u);
  expect_unmapped(iova);
  // Not reused before the caller's sync: still allocated.
  EXPECT_EQ(pgt->table_pages(), tables);
  EXPECT_EQ(pages->stats().allocated_pages, allocated);
  ASSERT_TRUE(pgt->free_gathered(g).ok());
  EXPECT_TRUE(g.freelist.empty());
  const uint64_t table_pgs = pg >> mm::kPageShift;
  EXPECT_EQ(pgt->table_pages(), tables - table_pgs);
  EXPECT_EQ(pages->stats().allocated_pages, allocated - table_pgs);
}

TEST_P(IoPgtableMatrix, LastPageAndOutOfRange) {
  size_t mapped = 0;
  ASSERT_TRUE(pgt->map_pages(limit - pg, kOut, pg, 1, kRW, &mapped).ok());
  expect_mapped(limit - 8, kOut + pg - 8, pg);
  auto r = pgt->map(limit, kOut, pg, kRW);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::range);
  EXPECT_NE(r.error().message.find(fmt::format("{}-bit", cfg.ias)), std::string::npos) << r.error().message;
  auto s = pgt->map_pages(limit - 2 * pg, kOut, pg, 3, kRW, &mapped);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::range);
  expect_unmapped(limit - 2 * pg);
  EXPECT_EQ(pgt->iova_to_phys(limit).error().code, Errc::range);
  EXPECT_EQ(pgt->iova_to_phys(~uint64_t{0}).error().code, Errc::range);
  EXPECT_EQ(hw_walk(limit).fault, Fault::translation);
  IotlbGather g;
  EXPECT_EQ(pgt->unmap(limit, pg, &g), 0u);
  EXPECT_EQ(pgt->unmap(limit - pg, 2 * pg, &g), 0u);
  // Output beyond the 48-bit output size.
  EXPECT_EQ(pgt->map(0, uint64_t{1} << 48, pg, kRW).error().code, Errc::range);
  EXPECT_EQ(pgt->unmap(limit - pg, pg, &g), pg);
}

TEST_P(IoPgtableMatrix, BadArgumentsAreRejected) {
  size_t mapped = 0;
  EXPECT_EQ(pgt->map_pages(0, kOut, pg, 1, 0, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0, kOut, 3 * pg, 1, kRW, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0, kOut, pg << 1, 1, kRW, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(pg / 2, kOut, pg, 1, kRW, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0, kOut + 8, pg, 1, kRW, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0, kOut, pg, 0, kRW, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0, kOut, pg, ~size_t{0}, kRW, &mapped).error().code, Errc::range);
  EXPECT_EQ(pgt->map(0, kOut, 0, kRW).error().code, Errc::inval);
  EXPECT_EQ(pgt->map(0, kOut, pg + 8, kRW).error().code, Errc::inval);
  IotlbGather g;
  EXPECT_EQ(pgt->unmap(0, pg / 2, &g), 0u);
  EXPECT_EQ(pgt->unmap(8, pg, &g), 0u);
  expect_unmapped(0);
}

TEST_P(IoPgtableMatrix, Permissions) {
  size_t mapped = 0;
  ASSERT_TRUE(pgt->map_pages(0, kOut, pg, 1, IOMMU_READ, &mapped).ok());
  expect_mapped(0, kOut, pg, /*writable=*/false);
  EXPECT_EQ(hw_walk(0, Access::write).fault, Fault::permission);
  ASSERT_TRUE(pgt->map_pages(pg, kOut, pg, 1, IOMMU_WRITE, &mapped).ok());
  const auto w = hw_walk(pg, Access::write);
  ASSERT_TRUE(w.ok()) << walk_str(w);
  // Stage 1 cannot express write-only (AP has no such encoding, D8.4.1):
  // it becomes read-write. Stage 2 S2AP can.
  EXPECT_EQ(hw_walk(pg, Access::read).ok(), s1());
  // Attributes land in the descriptor fields the hardware decodes.
  ASSERT_TRUE(pgt->map_pages(2 * pg, kOut, pg, 1, IOMMU_READ | IOMMU_MMIO | IOMMU_NOEXEC, &mapped).ok());
  ASSERT_TRUE(pgt->map_pages(3 * pg, kOut, pg, 1, IOMMU_READ | IOMMU_CACHE, &mapped).ok());
  EXPECT_TRUE(hw_walk(2 * pg).ok());
  EXPECT_TRUE(hw_walk(3 * pg).ok());
}

TEST_P(IoPgtableMatrix, FailedMapRollsBack) {
  auto bs = block_sizes();
  const uint64_t b = bs.front();
  ASSERT_LE(4 * b, limit);
  // Pages spanning two last-level tables; the second table allocation fails.
  const uint64_t iova = 2 * b - 4 * pg;
  // Tables below the top one for the first half, then the second half's
  // last-level table: that allocation fails, after 4 pages were mapped.
  pages->fail_nth(pgt->cfg().levels);
  auto r = pgt->map(iova, kOut + pg, 8 * pg, kRW);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::nomem);
  for (int i = 0; i < 8; ++i) expect_unmapped(iova + i * pg);
  // And the same map succeeds once memory is there again.
  pages->clear_fault_injection();
  ASSERT_TRUE(pgt->map(iova, kOut + pg, 8 * pg, kRW).ok());
  for (int i = 0; i < 8; ++i) expect_mapped(iova + i * pg, kOut + pg + i * pg, pg);
}

TEST_P(IoPgtableMatrix, UnmapWithoutGatherFlushesAndFrees) {
  auto bs = block_sizes();
  const uint64_t b = bs.front();
  ASSERT_LE(4 * b, limit);
  size_t mapped = 0;
  const uint64_t tables0 = pgt->table_pages();
  ASSERT_TRUE(pgt->map_pages(b, kOut, pg, b / pg, kRW, &mapped).ok());
  const uint64_t tables1 = pgt->table_pages();
  EXPECT_GT(tables1, tables0);
  const int flushes = tlb.flush_all;
  EXPECT_EQ(pgt->unmap(b, b, nullptr), b);
  EXPECT_EQ(tlb.flush_all, flushes + 1);
  // The last-level table went back at once (upper ones stay, as in Linux).
  EXPECT_EQ(pgt->table_pages(), tables1 - (pg >> mm::kPageShift));
  expect_unmapped(b);
}

TEST_P(IoPgtableMatrix, RandomMappingsAgreeWithHardwareWalk) {
  std::mt19937_64 rng(GetParam().ias * 131 + static_cast<unsigned>(cfg.granule) * 7 + (s1() ? 0 : 1));
  std::map<uint64_t, std::pair<PhysAddr, uint64_t>> ref;  // iova -> (pa, size)
  const uint64_t slots = std::min<uint64_t>(limit / pg, uint64_t{1} << 20);
  for (int i = 0; i < 60; ++i) {
    const uint64_t npg = 1 + rng() % 8;
    const uint64_t iova = (rng() % (slots - npg)) * pg * (limit / pg / slots);
    const PhysAddr pa = (rng() % (uint64_t{1} << 24)) * pg;
    auto r = pgt->map(iova, pa, npg * pg, kRW);
    bool overlaps = false;
    for (auto& [v, m] : ref)
      if (v < iova + npg * pg && iova < v + m.second) overlaps = true;
    if (overlaps) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, Errc::exist);
    } else {
      ASSERT_TRUE(r.ok()) << r.error().str();
      ref[iova] = {pa, npg * pg};
    }
  }
  for (auto& [v, m] : ref) {
    for (uint64_t off = 0; off < m.second; off += pg) expect_mapped(v + off + 16, m.first + off + 16, pg);
    const uint64_t after = v + m.second;
    bool covered = after >= limit;
    for (auto& [v2, m2] : ref)
      if (v2 <= after && after < v2 + m2.second) covered = true;
    if (!covered) expect_unmapped(after);
  }
  // Unmap half of them; the rest must be untouched.
  IotlbGather g;
  int k = 0;
  for (auto it = ref.begin(); it != ref.end(); ++k) {
    if (k % 2) {
      ++it;
      continue;
    }
    EXPECT_EQ(pgt->unmap(it->first, it->second.second, &g), it->second.second);
    expect_unmapped(it->first);
    it = ref.erase(it);
  }
  ASSERT_TRUE(pgt->free_gathered(g).ok());
  for (auto& [v, m] : ref) expect_mapped(v, m.first, pg);
}

TEST_P(IoPgtableMatrix, DestructionFreesEveryTable) {
  const uint64_t before = pages->stats().allocated_pages;
  EXPECT_GT(before, 0u);
  ASSERT_TRUE(pgt->map(0, kOut, 16 * pg, kRW).ok());
  ASSERT_TRUE(pgt->map(limit - 16 * pg, kOut, 16 * pg, kRW).ok());
  const int flushes = tlb.flush_all;
  pgt.reset();
  EXPECT_EQ(tlb.flush_all, flushes + 1);
  EXPECT_EQ(pages->stats().allocated_pages, 0u);
}

INSTANTIATE_TEST_SUITE_P(Matrix, IoPgtableMatrix, ::testing::ValuesIn(matrix()), param_name);

TEST(IoPgtableCfg, RejectsUnsupportedSizes) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRamBase, 16 << 20).ok());
  auto pages = std::move(mm::PageAllocator::create(mem, kRamBase, 16 << 20)).value();
  IoPgtableCfg cfg;
  for (unsigned ias : {0u, 31u, 49u, 64u}) {
    cfg.ias = ias;
    auto r = IoPgtable::alloc(cfg, mem, *pages);
    ASSERT_FALSE(r.ok()) << ias;
    EXPECT_EQ(r.error().code, Errc::inval);
    EXPECT_NE(r.error().message.find("input size"), std::string::npos);
  }
  cfg.ias = 40;
  for (unsigned oas : {0u, 33u, 41u, 52u}) {
    cfg.oas = oas;
    auto r = IoPgtable::alloc(cfg, mem, *pages);
    ASSERT_FALSE(r.ok()) << oas;
    EXPECT_NE(r.error().message.find("output size"), std::string::npos);
  }
  EXPECT_EQ(pages->stats().allocated_pages, 0u) << "a refused config allocates nothing";
}

TEST(IoPgtableCfg, TopTableAllocationFailureIsEnomem) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRamBase, 16 << 20).ok());
  auto pages = std::move(mm::PageAllocator::create(mem, kRamBase, 16 << 20)).value();
  pages->fail_nth(1);
  auto r = IoPgtable::alloc(IoPgtableCfg{}, mem, *pages);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::nomem);
}

// RAM from PA 0 (hip07-d05): the root table lands at PA 0, translates, and
// is freed with the rest (a root at 0 once read as "no root" and leaked).
TEST(IoPgtableRam0, RootTableAtPa0WorksAndIsFreed) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(0, 16 << 20).ok());
  auto pages = std::move(mm::PageAllocator::create(mem, 0, 16 << 20)).value();
  IoPgtableCfg cfg;
  auto pt = IoPgtable::alloc(cfg, mem, *pages);
  ASSERT_TRUE(pt.ok()) << pt.error().str();
  EXPECT_EQ((*pt)->ttbr(), 0u);
  ASSERT_TRUE((*pt)->map(0x10000, 0x200000, 0x1000, IOMMU_READ | IOMMU_WRITE).ok());
  auto pa = (*pt)->iova_to_phys(0x10123);
  ASSERT_TRUE(pa.ok()) << pa.error().str();
  EXPECT_EQ(*pa, 0x200123u);
  (*pt).reset();
  EXPECT_TRUE(pages->is_free(0));
  EXPECT_EQ(pages->stats().allocated_pages, 0u);
}

// A descriptor corrupted in RAM (say by a stray DMA write) that points at
// a page io-pgtable does not own must never make it free that page.
TEST(IoPgtableHostile, CorruptTablePointerNeverFreesForeignPages) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRamBase, 16 << 20).ok());
  auto pages = std::move(mm::PageAllocator::create(mem, kRamBase, 16 << 20)).value();
  const PhysAddr foreign = pages->alloc_pages(0).value();  // someone else's page
  IoPgtableCfg cfg;
  cfg.ias = 48;
  auto pgt = std::move(IoPgtable::alloc(cfg, mem, *pages)).value();
  // Top-level entry 1 (iova 512 GiB) now claims `foreign` is a table.
  ASSERT_TRUE(mem.write64(pgt->ttbr() + 8, foreign | arm_lpae::kTypeTable | arm_lpae::kValid).ok());
  const uint64_t span = uint64_t{1} << 39;
  // Writes are refused rather than redirected into the foreign page.
  auto r = pgt->map(span, 0x1000, 0x1000, IOMMU_READ);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::io) << r.error().str();
  IotlbGather g;
  EXPECT_EQ(pgt->unmap(span + 0x1000, 0x1000, &g), 0u);
  EXPECT_TRUE(g.empty());
  std::vector<uint8_t> page(4096);
  ASSERT_TRUE(mem.read(foreign, page.data(), page.size()).ok());
  EXPECT_EQ(std::count(page.begin(), page.end(), 0), 4096) << "foreign page written";
  EXPECT_EQ(pgt->unmap(span, span, &g), span);  // the entry itself is cleared
  EXPECT_TRUE(g.freelist.empty()) << "a foreign page was gathered";
  ASSERT_TRUE(pgt->free_gathered(g).ok());
  ASSERT_TRUE(mem.write64(pgt->ttbr() + 16, foreign | arm_lpae::kTypeTable | arm_lpae::kValid).ok());
  pgt.reset();
  EXPECT_EQ(pages->stats().allocated_pages, 1u);
  EXPECT_TRUE(pages->free_pages(foreign, 0).ok()) << "the foreign page must still be allocated";
}

TEST(IoPgtableGeometry, Stage2ConcatenatesStartTables) {
  // 4K, 40-bit IPA: level 0 would hold 2 entries, so stage 2 starts at
  // level 1 with two concatenated tables (DDI 0487 D8.2.7), stage 1 does not.
  auto s2 = arm_lpae::geometry(PgtableFormat::arm_lpae_s2, Granule::k4K, 40);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->start_level, 1u);
  EXPECT_EQ(s2->pgd_bits, 10u);
  auto s1 = arm_lpae::geometry(PgtableFormat::arm_lpae_s1, Granule::k4K, 40);
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->start_level, 0u);
  EXPECT_EQ(s1->pgd_bits, 1u);
  // 16K, 48-bit: stage 2 cannot start at level 0; concatenates 2 tables.
  auto s2_16 = arm_lpae::geometry(PgtableFormat::arm_lpae_s2, Granule::k16K, 48);
  ASSERT_TRUE(s2_16.ok());
  EXPECT_EQ(s2_16->start_level, 1u);
  EXPECT_EQ(s2_16->pgd_bits, 12u);
  // 64K, 42-bit: two levels.
  auto g64 = arm_lpae::geometry(PgtableFormat::arm_lpae_s1, Granule::k64K, 42);
  ASSERT_TRUE(g64.ok());
  EXPECT_EQ(g64->start_level, 2u);
  EXPECT_EQ(g64->pgd_bits, 13u);
}

}  // namespace
}  // namespace modiommu::iommu::test
