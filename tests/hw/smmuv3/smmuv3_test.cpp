#include <gtest/gtest.h>

#include "smmuv3_harness.h"

namespace modiommu::hw::testing {
namespace {

using Kind = TranslateOutcome::Kind;

TEST(SmmuV3Regs, IdRegistersReflectFeatures) {
  Features f;
  f.stage2 = false;
  f.sid_bits = 12;
  f.cmdq_log2 = 10;
  f.eventq_log2 = 9;
  f.gran16k = false;
  f.oas_bits = 44;
  SmmuHarness h(f);
  const uint32_t idr0 = h.r32(IDR0), idr1 = h.r32(IDR1), idr5 = h.r32(IDR5);
  EXPECT_EQ(idr0 & 3u, 2u);  // S1P only
  EXPECT_EQ(idr0::TTF::get(idr0), 2u);
  EXPECT_EQ(idr0::ST_LEVEL::get(idr0), 1u);
  EXPECT_EQ(idr1 & 0x3fu, 12u);
  EXPECT_EQ(idr1::CMDQS::get(idr1), 10u);
  EXPECT_EQ(idr1::EVENTQS::get(idr1), 9u);
  EXPECT_EQ(idr5 & 7u, 4u);  // 44 bits
  EXPECT_EQ(idr5::GRAN16K::get(idr5), 0u);
  EXPECT_EQ(idr5::GRAN4K::get(idr5), 1u);
  // Page 1 holds the event queue pointers; IDR registers are read-only.
  h.w32(IDR0, 0);
  EXPECT_EQ(h.r32(IDR0), idr0);
  EXPECT_EQ(h.bus.bus_error_count(), 0u);
}

TEST(SmmuV3Regs, Cr0AckAndBaseRegistersLockedWhileEnabled) {
  SmmuHarness h;
  h.enable();
  EXPECT_EQ(h.r32(CR0ACK), CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN);
  h.w64(STRTAB_BASE, 0x12340000);
  EXPECT_EQ(h.r64(STRTAB_BASE), kStrtab);
  h.w64(CMDQ_BASE, 0x1000);
  EXPECT_EQ(h.r64(CMDQ_BASE), kCmdq | 6);
  h.w32(CR0, 0);
  h.w64(STRTAB_BASE, 0x12340000);
  EXPECT_EQ(h.r64(STRTAB_BASE), 0x12340000u);
}

TEST(SmmuV3Gbpa, AbortBlocksAndBypassPassesWhileDisabled) {
  SmmuHarness h;
  // Reset GBPA: bypass.
  EXPECT_EQ(h.tr(1, 0x50000000).kind, Kind::bypassed);
  // Without UPDATE the write is ignored.
  h.w32(GBPA, GBPA_ABORT);
  EXPECT_EQ(h.r32(GBPA) & GBPA_ABORT, 0u);
  EXPECT_EQ(h.tr(1, 0x50000000).kind, Kind::bypassed);
  h.w32(GBPA, GBPA_UPDATE | GBPA_ABORT);
  EXPECT_EQ(h.r32(GBPA), GBPA_ABORT);  // UPDATE completes at once
  EXPECT_EQ(h.tr(1, 0x50000000).kind, Kind::faulted);
  EXPECT_EQ(h.drain_events(), 0u);  // GBPA abort records nothing

  // Through a port: aborted transfer vs bypass counted as bypassed.
  UpstreamPort port(h.mem);
  port.set_translator(h.smmu, 7);
  uint8_t buf[64];
  EXPECT_FALSE(port.read(kData, buf, sizeof buf).ok());
  EXPECT_EQ(port.stats().faulted, 1u);
  h.w32(GBPA, GBPA_UPDATE);
  ASSERT_TRUE(port.read(kData, buf, sizeof buf).ok());
  EXPECT_EQ(port.stats().bypassed, 1u);
  EXPECT_EQ(port.stats().translated, 0u);
}

struct SmmuS1 : ::testing::Test {
  SmmuHarness h;
  std::unique_ptr<TableBuilder> tb;
  void SetUp() override {
    tb = std::make_unique<TableBuilder>(h.mem, kTables, arm::Granule::k4K, arm::Stage::s1, 48, 0);
    h.put_cd(kCds, 5, tb->root());
    h.put_ste(3, Ste::s1(kCds));
    h.enable();
  }
};

TEST_F(SmmuS1, TranslatesThroughStage1) {
  tb->map(0x10000, kData + 0x3000, 3);
  auto o = h.tr(3, 0x10010);
  ASSERT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, kData + 0x3010);
  EXPECT_EQ(o.span, 0x1000u - 0x10);
  // Second time from the IOTLB.
  const auto hits = h.smmu->stats().tlb_hits;
  EXPECT_EQ(h.tr(3, 0x10020).pa, kData + 0x3020);
  EXPECT_EQ(h.smmu->stats().tlb_hits, hits + 1);
}

TEST_F(SmmuS1, StaleUntilTlbiThenNeverStale) {
  tb->map(0x10000, kData + 0x3000, 3);
  ASSERT_EQ(h.tr(3, 0x10000).pa, kData + 0x3000);
  tb->map(0x10000, kData + 0x9000, 3);  // remap without invalidation
  EXPECT_EQ(h.tr(3, 0x10000).pa, kData + 0x3000);  // the IOTLB may hold the old entry
  h.tlbi_nh_va(0, 5, 0x10000);
  h.sync();
  EXPECT_EQ(h.tr(3, 0x10000).pa, kData + 0x9000);
  // Other ASID / VA invalidations don't drop it; NH_ASID does.
  tb->map(0x10000, kData + 0xa000, 3);
  h.tlbi_nh_va(0, 6, 0x10000);
  h.tlbi_nh_va(0, 5, 0x20000);
  EXPECT_EQ(h.tr(3, 0x10000).pa, kData + 0x9000);
  h.cmd(CMD_TLBI_NH_ASID | (5ull << 48));
  EXPECT_EQ(h.tr(3, 0x10000).pa, kData + 0xa000);
  tb->map(0x10000, kData + 0xb000, 3);
  h.cmd(CMD_TLBI_NH_VAA, 0x10000);
  EXPECT_EQ(h.tr(3, 0x10000).pa, kData + 0xb000);
  tb->map(0x10000, kData + 0xc000, 3);
  h.cmd(CMD_TLBI_NH_ALL);
  EXPECT_EQ(h.tr(3, 0x10000).pa, kData + 0xc000);
  tb->map(0x10000, kData + 0xd000, 3);
  h.cmd(CMD_TLBI_NSNH_ALL);
  EXPECT_EQ(h.tr(3, 0x10000).pa, kData + 0xd000);
  tb->map(0x10000, kData + 0xe000, 3);
  h.cmd(CMD_TLBI_EL2_ALL);
  EXPECT_EQ(h.tr(3, 0x10000).pa, kData + 0xe000);
  EXPECT_TRUE(h.cmdq_drained());
}

TEST_F(SmmuS1, BlockEntryInvalidatedByAnyAddressInIt) {
  tb->map(0x200000, kData, 2);  // 2 MiB block
  auto o = h.tr(3, 0x200000 + 0x12345);
  ASSERT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, kData + 0x12345);
  EXPECT_EQ(o.span, 0x200000u - 0x12345);
  tb->map(0x200000, kData + 0x400000, 2);
  h.tlbi_nh_va(0, 5, 0x200000 + 0x1000);
  EXPECT_EQ(h.tr(3, 0x200000 + 0x12345).pa, kData + 0x400000 + 0x12345);
}

