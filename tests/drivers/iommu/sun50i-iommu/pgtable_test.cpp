// The sun50i io-pgtable matrix: size x permission x start offset. Every
// mapping is checked twice: by the table's own iova_to_phys and by the
// sun50i IOMMU model walking the tables in RAM with the ACI permissions the
// driver programs; then partial unmaps, holes, overlaps and errors.
#include "drivers/iommu/sun50i-iommu/pgtable.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <memory>

#include "hw/memory.h"
#include "hw/sun50i/sun50i_iommu.h"
#include "mm/page_alloc.h"

namespace modiommu::sun50i_iommu {
namespace {

namespace hs = hw::sun50i;
using Kind = hw::TranslateOutcome::Kind;

constexpr uint64_t kRam = 0x40000000, kRamSize = 64ull << 20;
constexpr uint64_t kPa = kRam + (32ull << 20);  // mapping targets, above the tables

struct CountingTlb : iommu::IommuFlushOps {
  void tlb_flush_all() override { ++all; }
  void tlb_flush_walk(uint64_t, size_t, size_t) override { ++walks; }
  void tlb_add_page(iommu::IotlbGather* g, uint64_t iova, size_t granule) override {
    ++pages;
    if (g) g->add_page(iova, granule);
  }
  unsigned all = 0, walks = 0, pages = 0;
};

struct Param {
  uint64_t size;
  int prot;
  uint64_t offset;  // iova start within a 1 MiB page-table span
};

class Sun50iPgtableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    auto pa = mm::PageAllocator::create(mem, kRam, 16ull << 20);
    ASSERT_TRUE(pa.ok());
    pages = std::move(pa).value();
    auto t = Sun50iPgtable::alloc(mem, *pages, &tlb);
    ASSERT_TRUE(t.ok()) << t.error().str();
    pgt = std::move(t).value();
    mmu = std::make_unique<hs::Sun50iIommu>("iommu", mem);
    mmu->write(hs::IOMMU_TTB_REG, pgt->directory(), 4);
    // The ACI permissions sun50i-iommu programs (device.cpp).
    uint32_t none = 0, rdwr = 0;
    for (unsigned m = 0; m < hs::kMasters; ++m) {
      none |= 3u << hs::dm_aut_rd_bit(kAciNone, m);
      rdwr |= 2u << hs::dm_aut_rd_bit(kAciRd, m) | 1u << hs::dm_aut_rd_bit(kAciWr, m);
    }
    mmu->write(hs::dm_aut_ctrl(kAciNone), none, 4);
    mmu->write(hs::dm_aut_ctrl(kAciRd), rdwr, 4);
    mmu->write(hs::IOMMU_ENABLE_REG, hs::ENABLE_ENABLE, 4);
  }
  bool hw_allows(uint64_t iova, hw::Access a, uint64_t* pa = nullptr) {
    mmu->write(hs::IOMMU_TLB_FLUSH_REG, hs::TLB_FLUSH_MACRO_TLB | hs::TLB_FLUSH_PTW_CACHE, 4);
    auto r = mmu->translate(0, iova, a);
    mmu->write(hs::IOMMU_INT_CLR_REG, hs::INT_MASK, 4);
    if (pa) *pa = r.pa;
    return r.kind == Kind::translated;
  }
  void expect_mapped(uint64_t iova, uint64_t pa, int prot) {
    auto got = pgt->iova_to_phys(iova + 0x10);
    ASSERT_TRUE(got.ok()) << fmt::format("{:#x}: {}", iova, got.error().str());
    EXPECT_EQ(*got, pa + 0x10);
    uint64_t hwpa = 0;
    EXPECT_EQ(hw_allows(iova + 0x10, hw::Access::read, &hwpa), bool(prot & iommu::IOMMU_READ)) << fmt::format("{:#x}", iova);
    if (prot & iommu::IOMMU_READ) {
      EXPECT_EQ(hwpa, pa + 0x10);
    }
    EXPECT_EQ(hw_allows(iova, hw::Access::write), bool(prot & iommu::IOMMU_WRITE)) << fmt::format("{:#x}", iova);
  }
  void expect_hole(uint64_t iova) {
    auto got = pgt->iova_to_phys(iova);
    ASSERT_FALSE(got.ok()) << fmt::format("{:#x} still maps {:#x}", iova, *got);
    EXPECT_EQ(got.error().code, Errc::noent);
    EXPECT_FALSE(hw_allows(iova, hw::Access::read));
  }

  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  CountingTlb tlb;
  std::unique_ptr<Sun50iPgtable> pgt;
  std::unique_ptr<hs::Sun50iIommu> mmu;
};

class Sun50iPgtableMatrix : public Sun50iPgtableTest, public ::testing::WithParamInterface<Param> {
 protected:
  uint64_t iova() const { return 0x10000000 + GetParam().offset; }
};

std::vector<Param> matrix() {
  std::vector<Param> out;
  constexpr int R = iommu::IOMMU_READ, W = iommu::IOMMU_WRITE;
  for (uint64_t size : {uint64_t{4096}, uint64_t{64} << 10, uint64_t{1} << 20, uint64_t{3} << 20})
    for (int prot : {R | W, R, W, 0})
      for (uint64_t off : {uint64_t{0}, uint64_t{0xff000}, uint64_t{0x123000}}) out.push_back({size, prot, off});
  return out;
}

