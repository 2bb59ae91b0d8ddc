// The Tegra io-pgtable matrix: output range (below 4 GiB / 34-bit) x size x
// start offset. Every mapping is checked twice: by the table's own
// iova_to_phys and by the Tegra SMMU model walking the tables in RAM. A
// second suite lets the table's flush callbacks drive the model's PTC and
// TLB registers, so a missing flush shows as a stale translation.
#include "drivers/iommu/tegra-smmu/pgtable.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <memory>

#include "drivers/iommu/tegra-smmu/regs.h"
#include "hw/memory.h"
#include "hw/tegra/regs.h"
#include "hw/tegra/tegra_smmu.h"
#include "mm/page_alloc.h"

namespace modiommu::tegra_smmu {
namespace {

constexpr uint64_t kRam = 0x80000000, kRamSize = 64ull << 20;
constexpr uint64_t kPaLow = kRam + (32ull << 20);  // mapping targets, above the tables
constexpr uint64_t kPaHigh = 0x2c0000000ull;       // above 4 GiB, below 2^34
constexpr uint32_t kSdmmc1a = 18;                  // Tegra210 swgroup

struct CountingTlb : iommu::IommuFlushOps {
  void tlb_flush_all() override { ++all; }
  void tlb_flush_walk(uint64_t, size_t, size_t) override { ++walks; }
  void tlb_add_page(iommu::IotlbGather* g, uint64_t iova, size_t granule) override {
    ++pages;
    if (g) g->add_page(iova, granule);
  }
  unsigned all = 0, walks = 0, pages = 0;
};

// Points the model's SDMMC1A swgroup at ASID 0 with this directory.
void attach(hw::tegra::TegraSmmu& m, uint32_t ptb_data) {
  m.write(hw::tegra::SMMU_PTB_ASID, 0, 4);
  m.write(hw::tegra::SMMU_PTB_DATA, ptb_data, 4);
  m.write(0xa94, hw::tegra::SMMU_ASID_ENABLE | 0, 4);
  m.write(0x234, 0x11, 4);
  m.write(hw::tegra::SMMU_CONFIG, hw::tegra::SMMU_CONFIG_ENABLE, 4);
}

struct Param {
  bool high;
  uint64_t size;
  uint64_t offset;  // iova start within a 4 MiB page-table span
};

class TegraPgtableMatrix : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    auto pa = mm::PageAllocator::create(mem, kRam, 16ull << 20);
    ASSERT_TRUE(pa.ok());
    pages = std::move(pa).value();
    auto t = TegraPgtable::alloc(34, mem, *pages, &tlb, nullptr);
    ASSERT_TRUE(t.ok()) << t.error().str();
    pgt = std::move(t).value();
    mmu = std::make_unique<hw::tegra::TegraSmmu>("mc", mem, hw::tegra::tegra210_soc());
    attach(*mmu, pgt->ptb_data());
  }
  uint64_t iova() const { return 0x10000000 + GetParam().offset; }
  uint64_t pa() const { return GetParam().high ? kPaHigh : kPaLow; }
  void flush_model() {
    mmu->write(hw::tegra::SMMU_PTC_FLUSH, 0, 4);
    mmu->write(hw::tegra::SMMU_TLB_FLUSH, 0, 4);
    mmu->write(hw::tegra::MC_INTSTATUS, ~0u, 4);
  }
  void expect_mapped(uint64_t iova, uint64_t pa, bool writable) {
    auto got = pgt->iova_to_phys(iova + 0x10);
    ASSERT_TRUE(got.ok()) << fmt::format("{:#x}: {}", iova, got.error().str());
    EXPECT_EQ(*got, pa + 0x10);
    flush_model();
    auto r = mmu->translate(kSdmmc1a, iova + 0x10, hw::Access::read);
    ASSERT_EQ(r.kind, hw::TranslateOutcome::Kind::translated) << fmt::format("{:#x}", iova);
    EXPECT_EQ(r.pa, pa + 0x10);
    EXPECT_EQ(mmu->translate(kSdmmc1a, iova, hw::Access::write).kind == hw::TranslateOutcome::Kind::translated,
              writable);
  }
  void expect_hole(uint64_t iova) {
    auto got = pgt->iova_to_phys(iova);
    ASSERT_FALSE(got.ok()) << fmt::format("{:#x} still maps {:#x}", iova, *got);
    EXPECT_EQ(got.error().code, Errc::noent);
    flush_model();
    EXPECT_EQ(mmu->translate(kSdmmc1a, iova, hw::Access::read).kind, hw::TranslateOutcome::Kind::faulted);
  }