TEST_F(SmmuS1, ConfigCachedUntilCfgi) {
  tb->map(0x10000, kData, 3);
  ASSERT_EQ(h.tr(3, 0x10000).kind, Kind::translated);
  h.put_ste(3, Ste::bypass());
  EXPECT_EQ(h.tr(3, 0x10000).kind, Kind::translated);  // cached STE
  h.cfgi_ste(3);
  h.sync();
  EXPECT_EQ(h.tr(3, 0x10000).kind, Kind::bypassed);
  h.put_ste(3, Ste::abort());
  h.cmd(CMD_CFGI_STE_RANGE | (2ull << 32), 1);  // SIDs 0..3
  EXPECT_EQ(h.tr(3, 0x10000).kind, Kind::faulted);
  EXPECT_EQ(h.drain_events(), 0u);  // abort STE: no event
  h.put_ste(3, Ste::s1(kCds));
  h.cfgi_all();
  EXPECT_EQ(h.tr(3, 0x10000).kind, Kind::translated);
  // CD change needs CFGI_CD (or CD_ALL).
  h.put_cd(kCds, 5, tb->root(), 16, 0);
  uint64_t w0 = h.mem.read64(kCds).value();
  ASSERT_TRUE(h.mem.write64(kCds, w0 & ~(1ull << 31)).ok());  // V=0
  h.cmd(CMD_TLBI_NH_ALL);
  EXPECT_EQ(h.tr(3, 0x10000).kind, Kind::translated);
  h.cmd(CMD_CFGI_CD | (3ull << 32), 1);
  EXPECT_EQ(h.tr(3, 0x10000).kind, Kind::faulted);
  auto e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, C_BAD_CD);
  EXPECT_EQ(e->stream_id, 3u);
  ASSERT_TRUE(h.mem.write64(kCds, w0).ok());
  h.cmd(CMD_CFGI_CD_ALL | (3ull << 32));
  h.cmd(CMD_PREFETCH_CONFIG | (3ull << 32));
  h.cmd(CMD_PREFETCH_ADDR | (3ull << 32));
  EXPECT_EQ(h.tr(3, 0x10000).kind, Kind::translated);
  EXPECT_TRUE(h.cmdq_drained());
}