std::string prot_name(int p) {
  return p == (iommu::IOMMU_READ | iommu::IOMMU_WRITE) ? "rw" : p == iommu::IOMMU_READ ? "r" : p ? "w" : "none";
}

INSTANTIATE_TEST_SUITE_P(Matrix, Sun50iPgtableMatrix, ::testing::ValuesIn(matrix()), [](const auto& pi) {
  const Param& p = pi.param;
  return fmt::format("{}K_{}_off{:x}", p.size >> 10, prot_name(p.prot), p.offset);
});

TEST_P(Sun50iPgtableMatrix, MapWalksInSoftwareAndHardwareUnmapLeavesHoles) {
  const uint64_t size = GetParam().size, base = iova();
  const int prot = GetParam().prot;
  ASSERT_TRUE(pgt->map(base, kPa, size, prot).ok());
  for (uint64_t off = 0; off < size; off += std::max<uint64_t>(4096, size / 8)) expect_mapped(base + off, kPa + off, prot);
  expect_mapped(base + size - 4096, kPa + size - 4096, prot);
  expect_hole(base + size);
  expect_hole(base - 4096);
  // Partial unmap of the second half (or the only page): a gather per page.
  const uint64_t half = size >= 8192 ? size / 2 : 0;
  iommu::IotlbGather g;
  EXPECT_EQ(pgt->unmap(base + half, size - half, &g), size - half);
  EXPECT_EQ(tlb.pages, (size - half) / 4096);
  EXPECT_EQ(g.start, base + half);
  EXPECT_EQ(g.end, base + size - 1);
  EXPECT_TRUE(g.freelist.empty());  // page tables stay until the table goes
  expect_hole(base + half);
  if (half) expect_mapped(base, kPa, prot);
  // Unmapping across the hole stops at it.
  EXPECT_EQ(pgt->unmap(base, size, nullptr), half);
  EXPECT_EQ(tlb.all, half ? 1u : 0u);
  expect_hole(base);
}

TEST_P(Sun50iPgtableMatrix, OverlapIsEexistAndChangesNothing) {
  const uint64_t size = GetParam().size, base = iova();
  ASSERT_TRUE(pgt->map(base + size - 4096, kPa + 0x800000, 4096, iommu::IOMMU_READ).ok());
  auto r = pgt->map(base, kPa, size, GetParam().prot);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::exist);
  if (size > 4096) expect_hole(base);
  expect_mapped(base + size - 4096, kPa + 0x800000, iommu::IOMMU_READ);
}

TEST_P(Sun50iPgtableMatrix, TablesGoBackWhenTheTableIsFreed) {
  const uint64_t before = pages->stats().allocated_pages;
  ASSERT_TRUE(pgt->map(iova(), kPa, GetParam().size, GetParam().prot).ok());
  EXPECT_GT(pgt->table_pages(), 4u);  // the 16 KiB directory and at least one page table
  pgt.reset();
  EXPECT_EQ(pages->stats().allocated_pages, before - 4);
  EXPECT_GE(tlb.all, 1u);
}

TEST_F(Sun50iPgtableTest, PteEncodesTheAciLinuxUses) {
  EXPECT_EQ(pte_aci(make_pte(0x1000, iommu::IOMMU_READ | iommu::IOMMU_WRITE)), kAciRdWr);
  EXPECT_EQ(pte_aci(make_pte(0x1000, iommu::IOMMU_READ)), kAciRd);
  EXPECT_EQ(pte_aci(make_pte(0x1000, iommu::IOMMU_WRITE)), kAciWr);
  EXPECT_EQ(pte_aci(make_pte(0x1000, 0)), kAciNone);
  EXPECT_EQ(make_pte(0xabcde000, 0) & kPteAddrMask, 0xabcde000u);
  EXPECT_TRUE(make_pte(0, 0) & kPteValid);
  EXPECT_EQ(pgt->directory() % (16 << 10), 0u);  // TTB wants 16 KiB alignment
}

TEST_F(Sun50iPgtableTest, ErrorsAreValues) {
  size_t mapped = 7;
  auto e = pgt->map_pages(0x1000, kPa, 8192, 1, iommu::IOMMU_READ, &mapped);
  EXPECT_EQ(e.error().code, Errc::inval);  // only 4 KiB pages
  EXPECT_EQ(mapped, 0u);
  EXPECT_EQ(pgt->map_pages(0x1800, kPa, 4096, 1, iommu::IOMMU_READ, nullptr).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0xfffff000, kPa, 4096, 2, iommu::IOMMU_READ, nullptr).error().code, Errc::range);
  EXPECT_EQ(pgt->map_pages(0x1000, 0x100000000ull, 4096, 1, iommu::IOMMU_READ, nullptr).error().code, Errc::range);
  EXPECT_EQ(pgt->map(0x1000, kPa, 100, iommu::IOMMU_READ).error().code, Errc::inval);
  EXPECT_EQ(pgt->iova_to_phys(1ull << 32).error().code, Errc::range);
  EXPECT_EQ(pgt->unmap(0x1000, 0x800, nullptr), 0u);
  EXPECT_EQ(pgt->unmap(0x1000, 4096, nullptr), 0u);  // nothing there
  // The last page of the IOVA space maps.
  ASSERT_TRUE(pgt->map(0xfffff000, kPa, 4096, iommu::IOMMU_READ).ok());
  auto last = pgt->iova_to_phys(0xfffff123);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, kPa + 0x123);
}

}  // namespace
}  // namespace modiommu::sun50i_iommu
