// Tegra SMMU model tests: registers driven directly as Linux's tegra-smmu.c
// writes them, tables written by hand in emulated RAM.
#include "hw/tegra/tegra_smmu.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "hw/dma.h"
#include "hw/irq.h"
#include "hw/memory.h"
#include "hw/tegra/regs.h"
#include "hw/tegra/soc.h"

namespace modiommu::hw::tegra {
namespace {

using Kind = TranslateOutcome::Kind;

constexpr uint64_t kRam = 0x80000000, kRamSize = 16ull << 20;
constexpr uint64_t kHighRam = 0x300000000ull;  // above 32 bits, below 34
// Tegra210 swgroups (dt-bindings/memory/tegra210-mc.h) and their registers.
constexpr uint32_t kDc = 1, kSdmmc1a = 18, kHc = 6;
constexpr uint64_t kDcAsid = 0x240, kSdmmc1aAsid = 0xa94, kHcAsid = 0x250;
constexpr uint32_t kAttr = ATTR_READABLE | ATTR_WRITABLE | ATTR_NONSECURE;

class TegraSmmuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    ASSERT_TRUE(mem.add_ram(kHighRam, 1 << 20).ok());
    smmu = std::make_unique<TegraSmmu>("mc", mem, tegra210_soc(), &irq, 8);
  }
  uint32_t rd(uint64_t off) { return static_cast<uint32_t>(smmu->read(off, 4)); }
  void wr(uint64_t off, uint32_t v) { smmu->write(off, v, 4); }
  // Directory pd, page table pt for iova's PDE, a PTE for iova.
  void map(uint64_t pd, uint64_t pt, uint32_t iova, uint64_t pa, uint32_t attr) {
    ASSERT_TRUE(mem.write32(pd + 4 * IovaPde::get(iova), static_cast<uint32_t>(pt >> 12) | kAttr | PDE_NEXT).ok());
    ASSERT_TRUE(mem.write32(pt + 4 * IovaPte::get(iova), static_cast<uint32_t>(pa >> 12) | attr).ok());
  }
  void ptb(unsigned asid, uint64_t pd, uint32_t attr = kAttr) {
    wr(SMMU_PTB_ASID, asid);
    wr(SMMU_PTB_DATA, static_cast<uint32_t>(pd >> 12) | attr);
  }
  // Linux tegra_smmu_enable for the SDMMC1A swgroup (clients sdmmcra
  // bit 0 and sdmmcwa bit 4 of MC_SMMU_TRANSLATION_ENABLE_3).
  void enable_sdmmc(unsigned asid, uint32_t clients = 0x11) {
    wr(kSdmmc1aAsid, SMMU_ASID_ENABLE | asid);
    wr(0x234, rd(0x234) | clients);
  }
  void on() {
    wr(MC_INTMASK, MC_INT_INVALID_SMMU_PAGE);
    wr(SMMU_CONFIG, SMMU_CONFIG_ENABLE);
  }

  PhysicalMemory mem;
  IrqLine irq{"mc"};
  std::unique_ptr<TegraSmmu> smmu;
};

TEST_F(TegraSmmuTest, ResetStateIsUntranslatedAndAnEscapeForADescribedMaster) {
  EXPECT_FALSE(smmu->enabled());
  EXPECT_EQ(rd(kDcAsid), 0u);
  EXPECT_EQ(rd(0x228), 0u);
  auto o = smmu->translate(kDc, kRam + 0x123, Access::read);
  EXPECT_EQ(o.kind, Kind::bypassed);
  EXPECT_EQ(o.pa, kRam + 0x123);
  UpstreamPort port(mem);
  port.set_translator(std::shared_ptr<TegraSmmu>(smmu.get(), [](TegraSmmu*) {}), kDc);
  port.set_untranslated_allowed(false);
  uint8_t buf[64];
  ASSERT_TRUE(port.read(kRam, buf, sizeof buf).ok());
  EXPECT_EQ(port.stats().escapes, 1u);
}