TEST_F(SmmuS1, FaultEvents) {
  tb->map(0x1000, kData, 3, Attr{true, false, true});     // read-only
  tb->map(0x2000, kData, 3, Attr{true, true, false});     // AF=0
  tb->map(0x3000, uint64_t{1} << 47, 3);                  // beyond IPS? OAS 48: fine; use raw below
  tb->raw(0x4000, 3, (uint64_t{1} << 47) | 3 | (1 << 10));  // fits 48 bits: valid but not RAM
  struct Case {
    uint64_t iova;
    Access a;
    uint8_t type;
  } cases[] = {
      {0x1000, Access::write, F_PERMISSION},
      {0x2000, Access::read, F_ACCESS},
      {0x9000, Access::read, F_TRANSLATION},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(h.tr(3, c.iova + 0x18, c.a).kind, Kind::faulted);
    auto e = h.pop_event();
    ASSERT_TRUE(e) << int(c.type);
    EXPECT_EQ(e->type, c.type);
    EXPECT_EQ(e->stream_id, 3u);
    EXPECT_EQ(e->input_addr, c.iova + 0x18);
    EXPECT_EQ(e->rnw, c.a == Access::read);
    EXPECT_FALSE(e->s2);
    EXPECT_EQ(e->cls, unsigned(CLASS_IN));
  }
  // Walk hitting non-RAM: F_WALK_EABT with the descriptor address.
  tb->raw(0x40000000000ull, 2, 0x20000000 | 3);
  EXPECT_EQ(h.tr(3, 0x40000000000ull).kind, Kind::faulted);
  auto e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, F_WALK_EABT);
  EXPECT_EQ(e->fetch_addr, 0x20000000u);
  EXPECT_EQ(e->cls, unsigned(CLASS_TT));
  EXPECT_GE(h.eventq_irq.count(), 4u);
}

TEST(SmmuV3Events, AddressSizeFaultFromCdIps) {
  SmmuHarness h;
  TableBuilder tb(h.mem, kTables, arm::Granule::k4K, arm::Stage::s1, 48, 0);
  tb.raw(0x1000, 3, (uint64_t{1} << 40) | 3 | (1 << 10));  // OA needs 41 bits
  uint64_t w[8];
  cd_words(w, 1, tb.root());
  w[0] = (w[0] & ~(7ull << 32)) | (2ull << 32);  // IPS = 40 bits
  ASSERT_TRUE(h.mem.write(kCds, w, 64).ok());
  h.put_ste(0, Ste::s1(kCds));
  h.enable();
  EXPECT_EQ(h.tr(0, 0x1000).kind, Kind::faulted);
  auto e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, F_ADDR_SIZE);
  EXPECT_EQ(e->input_addr, 0x1000u);
}

