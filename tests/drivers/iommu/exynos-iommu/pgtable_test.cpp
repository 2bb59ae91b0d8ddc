// The Exynos io-pgtable matrix: format (v1 32-bit / v5 36-bit) x page size
// x offset, each mapping checked by iova_to_phys and by the SysMMU model
// walking the tables in RAM; unaligned and partial unmaps, errors, the
// lv2 entry counters and the FLPD-cache flush Linux needs.
#include "drivers/iommu/exynos-iommu/pgtable.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <memory>

#include "hw/exynos/sysmmu.h"
#include "hw/memory.h"
#include "mm/page_alloc.h"

namespace modiommu::exynos_iommu {
namespace {

namespace hx = hw::exynos;
constexpr uint64_t kRam = 0x40000000, kRamSize = 64ull << 20;
constexpr uint64_t kPa = kRam + (32ull << 20);  // mapping targets, above the tables
constexpr int kRW = iommu::IOMMU_READ | iommu::IOMMU_WRITE;

// Forwards flushes to the model as the driver does (v5: FLUSH all for the
// FLPD cache; v1 3.3: FLUSH_ENTRY of the section).
struct ModelTlb : iommu::IommuFlushOps {
  hx::Sysmmu* mmu = nullptr;
  const hx::Layout* lay = nullptr;
  bool v1 = false;
  unsigned all = 0, walks = 0, pages = 0;
  void tlb_flush_all() override {
    ++all;
    if (mmu) mmu->write(lay->flush_all, 1, 4);
  }
  void tlb_flush_walk(uint64_t iova, size_t, size_t) override {
    ++walks;
    if (mmu) mmu->write(v1 ? lay->flush_entry : lay->flush_all, v1 ? (iova | 1) : 1, 4);
  }
  void tlb_add_page(iommu::IotlbGather* g, uint64_t iova, size_t granule) override {
    ++pages;
    if (g) g->add_page(iova, granule);
  }
};

struct Param {
  PtFormat f;
  uint64_t pgsize;
  uint64_t offset;
};

class ExynosPgtableTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override { init(GetParam().f); }
  void init(PtFormat f) {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    auto pa = mm::PageAllocator::create(mem, kRam, 16ull << 20);
    ASSERT_TRUE(pa.ok());
    pages = std::move(pa).value();
    zero = pages->alloc_pages(0).value();
    const auto v = f == PtFormat::v1 ? hx::Version::v1 : hx::Version::v5;
    mmu = std::make_unique<hx::Sysmmu>("mmu", mem, v);
    tlb.mmu = mmu.get();
    tlb.lay = &hx::layout(v);
    tlb.v1 = f == PtFormat::v1;
    auto t = ExynosPgtable::alloc(f, mem, *pages, zero, &tlb);
    ASSERT_TRUE(t.ok()) << t.error().str();
    pgt = std::move(t).value();
    mmu->write(hx::REG_MMU_CFG, hx::CFG_EAP | hx::CFG_FLPDCACHE, 4);
    mmu->write(tlb.lay->pt_base, static_cast<uint32_t>(f == PtFormat::v1 ? pgt->lv1() : pgt->lv1() >> 12), 4);
    mmu->write(hx::REG_MMU_CTRL, hx::CTRL_ENABLE, 4);
  }
  hw::TranslateOutcome walk(uint64_t iova, hw::Access a) {
    mmu->write(tlb.lay->flush_all, 1, 4);
    return mmu->translate(0, iova, a);
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  iommu::PhysAddr zero = 0;
  ModelTlb tlb;
  std::unique_ptr<hx::Sysmmu> mmu;
  std::unique_ptr<ExynosPgtable> pgt;
};

TEST_P(ExynosPgtableTest, MapWalkUnmap) {
  const auto [f, pg, off] = GetParam();
  const uint64_t iova = 0x10000000 + off * pg;
  const uint64_t pa = kPa + 2 * kSect;
  size_t mapped = 0;
  ASSERT_TRUE(pgt->map_pages(iova, pa, pg, 3, kRW, &mapped).ok());
  EXPECT_EQ(mapped, 3 * pg);
  for (uint64_t o : {uint64_t{0}, pg - 8, pg, 3 * pg - 4}) {
    auto got = pgt->iova_to_phys(iova + o);
    ASSERT_TRUE(got.ok()) << fmt::format("{:#x}", iova + o);
    EXPECT_EQ(*got, pa + o);
    auto r = walk(iova + o, hw::Access::write);
    ASSERT_EQ(r.kind, hw::TranslateOutcome::Kind::translated) << fmt::format("{:#x}", iova + o);
    EXPECT_EQ(r.pa, pa + o);
  }
  // Mapping over it again: EEXIST, nothing changes.
  EXPECT_EQ(pgt->map_pages(iova + pg, kPa, pg, 1, kRW, &mapped).error().code, Errc::exist);
  EXPECT_EQ(pgt->iova_to_phys(iova + pg).value(), pa + pg);
  // A partial unmap of a large page or section does not split it.
  if (pg > kSpage) {
    EXPECT_EQ(pgt->unmap(iova, kSpage, nullptr), 0u);
  }
  iommu::IotlbGather g;
  EXPECT_EQ(pgt->unmap(iova, 3 * pg, &g), 3 * pg);
  EXPECT_EQ(tlb.pages, 3u);
  EXPECT_FALSE(g.empty());
  EXPECT_EQ(pgt->iova_to_phys(iova).error().code, Errc::noent);
  EXPECT_EQ(walk(iova, hw::Access::read).kind, hw::TranslateOutcome::Kind::faulted);
  // A hole: nothing more to unmap.
  EXPECT_EQ(pgt->unmap(iova, pg, nullptr), 0u);
}

TEST_P(ExynosPgtableTest, ReadOnlyFaultsWrites) {
  const auto [f, pg, off] = GetParam();
  const uint64_t iova = 0x20000000 + off * pg;
  ASSERT_TRUE(pgt->map_pages(iova, kPa, pg, 1, iommu::IOMMU_READ, nullptr).ok());
  EXPECT_EQ(walk(iova, hw::Access::read).kind, hw::TranslateOutcome::Kind::translated);
  EXPECT_EQ(walk(iova, hw::Access::write).kind, hw::TranslateOutcome::Kind::faulted);
  EXPECT_EQ(mmu->stats().access_faults, 1u);
}

std::vector<Param> matrix() {
  std::vector<Param> out;
  for (PtFormat f : {PtFormat::v1, PtFormat::v5})
    for (uint64_t pg : {kSpage, kLpage, kSect})
      for (uint64_t off : {0, 1, 15}) out.push_back({f, pg, off});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Formats, ExynosPgtableTest, ::testing::ValuesIn(matrix()), [](const auto& p) {
  return fmt::format("{}_{}K_off{}", p.param.f == PtFormat::v1 ? "v1" : "v5", p.param.pgsize / 1024, p.param.offset);
});

class ExynosPgtableRules : public ExynosPgtableTest {};

TEST_P(ExynosPgtableRules, Errors) {
  EXPECT_EQ(pgt->map_pages(0x1000, kPa, 8192, 1, kRW, nullptr).error().code, Errc::inval);     // size
  EXPECT_EQ(pgt->map_pages(0x1000, kPa, kLpage, 1, kRW, nullptr).error().code, Errc::inval);   // alignment
  EXPECT_EQ(pgt->map_pages(0xfffff000, kPa, kSpage, 2, kRW, nullptr).error().code, Errc::range);
  const uint64_t beyond = uint64_t{1} << pa_bits(GetParam().f);
  EXPECT_EQ(pgt->map_pages(0x1000, beyond, kSpage, 1, kRW, nullptr).error().code, Errc::range);
  EXPECT_EQ(pgt->iova_to_phys(uint64_t{1} << 32).error().code, Errc::range);
  EXPECT_EQ(pgt->unmap(0x1800, kSpage, nullptr), 0u);  // unaligned
}

// Linux lv2entcnt: a section may replace a second-level table only once it
// is empty again.
TEST_P(ExynosPgtableRules, Lv2CountersLetASectionReplaceAnEmptyTable) {
  const uint64_t iova = 0x30000000;
  ASSERT_TRUE(pgt->map_pages(iova + kLpage, kPa, kLpage, 1, kRW, nullptr).ok());
  ASSERT_TRUE(pgt->map_pages(iova, kPa, kSpage, 2, kRW, nullptr).ok());
  EXPECT_EQ(pgt->lv2_free(iova), kLv2Entries - 18);
  EXPECT_EQ(pgt->map_pages(iova, kPa, kSect, 1, kRW, nullptr).error().code, Errc::exist);
  EXPECT_EQ(pgt->unmap(iova, 2 * kSpage, nullptr), 2 * kSpage);
  EXPECT_EQ(pgt->unmap(iova + kLpage, kLpage, nullptr), kLpage);
  EXPECT_EQ(pgt->lv2_free(iova), kLv2Entries);
  const uint64_t before = pgt->table_pages();
  ASSERT_TRUE(pgt->map_pages(iova, kPa, kSect, 1, kRW, nullptr).ok());
  EXPECT_EQ(pgt->table_pages(), before - 1);  // the emptied table went
  EXPECT_EQ(walk(iova + 0x1234, hw::Access::read).pa, kPa + 0x1234);
}

// The model caches first-level links (the zero link too); installing a
// second-level table must flush it, or the SysMMU keeps walking the zero
// table. map_pages does (tlb_flush_walk), so the new page translates.
TEST_P(ExynosPgtableRules, FlpdCacheIsFlushedWhenATableIsLinked) {
  const uint64_t iova = 0x40000000;
  EXPECT_EQ(mmu->translate(0, iova, hw::Access::read).kind, hw::TranslateOutcome::Kind::faulted);  // caches the zero link
  const unsigned walks = tlb.walks;
  ASSERT_TRUE(pgt->map_pages(iova, kPa, kSpage, 1, kRW, nullptr).ok());
  EXPECT_EQ(tlb.walks, walks + 1);
  auto r = mmu->translate(0, iova, hw::Access::read);
  ASSERT_EQ(r.kind, hw::TranslateOutcome::Kind::translated);
  EXPECT_EQ(r.pa, kPa);
  // Without the flush the stale link is used: the model really caches it.
  tlb.mmu = nullptr;
  (void)mmu->translate(0, iova + kSect, hw::Access::read);
  ASSERT_TRUE(pgt->map_pages(iova + kSect, kPa, kSpage, 1, kRW, nullptr).ok());
  EXPECT_EQ(mmu->translate(0, iova + kSect, hw::Access::read).kind, hw::TranslateOutcome::Kind::faulted);
}

TEST_P(ExynosPgtableRules, MapPicksLargestPagesAndUndoesOnError) {
  const uint64_t iova = 0x50000000;
  ASSERT_TRUE(pgt->map(iova, kPa, kSect + kLpage + kSpage, kRW).ok());
  EXPECT_EQ(pgt->iova_to_phys(iova + kSect + kLpage).value(), kPa + kSect + kLpage);
  EXPECT_EQ(pgt->lv2_free(iova), kLv2Entries);  // the first MiB is a section
  EXPECT_EQ(pgt->lv2_free(iova + kSect), kLv2Entries - 17);
  EXPECT_FALSE(pgt->map(iova + kSect + kLpage, kPa, 2 * kSpage, kRW).ok());
  EXPECT_EQ(pgt->lv2_free(iova + kSect), kLv2Entries - 17);  // nothing of the failed call stayed
}

INSTANTIATE_TEST_SUITE_P(Formats, ExynosPgtableRules,
                         ::testing::Values(Param{PtFormat::v1, kSpage, 0}, Param{PtFormat::v5, kSpage, 0}),
                         [](const auto& p) { return std::string(p.param.f == PtFormat::v1 ? "v1" : "v5"); });

}  // namespace
}  // namespace modiommu::exynos_iommu