TEST_F(TegraSmmuTest, TranslationNeedsConfigClientBitAndAsidEnable) {
  const uint64_t pd = kRam, pt = kRam + 0x1000, page = kHighRam + 0x5000;
  map(pd, pt, 0x12345000, page, ATTR_READABLE | ATTR_NONSECURE);
  ptb(3, pd);
  enable_sdmmc(3);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x12345000, Access::read).kind, Kind::bypassed);  // SMMU_CONFIG off
  on();
  auto o = smmu->translate(kSdmmc1a, 0x12345678, Access::read);
  ASSERT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, page + 0x678);  // a 34-bit output address
  EXPECT_EQ(o.span, 0x1000u - 0x678);
  // Another swgroup, not enabled: untranslated.
  EXPECT_EQ(smmu->translate(kHc, 0x12345000, Access::read).kind, Kind::bypassed);
  // ASID register disabled (Linux tegra_smmu_disable order reversed): untranslated.
  wr(kSdmmc1aAsid, 3);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x12345000, Access::read).kind, Kind::bypassed);
  // Only the read client switched: reads translate, writes (sdmmcwa) pass.
  wr(kSdmmc1aAsid, SMMU_ASID_ENABLE | 3);
  wr(0x234, 0x01);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x12345000, Access::read).kind, Kind::translated);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x12345000, Access::write).kind, Kind::bypassed);
  EXPECT_EQ(rd(kSdmmc1aAsid), SMMU_ASID_ENABLE | 3);
}

TEST_F(TegraSmmuTest, PermissionsOfPteAndDirectoryAndFaultReporting) {
  const uint64_t pd = kRam, pt = kRam + 0x1000;
  map(pd, pt, 0x00400000, kRam + 0x80000, ATTR_READABLE | ATTR_NONSECURE);
  ptb(5, pd);
  enable_sdmmc(5);
  on();
  const uint64_t raised = irq.count();
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00400010, Access::write).kind, Kind::faulted);
  EXPECT_EQ(irq.count(), raised + 1);
  EXPECT_EQ(rd(MC_INTSTATUS), MC_INT_INVALID_SMMU_PAGE);
  const uint32_t st = rd(MC_ERR_STATUS);
  EXPECT_EQ(ErrType::get(st), ERR_TYPE_INVALID_SMMU_PAGE);
  EXPECT_EQ(ErrClient::get(st), 0x64u);  // sdmmcwa
  EXPECT_NE(st & ERR_RW, 0u);
  EXPECT_NE(st & ERR_READABLE, 0u);
  EXPECT_EQ(st & ERR_WRITABLE, 0u);
  EXPECT_EQ(rd(MC_ERR_ADR), 0x00400010u);
  // A second fault while the first is pending: counted, not latched, no edge.
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00800000, Access::read).kind, Kind::faulted);
  EXPECT_EQ(rd(MC_ERR_ADR), 0x00400010u);
  EXPECT_EQ(irq.count(), raised + 1);
  wr(MC_INTSTATUS, MC_INT_INVALID_SMMU_PAGE);
  EXPECT_EQ(rd(MC_INTSTATUS), 0u);
  // A directory without write permission blocks writes before any walk.
  map(pd, pt, 0x00401000, kRam + 0x81000, kAttr);
  ptb(5, pd, ATTR_READABLE | ATTR_NONSECURE);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00401000, Access::read).kind, Kind::translated);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00401000, Access::write).kind, Kind::faulted);
  EXPECT_EQ(ErrClient::get(rd(MC_ERR_STATUS)), 0x64u);
  EXPECT_EQ(smmu->stats().faults, 3u);
  // Above 32 bits of IOVA nothing is mapped.
  wr(MC_INTSTATUS, ~0u);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x100000000ull, Access::read).kind, Kind::faulted);
}