TEST(SmmuV3Events, ConfigErrors) {
  SmmuHarness h(Features{}, 4);  // 16 STEs
  h.enable();
  Ste invalid;  // V=0
  h.put_ste(1, invalid);
  Ste reserved;
  reserved.w[0] = 1 | (0b010 << 1);
  h.put_ste(2, reserved);
  h.put_ste(3, Ste::s1(0x30000000));  // CD outside RAM
  Ste s2bad = Ste::s2(1, kTables, 24, 3);  // SL0=3 reserved
  h.put_ste(4, s2bad);
  struct Case {
    uint32_t sid;
    uint8_t type;
  } cases[] = {{1, C_BAD_STE}, {2, C_BAD_STE}, {3, F_CD_FETCH}, {4, C_BAD_STE}, {16, C_BAD_STREAMID}};
  for (const auto& c : cases) {
    EXPECT_EQ(h.tr(c.sid, 0x1000).kind, Kind::faulted);
    auto e = h.pop_event();
    ASSERT_TRUE(e) << c.sid;
    EXPECT_EQ(e->type, c.type) << c.sid;
    EXPECT_EQ(e->stream_id, c.sid);
  }
  // Not cached: fixing the STE needs no CFGI.
  h.put_ste(1, Ste::bypass());
  EXPECT_EQ(h.tr(1, 0x1000).kind, Kind::bypassed);

  // Stream table outside RAM: F_STE_FETCH naming the STE address.
  h.w32(CR0, 0);
  h.w64(STRTAB_BASE, 0x20000000);
  h.enable();
  EXPECT_EQ(h.tr(2, 0x1000).kind, Kind::faulted);
  auto e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, F_STE_FETCH);
  EXPECT_EQ(e->fetch_addr, 0x20000000u + 2 * 64);
}

TEST(SmmuV3Strtab, TwoLevel) {
  SmmuHarness h;
  // 2-level: LOG2SIZE 16, SPLIT 8; L1 descriptor 1 covers SIDs 256..511
  // with SPAN 3 -> 4 STEs.
  h.w32(STRTAB_BASE_CFG, strtab_cfg::LOG2SIZE::prep(16) | strtab_cfg::SPLIT::prep(8) | strtab_cfg::FMT::prep(1));
  const uint64_t l2 = kStrtab + 0x10000;
  ASSERT_TRUE(h.mem.write64(kStrtab + 8, l2 | 3).ok());
  h.put_ste(2, Ste::bypass(), l2);
  h.put_ste(1, Ste::abort(), l2);
  h.enable();
  EXPECT_EQ(h.tr(258, 0x1000).kind, Kind::bypassed);
  EXPECT_EQ(h.tr(257, 0x1000).kind, Kind::faulted);
  EXPECT_EQ(h.drain_events(), 0u);
  EXPECT_EQ(h.tr(256 + 4, 0x1000).kind, Kind::faulted);  // beyond SPAN
  EXPECT_EQ(h.pop_event()->type, C_BAD_STREAMID);
  EXPECT_EQ(h.tr(5, 0x1000).kind, Kind::faulted);  // L1 descriptor 0: SPAN 0
  EXPECT_EQ(h.pop_event()->type, C_BAD_STREAMID);
}

struct SmmuS2 : ::testing::Test {
  SmmuHarness h;
  std::unique_ptr<TableBuilder> s2;
  void SetUp() override {
    // 40-bit IPA, 4K, start level 1 (SL0=1), 2 concatenated tables.
    s2 = std::make_unique<TableBuilder>(h.mem, kTables, arm::Granule::k4K, arm::Stage::s2, 40, 1);
    h.put_ste(9, Ste::s2(7, s2->root()));
    h.enable();
  }
};

TEST_F(SmmuS2, TranslatesAndInvalidatesByIpa) {
  s2->map(0x80000000, kData + 0x5000, 3);
  auto o = h.tr(9, 0x80000008, Access::write);
  ASSERT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, kData + 0x5008);
  s2->map(0x80000000, kData + 0x6000, 3);
  EXPECT_EQ(h.tr(9, 0x80000008).pa, kData + 0x5008);
  h.cmd(CMD_TLBI_S2_IPA | (6ull << 32), 0x80000000);  // other VMID
  EXPECT_EQ(h.tr(9, 0x80000008).pa, kData + 0x5008);
  h.cmd(CMD_TLBI_S2_IPA | (7ull << 32), 0x80000000);
  EXPECT_EQ(h.tr(9, 0x80000008).pa, kData + 0x6008);
  s2->map(0x80000000, kData + 0x7000, 3);
  h.cmd(CMD_TLBI_S12_VMALL | (7ull << 32));
  EXPECT_EQ(h.tr(9, 0x80000008).pa, kData + 0x7008);
}