  hw::PhysicalMemory mem;
  std::unique_ptr<mm::PageAllocator> pages;
  CountingTlb tlb;
  std::unique_ptr<TegraPgtable> pgt;
  std::unique_ptr<hw::tegra::TegraSmmu> mmu;
};

std::vector<Param> matrix() {
  std::vector<Param> out;
  for (bool high : {false, true})
    for (uint64_t size : {uint64_t{4096}, uint64_t{64} << 10, uint64_t{1} << 20, uint64_t{4} << 20})
      for (uint64_t off : {uint64_t{0}, uint64_t{0x3ff000}, uint64_t{0x123000}}) out.push_back({high, size, off});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Matrix, TegraPgtableMatrix, ::testing::ValuesIn(matrix()), [](const auto& pi) {
  const Param& p = pi.param;
  return fmt::format("{}_{}K_off{:x}", p.high ? "pa34" : "pa32", p.size >> 10, p.offset);
});

TEST_P(TegraPgtableMatrix, MapWalksInSoftwareAndHardwareUnmapLeavesHoles) {
  const uint64_t size = GetParam().size, base = iova();
  ASSERT_TRUE(pgt->map(base, pa(), size, iommu::IOMMU_READ | iommu::IOMMU_WRITE).ok());
  for (uint64_t off = 0; off < size; off += std::max<uint64_t>(4096, size / 16))
    expect_mapped(base + off, pa() + off, true);
  expect_mapped(base + size - 4096, pa() + size - 4096, true);
  expect_hole(base + size);  // one past the end
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
  expect_hole(base + size - 4096);
  if (half) expect_mapped(base, pa(), true);
  // Unmapping across the hole stops at it.
  EXPECT_EQ(pgt->unmap(base, size, nullptr), half);
  expect_hole(base);
}

TEST_P(TegraPgtableMatrix, ReadOnlyMappingsFaultWritesAndOverlapIsEexist) {
  const uint64_t size = GetParam().size, base = iova();
  ASSERT_TRUE(pgt->map(base + size - 4096, pa() + 0x800000, 4096, iommu::IOMMU_READ).ok());
  auto r = pgt->map(base, pa(), size, iommu::IOMMU_READ);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::exist);
  if (size > 4096) expect_hole(base);
  expect_mapped(base + size - 4096, pa() + 0x800000, false);
}

TEST_P(TegraPgtableMatrix, TablesGoBackWhenTheTableIsFreed) {
  const uint64_t before = pages->stats().allocated_pages;  // the directory
  ASSERT_TRUE(pgt->map(iova(), pa(), GetParam().size, iommu::IOMMU_READ).ok());
  EXPECT_GT(pgt->table_pages(), 1u);
  pgt.reset();
  EXPECT_EQ(pages->stats().allocated_pages, before - 1);
  EXPECT_GE(tlb.all, 1u);
}

// The flush callbacks write the model's registers as the driver does.
struct ModelFlush : iommu::IommuFlushOps, PtcFlush {
  explicit ModelFlush(hw::tegra::TegraSmmu& smmu) : m(smmu) {}
  void tlb_flush_all() override { m.write(hw::tegra::SMMU_TLB_FLUSH, hw::tegra::TLB_FLUSH_ASID_MATCH, 4); }
  void tlb_flush_walk(uint64_t iova, size_t size, size_t) override {
    for (uint64_t a = iova & ~uint64_t{0x3fff}; a < iova + size; a += 0x4000)
      m.write(hw::tegra::SMMU_TLB_FLUSH,
              hw::tegra::TLB_FLUSH_ASID_MATCH | hw::tegra::TLB_FLUSH_MATCH_GROUP | static_cast<uint32_t>(a >> 12), 4);
  }
  void tlb_add_page(iommu::IotlbGather* g, uint64_t iova, size_t granule) override {
    if (g) g->add_page(iova, granule);
  }
  void ptc_flush(iommu::PhysAddr pa) override {
    m.write(hw::tegra::SMMU_PTC_FLUSH_HI, static_cast<uint32_t>(pa >> 32), 4);
    m.write(hw::tegra::SMMU_PTC_FLUSH, static_cast<uint32_t>(pa) | hw::tegra::PTC_FLUSH_TYPE_ADR, 4);
  }
  hw::tegra::TegraSmmu& m;
};