TEST_F(TegraSmmuTest, MaskedFaultRaisesWhenUnmasked) {
  ptb(1, kRam);
  enable_sdmmc(1);
  wr(SMMU_CONFIG, SMMU_CONFIG_ENABLE);
  const uint64_t raised = irq.count();
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x1000, Access::read).kind, Kind::faulted);  // empty directory
  EXPECT_EQ(irq.count(), raised);
  wr(MC_INTMASK, MC_INT_INVALID_SMMU_PAGE);
  EXPECT_EQ(irq.count(), raised + 1);
  EXPECT_EQ(ErrClient::get(rd(MC_ERR_STATUS)), 0x60u);  // sdmmcra
}

TEST_F(TegraSmmuTest, TlbIsTaggedByAsidAndFlushedByGroupSectionAsidOrAll) {
  const uint64_t pd = kRam, pt = kRam + 0x1000;
  map(pd, pt, 0x00010000, kRam + 0x80000, kAttr);
  ptb(7, pd);
  enable_sdmmc(7);
  on();
  ASSERT_EQ(smmu->translate(kSdmmc1a, 0x00010000, Access::read).pa, kRam + 0x80000);
  EXPECT_EQ(smmu->tlb_size(), 1u);
  // The PTE changes in RAM; the PTC is flushed (Linux does it first) but
  // not the TLB: the old translation is still used.
  ASSERT_TRUE(mem.write32(pt + 4 * 0x10, static_cast<uint32_t>((kRam + 0x90000) >> 12) | kAttr).ok());
  wr(SMMU_PTC_FLUSH, 0);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00010000, Access::read).pa, kRam + 0x80000);
  // Another ASID's flush and another group's flush leave it.
  wr(SMMU_TLB_FLUSH, TLB_FLUSH_ASID_MATCH | TlbFlushAsid::prep(6) | TLB_FLUSH_MATCH_ALL);
  wr(SMMU_TLB_FLUSH, TLB_FLUSH_ASID_MATCH | TlbFlushAsid::prep(7) | TLB_FLUSH_MATCH_GROUP | ((0x00014000u) >> 12));
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00010000, Access::read).pa, kRam + 0x80000);
  // Linux smmu_flush_tlb_group for the right group drops it.
  wr(SMMU_TLB_FLUSH, TLB_FLUSH_ASID_MATCH | TlbFlushAsid::prep(7) | TLB_FLUSH_MATCH_GROUP | ((0x00010000u) >> 12));
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00010000, Access::read).pa, kRam + 0x90000);
  // A section flush (4 MiB) and a flush of everything.
  wr(SMMU_TLB_FLUSH, TLB_FLUSH_ASID_MATCH | TlbFlushAsid::prep(7) | TLB_FLUSH_MATCH_SECTION | (0x00400000u >> 12));
  EXPECT_EQ(smmu->tlb_size(), 1u);
  wr(SMMU_TLB_FLUSH, TLB_FLUSH_ASID_MATCH | TlbFlushAsid::prep(7) | TLB_FLUSH_MATCH_SECTION | (0x00000000u >> 12));
  EXPECT_EQ(smmu->tlb_size(), 0u);
  (void)smmu->translate(kSdmmc1a, 0x00010000, Access::read);
  wr(SMMU_TLB_FLUSH, TLB_FLUSH_MATCH_ALL);
  EXPECT_EQ(smmu->tlb_size(), 0u);
}

TEST_F(TegraSmmuTest, PageTableCacheHoldsTableWordsUntilFlushedByAtomOrAll) {
  const uint64_t pd = kRam, pt = kRam + 0x1000;
  ptb(2, pd);
  enable_sdmmc(2);
  on();
  // The walk caches the empty PDE.
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00002000, Access::read).kind, Kind::faulted);
  wr(MC_INTSTATUS, ~0u);
  map(pd, pt, 0x00002000, kRam + 0x80000, kAttr);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00002000, Access::read).kind, Kind::faulted);  // stale PDE
  wr(MC_INTSTATUS, ~0u);
  // A flush of another atom does nothing; the PDE's atom (Linux
  // smmu_flush_ptc(pd_dma, offset)) does.
  wr(SMMU_PTC_FLUSH_HI, 0);
  wr(SMMU_PTC_FLUSH, static_cast<uint32_t>(pd + 0x40) | PTC_FLUSH_TYPE_ADR);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00002000, Access::read).kind, Kind::faulted);
  wr(MC_INTSTATUS, ~0u);
  wr(SMMU_PTC_FLUSH, static_cast<uint32_t>(pd) | PTC_FLUSH_TYPE_ADR);
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x00002000, Access::read).pa, kRam + 0x80000);
  EXPECT_GT(smmu->stats().ptc_hits, 0u);
}