TEST_F(SmmuS2, Stage2FaultEvent) {
  s2->map(0x80000000, kData, 3, Attr{true, false, true});
  EXPECT_EQ(h.tr(9, 0x80000010, Access::write).kind, Kind::faulted);
  auto e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, F_PERMISSION);
  EXPECT_TRUE(e->s2);
  EXPECT_EQ(e->input_addr, 0x80000010u);
  EXPECT_EQ(e->ipa, 0x80000000u);
}

TEST_F(SmmuS2, NestedTranslationAndTableFault) {
  // Stage 1 tables and CD live at IPAs mapped by stage 2 (IPA = PA + 1 GiB
  // offset for everything in the table area).
  const uint64_t ipa_off = 0x40000000;
  TableBuilder s1(h.mem, kTables + 0x800000, arm::Granule::k4K, arm::Stage::s1, 48, 0);
  for (uint64_t pa = kTables + 0x800000; pa < kTables + 0x900000; pa += 0x1000) s2->map(pa + ipa_off, pa, 3);
  s2->map(kCds + ipa_off, kCds, 3);
  // s1 tables were written with PA pointers; rewrite them as IPAs by
  // building the S1 table through a builder rooted at PA but linking IPAs.
  s1.map(0x7000, 0x90000000, 3);  // S1 output IPA 0x90000000
  // Fix up table pointers to IPAs: walk the three upper levels.
  uint64_t table = s1.root();
  for (unsigned l = 0; l < 3; ++l) {
    const uint64_t slot = table + s1.index(0x7000, l) * 8;
    const uint64_t d = h.mem.read64(slot).value();
    ASSERT_TRUE(h.mem.write64(slot, d + ipa_off).ok());
    table = d & 0xfffffffff000ull;
  }
  s2->map(0x90000000, kData + 0x2000, 3);
  h.put_cd(kCds, 11, s1.root() + ipa_off);
  h.put_ste(10, Ste::nested(kCds + ipa_off, 7, s2->root()));
  auto o = h.tr(10, 0x7004);
  ASSERT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, kData + 0x2004);
  EXPECT_EQ(h.drain_events(), 0u);
  // A stage-1 table whose IPA stage 2 doesn't map: S2 fault, CLASS=TT.
  s1.raw(0x8000000000ull, 2, (0xA0000000ull) | 3);  // level-3 table at unmapped IPA
  {
    uint64_t t = s1.root();
    for (unsigned l = 0; l < 2; ++l) {
      const uint64_t slot = t + s1.index(0x8000000000ull, l) * 8;
      uint64_t d = h.mem.read64(slot).value();
      if (d < ipa_off * 2) {  // still a PA pointer: convert
        ASSERT_TRUE(h.mem.write64(slot, d + ipa_off).ok());
      } else {
        d -= ipa_off;
      }
      t = d & 0xfffffffff000ull;
    }
  }
  EXPECT_EQ(h.tr(10, 0x8000000000ull).kind, Kind::faulted);
  auto e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, F_TRANSLATION);
  EXPECT_TRUE(e->s2);
  EXPECT_EQ(e->cls, unsigned(CLASS_TT));
  EXPECT_EQ(e->ipa, 0xA0000000u);
}

TEST(SmmuV3Cmdq, IllegalCommandStopsQueueUntilGerrorAck) {
  SmmuHarness h;
  h.enable();
  h.sync();
  h.cmd(0x7f);  // no such opcode
  EXPECT_EQ(h.r32(GERROR) ^ h.r32(GERRORN), GERROR_CMDQ_ERR);
  EXPECT_EQ(CMDQ_CONS_ERR::get(h.r32(CMDQ_CONS)), unsigned(CERROR_ILL));
  EXPECT_EQ(h.r32(CMDQ_CONS) & 0xfffff, 1u);  // points at the bad command
  EXPECT_EQ(h.gerror_irq.count(), 1u);
  const auto syncs = h.smmu->stats().syncs;
  h.sync();  // not consumed while the error is active
  EXPECT_EQ(h.smmu->stats().syncs, syncs);
  EXPECT_EQ(h.r32(CMDQ_CONS) & 0xfffff, 1u);
  // Software replaces the bad command with a SYNC and acks (as Linux does).
  uint64_t c[2] = {CMD_SYNC, 0};
  ASSERT_TRUE(h.mem.write(kCmdq + 16, c, 16).ok());
  h.w32(GERRORN, h.r32(GERROR));
  EXPECT_TRUE(h.cmdq_drained());
  EXPECT_EQ(h.smmu->stats().syncs, syncs + 2);
  EXPECT_EQ(CMDQ_CONS_ERR::get(h.r32(CMDQ_CONS)), 0u);
}