TEST(TegraPgtableFlush, MapAndUnmapFlushWhatTheHardwareCached) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
  auto pages = std::move(mm::PageAllocator::create(mem, kRam, 16ull << 20)).value();
  hw::tegra::TegraSmmu mmu("mc", mem, hw::tegra::tegra210_soc());
  ModelFlush flush(mmu);
  auto pgt = std::move(TegraPgtable::alloc(34, mem, *pages, &flush, &flush)).value();
  attach(mmu, pgt->ptb_data());
  using Kind = hw::TranslateOutcome::Kind;
  // The empty directory is cached by a faulting walk; mapping must flush it.
  EXPECT_EQ(mmu.translate(kSdmmc1a, 0x20000000, hw::Access::read).kind, Kind::faulted);
  for (int round = 0; round < 20; ++round) {
    const uint64_t iova = 0x20000000 + round * 0x5000;
    ASSERT_TRUE(pgt->map(iova, kPaLow + round * 0x1000, 0x2000, iommu::IOMMU_READ | iommu::IOMMU_WRITE).ok());
    auto t = mmu.translate(kSdmmc1a, iova + 0x1004, hw::Access::write);
    ASSERT_EQ(t.kind, Kind::translated) << round;
    EXPECT_EQ(t.pa, kPaLow + round * 0x1000 + 0x1004);
    iommu::IotlbGather g;
    ASSERT_EQ(pgt->unmap(iova, 0x2000, &g), 0x2000u);
    flush.tlb_flush_walk(g.start, g.end - g.start + 1, 4096);  // the driver's iotlb_sync
    EXPECT_EQ(mmu.translate(kSdmmc1a, iova + 0x1004, hw::Access::read).kind, Kind::faulted) << round;
    mmu.write(hw::tegra::MC_INTSTATUS, ~0u, 4);
  }
}

TEST(TegraPgtableLimits, OutOfRangeAndMisalignedRequestsAreRefusedAndEntriesMatchLinux) {
  hw::PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
  auto pages = std::move(mm::PageAllocator::create(mem, kRam, 16ull << 20)).value();
  auto pgt = std::move(TegraPgtable::alloc(34, mem, *pages, nullptr, nullptr)).value();
  size_t mapped = 7;
  EXPECT_EQ(pgt->map_pages(0xfffff000, kPaLow, 4096, 2, iommu::IOMMU_READ, &mapped).error().code, Errc::range);
  EXPECT_EQ(mapped, 0u);
  EXPECT_EQ(pgt->iova_to_phys(0x100000000ull).error().code, Errc::range);
  EXPECT_EQ(pgt->unmap(0x100000000ull, 4096, nullptr), 0u);
  EXPECT_EQ(pgt->map(0x2000, uint64_t{1} << 34, 4096, iommu::IOMMU_READ).error().code, Errc::range);
  EXPECT_EQ(pgt->map_pages(0x3800, kPaLow, 4096, 1, iommu::IOMMU_READ, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->map_pages(0x4000, kPaLow, 8192, 1, iommu::IOMMU_READ, &mapped).error().code, Errc::inval);
  EXPECT_EQ(pgt->unmap(0x4800, 4096, nullptr), 0u);
  EXPECT_EQ(TegraPgtable::alloc(31, mem, *pages, nullptr, nullptr).error().code, Errc::inval);
  // Linux SMMU_MK_PDE(pt, ATTR | NEXT) and SMMU_PHYS_PFN(pa) | NS | R | W.
  ASSERT_TRUE(pgt->map(0x00401000, 0x3fffff000ull, 4096, iommu::IOMMU_READ | iommu::IOMMU_WRITE).ok());
  const uint32_t pde = mem.read32(pgt->directory() + 4 * 1).value();
  EXPECT_EQ(pde & 0xf0000000u, 0xf0000000u);
  const uint32_t pte = mem.read32((uint64_t{pde & 0x3fffff} << 12) + 4 * 1).value();
  EXPECT_EQ(pte, 0x3fffffu | 0xe0000000u);
  EXPECT_EQ(pgt->iova_to_phys(0x00401abc).value(), 0x3fffffabcull);
  EXPECT_EQ(pgt->ptb_data(), static_cast<uint32_t>(pgt->directory() >> 12) | 0xe0000000u);
  // Read-only: NS | R.
  ASSERT_TRUE(pgt->map(0x00402000, kPaLow, 4096, iommu::IOMMU_READ).ok());
  EXPECT_EQ(mem.read32((uint64_t{pde & 0x3fffff} << 12) + 4 * 2).value(), static_cast<uint32_t>(kPaLow >> 12) | 0xa0000000u);
}

}  // namespace
}  // namespace modiommu::tegra_smmu