TEST_F(TegraSmmuTest, PtbDataIsPerAsidAndReadBackThroughPtbAsid) {
  ptb(0, kRam);
  ptb(127, kRam + 0x2000, ATTR_READABLE);
  wr(SMMU_PTB_ASID, 0);
  EXPECT_EQ(rd(SMMU_PTB_DATA), static_cast<uint32_t>(kRam >> 12) | kAttr);
  wr(SMMU_PTB_ASID, 127);
  EXPECT_EQ(rd(SMMU_PTB_DATA), static_cast<uint32_t>((kRam + 0x2000) >> 12) | ATTR_READABLE);
  EXPECT_EQ(rd(SMMU_PTB_ASID), 127u);
}

TEST_F(TegraSmmuTest, HostileRegisterWritesNeverCrashAndAreIgnoredOrMasked) {
  std::mt19937 rng(18);
  for (int i = 0; i < 400; ++i) {
    const uint64_t off = rng() % 0x1000 & ~3u;
    smmu->write(off, rng(), i % 7 == 0 ? 2 : 4);
    (void)smmu->read(off, 4);
    (void)smmu->translate(rng() % 40, rng(), rng() % 2 ? Access::read : Access::write);
  }
  wr(SMMU_PTB_ASID, 0xffffffff);  // only 7 bits
  EXPECT_LT(rd(SMMU_PTB_ASID), 128u);
  wr(kDcAsid, 0xffffffff);
  EXPECT_EQ(rd(kDcAsid), SMMU_ASID_ENABLE | SMMU_ASID_MASK);
  wr(0x9c0, 1);  // not an SMMU register
  EXPECT_EQ(rd(0x9c0), 0u);
  EXPECT_GT(smmu->stats().ignored_writes, 0u);
  // A directory outside RAM: the access faults, nothing crashes.
  ptb(1, 0xfff000000ull);
  enable_sdmmc(1);
  on();
  EXPECT_EQ(smmu->translate(kSdmmc1a, 0x1000, Access::read).kind, Kind::faulted);
}

TEST(TegraSoc, TablesMatchLinuxForTheSwgroupsTreesUse) {
  const SmmuSoc& t210 = tegra210_soc();
  EXPECT_EQ(t210.num_asids, 128u);
  ASSERT_NE(find_swgroup(t210, 6), nullptr);
  EXPECT_EQ(find_swgroup(t210, 6)->asid_reg, 0x250);  // hc
  EXPECT_EQ(find_swgroup(t210, 30)->asid_reg, 0xad4);  // tsecb
  EXPECT_EQ(find_swgroup(t210, 0), nullptr);  // ptc: no ASID register
  const SmmuSoc& t124 = tegra124_soc();
  EXPECT_EQ(find_swgroup(t124, 10)->asid_reg, 0x27c);  // vde (Tegra124 numbering)
  EXPECT_EQ(soc_for_compatible("nvidia,tegra132-mc"), &t124);
  EXPECT_EQ(soc_for_compatible("nvidia,tegra30-mc"), nullptr);
  // Every client's enable bit is one of the five enable registers.
  for (const auto* soc : {&t210, &t124})
    for (const auto& c : soc->clients) {
      bool known = false;
      for (uint64_t r : kClientEnableRegs) known = known || r == c.smmu_reg;
      EXPECT_TRUE(known) << c.name;
      EXPECT_NE(find_swgroup(*soc, c.swgroup), nullptr) << c.name;
    }
}

}  // namespace
}  // namespace modiommu::hw::tegra