TEST(SmmuV3Cmdq, MalformedAndUnsupportedCommandsAreIllegal) {
  Features f;
  f.sid_bits = 8;
  f.stage2 = false;
  f.sev = false;
  SmmuHarness h(f);
  h.enable();
  const uint64_t bad[] = {
      CMD_CFGI_STE | (256ull << 32),      // SID beyond SIDSIZE
      CMD_SYNC | (3ull << 12),            // CS reserved
      CMD_SYNC | (2ull << 12),            // SEV without IDR0.SEV
      CMD_TLBI_S2_IPA,                    // no stage 2
      CMD_TLBI_EL3_ALL, CMD_ATC_INV, CMD_PRI_RESP, CMD_RESUME, CMD_STALL_TERM,
  };
  for (uint64_t b : bad) {
    h.cmd(b);
    EXPECT_EQ(CMDQ_CONS_ERR::get(h.r32(CMDQ_CONS)), unsigned(CERROR_ILL)) << std::hex << b;
    const uint32_t cons = h.r32(CMDQ_CONS) & 0xfffff;
    uint64_t c[2] = {CMD_SYNC, 0};
    ASSERT_TRUE(h.mem.write(kCmdq + (cons & 63) * 16, c, 16).ok());
    h.w32(GERRORN, h.r32(GERROR));
    EXPECT_TRUE(h.cmdq_drained());
  }
}

TEST(SmmuV3Cmdq, QueueOutsideRamIsAbort) {
  SmmuHarness h;
  h.w64(CMDQ_BASE, 0x20000000 | 4);
  h.enable();
  h.w32(CMDQ_PROD, 1);
  EXPECT_EQ(CMDQ_CONS_ERR::get(h.r32(CMDQ_CONS)), unsigned(CERROR_ABT));
  EXPECT_TRUE(h.r32(GERROR) & GERROR_CMDQ_ERR);
}

TEST(SmmuV3Cmdq, SyncSignalsIrqAndSev) {
  SmmuHarness h;
  h.enable();
  h.cmd(CMD_SYNC | (1ull << 12));
  EXPECT_EQ(h.sync_irq.count(), 1u);
  h.cmd(CMD_SYNC | (2ull << 12));
  EXPECT_EQ(h.smmu->stats().sevs, 1u);
  h.cmd(CMD_SYNC);
  EXPECT_EQ(h.sync_irq.count(), 1u);
  EXPECT_EQ(h.smmu->stats().syncs, 3u);
}

TEST(SmmuV3Cmdq, WrapsAroundManyTimes) {
  SmmuHarness h(Features{}, 8, 2);  // 4-entry command queue
  h.enable();
  for (int i = 0; i < 19; ++i) {
    h.sync();
    ASSERT_TRUE(h.cmdq_drained()) << i;
  }
  EXPECT_EQ(h.smmu->stats().syncs, 19u);
  EXPECT_EQ(h.r32(CMDQ_CONS), (19u) & 7u);  // index + wrap bit
  // A batch filling the queue entirely (PROD = CONS with wrap flipped).
  const uint32_t p = h.r32(CMDQ_PROD);
  for (uint32_t i = 0; i < 4; ++i) {
    uint64_t c[2] = {CMD_SYNC, 0};
    ASSERT_TRUE(h.mem.write(kCmdq + ((p + i) & 3) * 16, c, 16).ok());
  }
  h.w32(CMDQ_PROD, (p + 4) & 7);
  EXPECT_TRUE(h.cmdq_drained());
  EXPECT_EQ(h.smmu->stats().syncs, 23u);
}

