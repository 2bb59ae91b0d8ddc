// The Rockchip io-pgtable matrix: version (v1 32-bit / v2 40-bit output) x
// size x start offset. Every mapping is checked twice: by the table's own
// iova_to_phys and by the Rockchip IOMMU model walking the tables in RAM.
#include "drivers/iommu/rockchip-iommu/pgtable.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <memory>

#include "hw/memory.h"
#include "hw/rockchip/rk_iommu.h"
#include "mm/page_alloc.h"

namespace modiommu::rockchip_iommu {
namespace {

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
  Version v;
  uint64_t size;
  uint64_t offset;  // iova start within a 4 MiB page-table span
};

class RkPgtableMatrix : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    auto pa = mm::PageAllocator::create(mem, kRam, 16ull << 20);
    ASSERT_TRUE(pa.ok());
    pages = std::move(pa).value();
    auto t = RkPgtable::alloc(GetParam().v, mem, *pages, &tlb);
    ASSERT_TRUE(t.ok()) << t.error().str();
    pgt = std::move(t).value();
    mmu = std::make_unique<hw::rockchip::RkMmu>("mmu", mem, GetParam().v == Version::v1 ? hw::rockchip::Version::v1
                                                                                       : hw::rockchip::Version::v2);
    mmu->write(hw::rockchip::MMU_DTE_ADDR, pgt->dte_addr(), 4);
    mmu->write(hw::rockchip::MMU_COMMAND, hw::rockchip::CMD_ENABLE_PAGING, 4);
  }
  uint64_t iova() const { return 0x10000000 + GetParam().offset; }
  void expect_mapped(uint64_t iova, uint64_t pa, bool writable) {
    auto got = pgt->iova_to_phys(iova + 0x10);
    ASSERT_TRUE(got.ok()) << fmt::format("{:#x}: {}", iova, got.error().str());
    EXPECT_EQ(*got, pa + 0x10);
    mmu->write(hw::rockchip::MMU_COMMAND, hw::rockchip::CMD_ZAP_CACHE, 4);
    auto r = mmu->translate(iova + 0x10, hw::Access::read);
    ASSERT_EQ(r.kind, hw::TranslateOutcome::Kind::translated) << fmt::format("{:#x}", iova);
    EXPECT_EQ(r.pa, pa + 0x10);
    EXPECT_EQ(mmu->translate(iova, hw::Access::write).kind == hw::TranslateOutcome::Kind::translated, writable);
    mmu->write(hw::rockchip::MMU_COMMAND, hw::rockchip::CMD_PAGE_FAULT_DONE, 4);
  }
  void expect_hole(uint64_t iova) {
    auto got = pgt->iova_to_phys(iova);
    ASSERT_FALSE(got.ok()) << fmt::format("{:#x} still maps {:#x}", iova, *got);
    EXPECT_EQ(got.error().code, Errc::noent);
    mmu->write(hw::rockchip::MMU_COMMAND, hw::rockchip::CMD_ZAP_CACHE, 4);
    EXPECT_EQ(mmu->translate(iova, hw::Access::read).kind, hw::TranslateOutcome::Kind::faulted);
    mmu->write(hw::rockchip::MMU_COMMAND, hw::rockchip::CMD_PAGE_FAULT_DONE, 4);
  }

  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  CountingTlb tlb;
  std::unique_ptr<RkPgtable> pgt;
  std::unique_ptr<hw::rockchip::RkMmu> mmu;
};

std::vector<Param> matrix() {
  std::vector<Param> out;
  for (Version v : {Version::v1, Version::v2})
    for (uint64_t size : {uint64_t{4096}, uint64_t{64} << 10, uint64_t{1} << 20, uint64_t{4} << 20})
      for (uint64_t off : {uint64_t{0}, uint64_t{0x3ff000}, uint64_t{0x123000}}) out.push_back({v, size, off});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Matrix, RkPgtableMatrix, ::testing::ValuesIn(matrix()), [](const auto& pi) {
  const Param& p = pi.param;
  return fmt::format("{}_{}K_off{:x}", p.v == Version::v1 ? "v1" : "v2", p.size >> 10, p.offset);
});

TEST_P(RkPgtableMatrix, MapWalksInSoftwareAndHardwareUnmapLeavesHoles) {
  const uint64_t size = GetParam().size, base = iova();
  ASSERT_TRUE(pgt->map(base, kPa, size, iommu::IOMMU_READ | iommu::IOMMU_WRITE).ok());
  for (uint64_t off = 0; off < size; off += std::max<uint64_t>(4096, size / 16)) expect_mapped(base + off, kPa + off, true);
  expect_mapped(base + size - 4096, kPa + size - 4096, true);
  expect_hole(base + size);  // one past the end
  if (base >= 4096) expect_hole(base - 4096);
  // Partial unmap of the second half (or the only page): a gather per page.
  const uint64_t half = size >= 8192 ? size / 2 : 0;
  iommu::IotlbGather g;
  EXPECT_EQ(pgt->unmap(base + half, size - half, &g), size - half);
  EXPECT_EQ(tlb.pages, (size - half) / 4096);
  EXPECT_EQ(g.start, base + half);
  EXPECT_EQ(g.end, base + size - 1);
  EXPECT_TRUE(g.freelist.empty());  // page tables stay until the table goes
  expect_hole(base + half);
  expect_hole(base + size - 4096);
  if (half) expect_mapped(base, kPa, true);
  // Unmapping across the hole stops at it.
  EXPECT_EQ(pgt->unmap(base, size, nullptr), half);
  EXPECT_EQ(tlb.all, half ? 1u : 0u);
  expect_hole(base);
}