TEST(SmmuV3Cmdq, Log2SizeBeyondIdrIsClamped) {
  Features f;
  f.cmdq_log2 = 2;
  SmmuHarness h(f, 8, 2);
  h.w64(CMDQ_BASE, kCmdq | 19);  // hostile: larger than IDR1.CMDQS
  h.enable();
  for (int i = 0; i < 9; ++i) h.sync();  // harness indexes with log2 = 2
  EXPECT_TRUE(h.cmdq_drained());
  EXPECT_EQ(h.smmu->stats().syncs, 9u);
}

TEST(SmmuV3Evtq, OverflowAndRecovery) {
  SmmuHarness h(Features{}, 4, 6, 1);  // 2-entry event queue
  h.enable();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(h.tr(100 + i, 0).kind, Kind::faulted);  // C_BAD_STREAMID
  EXPECT_EQ(h.smmu->stats().events, 2u);
  EXPECT_EQ(h.smmu->stats().events_lost, 3u);
  EXPECT_TRUE((h.r32(EVENTQ_PROD) ^ h.r32(EVENTQ_CONS)) & Q_OVFLG);
  auto e1 = h.pop_event(), e2 = h.pop_event();
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ(e1->stream_id, 100u);
  EXPECT_EQ(e2->stream_id, 101u);
  EXPECT_FALSE(h.pop_event());
  // Ack the overflow; new events flow again and wrap the queue.
  h.w32(EVENTQ_CONS, h.r32(EVENTQ_CONS) ^ Q_OVFLG);
  EXPECT_FALSE((h.r32(EVENTQ_PROD) ^ h.r32(EVENTQ_CONS)) & Q_OVFLG);
  for (uint32_t i = 0; i < 5; ++i) {
    (void)h.tr(200 + i, 0);
    auto e = h.pop_event();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->stream_id, 200 + i);
  }
}

TEST(SmmuV3Evtq, QueueOutsideRamRaisesGerror) {
  SmmuHarness h(Features{}, 4);
  h.w64(EVENTQ_BASE, 0x20000000 | 4);
  h.enable();
  (void)h.tr(99, 0);
  EXPECT_TRUE((h.r32(GERROR) ^ h.r32(GERRORN)) & GERROR_EVENTQ_ABT_ERR);
  EXPECT_EQ(h.gerror_irq.count(), 1u);
  EXPECT_EQ(h.smmu->stats().events_lost, 1u);
}

TEST(SmmuV3Regs, HostileWritesNeverCrash) {
  SmmuHarness h;
  // Every offset of both pages, with patterns; then use the device.
  for (uint64_t off = 0; off < kRegionSize; off += 4) {
    if (off == CMDQ_PROD || off == CR0) continue;
    h.w32(off, 0xffffffffu);
    (void)h.r32(off);
  }
  h.w32(CR0, 0xffffffffu);
  h.w32(CMDQ_PROD, 0xffffffffu);
  for (uint32_t sid = 0; sid < 64; ++sid) (void)h.tr(sid * 977, sid * 0x123456789ull, Access::write);
  // Still a working device: ID registers intact, reset and reprogram works.
  EXPECT_EQ(h.r32(IIDR), 0x43bu);
  h.w32(CR0, 0);
  h.w64(STRTAB_BASE, kStrtab);
  h.w32(STRTAB_BASE_CFG, 8);
  h.put_ste(1, Ste::bypass());
  h.w32(CR0, CR0_SMMUEN);
  EXPECT_EQ(h.tr(1, 0x1234).kind, Kind::bypassed);
  EXPECT_EQ(h.bus.bus_error_count(), 0u);
}

}  // namespace
}  // namespace modiommu::hw::testing

namespace modiommu::hw::testing {
namespace {

using Kind = TranslateOutcome::Kind;

TEST(SmmuV3Ste, SubstreamDefaultsAndEpd0) {
  Features f;
  f.ssid_bits = 4;
  SmmuHarness h(f);
  TableBuilder tb(h.mem, kTables, arm::Granule::k4K, arm::Stage::s1, 48, 0);
  tb.map(0x1000, kData, 3);
  h.put_cd(kCds, 1, tb.root());
  // S1CDMax=2 with S1DSS: 0 terminate, 1 bypass, 2 use CD 0.
  auto with_dss = [&](unsigned dss) {
    Ste s = Ste::s1(kCds);
    s.w[0] |= 2ull << 59;
    s.w[1] = dss;
    return s;
  };
  h.put_ste(1, with_dss(0));
  h.put_ste(2, with_dss(1));
  h.put_ste(3, with_dss(2));
  h.enable();
  EXPECT_EQ(h.tr(1, 0x1000).kind, Kind::faulted);
  auto e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, F_STREAM_DISABLED);
  EXPECT_EQ(h.tr(2, 0x1000).kind, Kind::bypassed);
  auto o = h.tr(3, 0x1000);
  EXPECT_EQ(o.kind, Kind::translated);
  EXPECT_EQ(o.pa, kData);
  // EPD0: walks of TTB0 disabled -> F_TRANSLATION.
  uint64_t w0 = h.mem.read64(kCds).value();
  ASSERT_TRUE(h.mem.write64(kCds, w0 | (1ull << 14)).ok());
  h.cmd(CMD_CFGI_CD | (3ull << 32));
  h.cmd(CMD_TLBI_NH_ALL);
  EXPECT_EQ(h.tr(3, 0x1000).kind, Kind::faulted);
  e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, F_TRANSLATION);
  EXPECT_EQ(e->input_addr, 0x1000u);
}

TEST(SmmuV3Ste, OtherGranulesThroughCd) {
  struct G {
    arm::Granule g;
    unsigned tg;
    uint64_t page;
  } gs[] = {{arm::Granule::k16K, 2, 0x4000}, {arm::Granule::k64K, 1, 0x10000}};
  for (const auto& g : gs) {
    SmmuHarness h;
    // 42-bit VA (T0SZ 22).
    TableBuilder tb(h.mem, kTables, g.g, arm::Stage::s1, 42, arm::s1_start_level(g.g, 42));
    tb.map(5 * g.page, kData + 3 * g.page, 3);
    h.put_cd(kCds, 9, tb.root(), 22, g.tg);
    h.put_ste(0, Ste::s1(kCds));
    h.enable();
    auto o = h.tr(0, 5 * g.page + 0x88);
    ASSERT_EQ(o.kind, Kind::translated) << g.tg;
    EXPECT_EQ(o.pa, kData + 3 * g.page + 0x88);
    EXPECT_EQ(o.span, g.page - 0x88);
    // A granule the SMMU does not implement makes the CD ILLEGAL.
    Features f;
    f.gran64k = false;
    SmmuHarness h2(f);
    h2.put_cd(kCds, 9, kTables, 22, 1);
    h2.put_ste(0, Ste::s1(kCds));
    h2.enable();
    EXPECT_EQ(h2.tr(0, 0).kind, Kind::faulted);
    EXPECT_EQ(h2.pop_event()->type, C_BAD_CD);
  }
}

}  // namespace
}  // namespace modiommu::hw::testing

namespace modiommu::hw::testing {
namespace {

TEST(SmmuV3Regs, SixtyFourBitRegistersByHalvesAndPage1) {
  SmmuHarness h;
  h.w32(STRTAB_BASE, 0x89abc000);
  h.w32(STRTAB_BASE + 4, 0x12);
  EXPECT_EQ(h.r64(STRTAB_BASE), 0x1289abc000ull);
  EXPECT_EQ(h.r32(STRTAB_BASE + 4), 0x12u);
  // Event queue pointers live in page 1 only (IHI 0070 6.2).
  h.w32(EVENTQ_PROD, 3);
  EXPECT_EQ(h.r32(EVENTQ_PROD), 3u);
  EXPECT_EQ(h.r32(EVENTQ_PROD_P0), 0u);
  // Byte accesses are RAZ/WI, not errors.
  h.bus.write(kSmmuBase + CR2, 0xff, 1);
  EXPECT_EQ(h.r32(CR2), 0u);
  EXPECT_EQ(h.bus.read(kSmmuBase + IDR0, 1), 0u);
  // IRQ_CTRLACK follows IRQ_CTRL; PRIQ is not implemented.
  h.w32(IRQ_CTRL, 7);
  EXPECT_EQ(h.r32(IRQ_CTRLACK), IRQ_GERROR | IRQ_EVENTQ);
}

}  // namespace
}  // namespace modiommu::hw::testing