TEST_P(RkPgtableMatrix, OverlapIsEexistAndChangesNothing) {
  const uint64_t size = GetParam().size, base = iova();
  ASSERT_TRUE(pgt->map(base + size - 4096, kPa + 0x800000, 4096, iommu::IOMMU_READ).ok());
  auto r = pgt->map(base, kPa, size, iommu::IOMMU_READ);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::exist);
  if (size > 4096) expect_hole(base);
  expect_mapped(base + size - 4096, kPa + 0x800000, false);
}

TEST_P(RkPgtableMatrix, TablesGoBackWhenTheTableIsFreed) {
  const uint64_t before = pages->stats().allocated_pages;  // the directory
  ASSERT_TRUE(pgt->map(iova(), kPa, GetParam().size, iommu::IOMMU_READ).ok());
  EXPECT_GT(pgt->table_pages(), 1u);
  pgt.reset();
  EXPECT_EQ(pages->stats().allocated_pages, before - 1);
  EXPECT_GE(tlb.all, 1u);
}

class RkPgtableLimits : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    pages = std::move(mm::PageAllocator::create(mem, kRam, 16ull << 20)).value();
    pgt = std::move(RkPgtable::alloc(GetParam(), mem, *pages, nullptr)).value();
  }
  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  std::unique_ptr<RkPgtable> pgt;
};

INSTANTIATE_TEST_SUITE_P(Versions, RkPgtableLimits, ::testing::Values(Version::v1, Version::v2),
                         [](const auto& p) { return p.param == Version::v1 ? "v1" : "v2"; });

TEST_P(RkPgtableLimits, OutOfRangeAndMisalignedRequestsAreRefused) {
  size_t mapped = 7;
  // Beyond the 32-bit IOVA space.
  auto s = pgt->map_pages(0xfffff000, kPa, 4096, 2, iommu::IOMMU_READ, &mapped);
  EXPECT_EQ(s.error().code, Errc::range);
  EXPECT_EQ(mapped, 0u);
  EXPECT_EQ(pgt->iova_to_phys(0x100000000ull).error().code, Errc::range);
  EXPECT_EQ(pgt->unmap(0x100000000ull, 4096, nullptr), 0u);
  // Output: v1 32 bits, v2 40 bits.
  auto high = pgt->map(0x1000, 0x800000000ull, 4096, iommu::IOMMU_READ);
  if (GetParam() == Version::v1) {
    EXPECT_EQ(high.error().code, Errc::range);
  } else {
    ASSERT_TRUE(high.ok());
    EXPECT_EQ(pgt->iova_to_phys(0x1234).value(), 0x800000234ull);
  }
  EXPECT_EQ(pgt->map(0x2000, uint64_t{1} << 40, 4096, iommu::IOMMU_READ).error().code, Errc::range);
  // Misaligned, bad page sizes.
  EXPECT_EQ(pgt->map_pages(0x3800, kPa, 4096, 1, iommu::IOMMU_READ, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0x4000, kPa, 8192 + 4096, 1, iommu::IOMMU_READ, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0x4000, kPa, 8 << 20, 1, iommu::IOMMU_READ, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->unmap(0x4800, 4096, nullptr), 0u);
  // A 4 MiB page size is 1024 PTEs in one page table.
  ASSERT_TRUE(pgt->map_pages(0x400000, kPa, 4 << 20, 1, iommu::IOMMU_WRITE, &mapped).ok());
  EXPECT_EQ(mapped, 4u << 20);
  EXPECT_EQ(pgt->iova_to_phys(0x7ff123).value(), kPa + 0x3ff123);
}

TEST_P(RkPgtableLimits, EntryFormatMatchesLinux) {
  ASSERT_TRUE(pgt->map(0x00401000, kPa, 4096, iommu::IOMMU_READ | iommu::IOMMU_WRITE).ok());
  const uint32_t dte = mem.read32(pgt->directory() + 4 * 1).value();
  EXPECT_EQ(dte & 1u, 1u);
  const uint32_t pte = mem.read32(entry_address(GetParam(), dte) + 4 * 1).value();
  EXPECT_EQ(pte, static_cast<uint32_t>(kPa) | 0x7u);  // address | writable | readable | valid
  EXPECT_EQ(pack_address(Version::v2, 0xab12345000ull), 0x12345ba0u);
  EXPECT_EQ(pgt->dte_addr() & ~1u, pack_address(GetParam(), pgt->directory()));
}

}  // namespace
}  // namespace modiommu::rockchip_iommu
