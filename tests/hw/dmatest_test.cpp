#include "hw/dmatest.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "smmuv3_harness.h"

namespace modiommu::hw::testing {
namespace {

constexpr uint64_t kDev = 0x10000000;

struct DmaFixture : ::testing::Test {
  PhysicalMemory mem;
  MmioBus bus;
  IrqLine irq{"dmatest"};
  std::shared_ptr<DmaTest> dev;
  void SetUp() override {
    ASSERT_TRUE(mem.add_ram(kRam, kRamSize).ok());
    dev = std::make_shared<DmaTest>("dma0", mem, 1 << 20, &irq);
    ASSERT_TRUE(bus.map(kDev, DmaTest::kRegionSize, dev).ok());
  }
  void program(uint64_t src, uint64_t dst, uint32_t len, uint32_t dir) {
    bus.write64(kDev + DmaTest::kSRC, src);
    bus.write64(kDev + DmaTest::kDST, dst);
    bus.write32(kDev + DmaTest::kLEN, len);
    bus.write32(kDev + DmaTest::kDIRECTION, dir);
  }
  uint32_t status() { return bus.read32(kDev + DmaTest::kSTATUS); }
};

TEST_F(DmaFixture, RegistersAndIdentity) {
  EXPECT_EQ(bus.read32(kDev + DmaTest::kID), DmaTest::kId);
  EXPECT_EQ(bus.read32(kDev + DmaTest::kBUF_SIZE), 1u << 20);
  bus.write32(kDev + DmaTest::kSRC, 0x11223344);
  bus.write32(kDev + DmaTest::kSRC + 4, 0x55667788);
  EXPECT_EQ(bus.read64(kDev + DmaTest::kSRC), 0x5566778811223344ull);
}

TEST_F(DmaFixture, DirectWriteThenReadBackChecksum) {
  const uint32_t len = 256 * 1024;
  std::vector<uint8_t> expect(len);
  DmaTest::pattern_fill(42, expect.data(), len);
  bus.write64(kDev + DmaTest::kPATTERN, 42);
  program(0, kData, len, DmaTest::kDevToMem);
  bus.write32(kDev + DmaTest::kCTRL, DmaTest::kCtrlGo | DmaTest::kCtrlIrqEn);
  EXPECT_EQ(status() & (DmaTest::kStatusDone | DmaTest::kStatusFault | DmaTest::kStatusBusy), DmaTest::kStatusDone);
  EXPECT_EQ(irq.count(), 1u);
  std::vector<uint8_t> got(len);
  ASSERT_TRUE(mem.read(kData, got.data(), len).ok());
  EXPECT_EQ(got, expect);
  const uint64_t sum = bus.read64(kDev + DmaTest::kCHECKSUM);
  EXPECT_EQ(sum, DmaTest::checksum(expect.data(), len));
  // Scramble the local buffer, read memory back, checksum must match again.
  bus.write64(kDev + DmaTest::kPATTERN, 7);
  EXPECT_NE(bus.read64(kDev + DmaTest::kCHECKSUM), sum);
  bus.write32(kDev + DmaTest::kSTATUS, DmaTest::kStatusDone);
  program(kData, 0, len, DmaTest::kMemToDev);
  bus.write32(kDev + DmaTest::kCTRL, DmaTest::kCtrlGo);
  EXPECT_EQ(status(), DmaTest::kStatusDone);
  EXPECT_EQ(bus.read64(kDev + DmaTest::kCHECKSUM), sum);
  // Memory to memory.
  program(kData, kData + 0x1000000, len, DmaTest::kMemToMem);
  bus.write32(kDev + DmaTest::kCTRL, DmaTest::kCtrlGo);
  ASSERT_TRUE(mem.read(kData + 0x1000000, got.data(), len).ok());
  EXPECT_EQ(got, expect);
  EXPECT_EQ(bus.read64(kDev + DmaTest::kXFER_COUNT), 3u);
  auto st = dev->port().stats();
  EXPECT_GT(st.direct, 0u);
  EXPECT_EQ(st.translated + st.bypassed, 0u);
}

TEST_F(DmaFixture, BadProgrammingAndMemoryFault) {
  program(kData, 0, 0, DmaTest::kMemToDev);
  bus.write32(kDev + DmaTest::kCTRL, DmaTest::kCtrlGo);
  EXPECT_TRUE(status() & DmaTest::kStatusBadProg);
  program(kData, 0, (1 << 20) + 1, DmaTest::kMemToDev);
  bus.write32(kDev + DmaTest::kCTRL, DmaTest::kCtrlGo);
  EXPECT_TRUE(status() & DmaTest::kStatusBadProg);
  program(kData, 0, 16, 9);
  bus.write32(kDev + DmaTest::kCTRL, DmaTest::kCtrlGo);
  EXPECT_TRUE(status() & DmaTest::kStatusBadProg);
  bus.write32(kDev + DmaTest::kSTATUS, 0xf);
  EXPECT_EQ(status(), 0u);
  program(0x1000, 0, 64, DmaTest::kMemToDev);  // not RAM
  bus.write32(kDev + DmaTest::kCTRL, DmaTest::kCtrlGo);
  EXPECT_EQ(status(), DmaTest::kStatusFault);
  EXPECT_EQ(bus.read64(kDev + DmaTest::kFAULT_ADDR), 0x1000u);
  EXPECT_EQ(bus.read32(kDev + DmaTest::kFAULT_INFO), 2u);  // memory error, read
  EXPECT_EQ(bus.read64(kDev + DmaTest::kFAULT_COUNT), 1u);
}

TEST_F(DmaFixture, ContinuousModeRunsUntilCleared) {
  bus.write64(kDev + DmaTest::kPATTERN, 1);
  program(0, kData, 4096, DmaTest::kDevToMem);
  bus.write32(kDev + DmaTest::kCTRL, DmaTest::kCtrlContinuous);
  while (bus.read64(kDev + DmaTest::kXFER_COUNT) < 20) std::this_thread::yield();
  bus.write32(kDev + DmaTest::kCTRL, 0);
  const uint64_t n = bus.read64(kDev + DmaTest::kXFER_COUNT);
  EXPECT_GE(n, 20u);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(bus.read64(kDev + DmaTest::kXFER_COUNT), n);  // stopped: joined
  EXPECT_EQ(status() & DmaTest::kStatusBusy, 0u);
}

// --- through the SMMUv3 ---

struct DmaViaSmmu : ::testing::Test {
  SmmuHarness h;
  std::unique_ptr<TableBuilder> tb;
  std::shared_ptr<DmaTest> dev;
  static constexpr uint32_t kSid = 0x21;
  static constexpr uint64_t kIova = 0x100000000ull;
  void SetUp() override {
    tb = std::make_unique<TableBuilder>(h.mem, kTables, arm::Granule::k4K, arm::Stage::s1, 48, 0);
    h.put_cd(kCds, 3, tb->root());
    h.put_ste(kSid, Ste::s1(kCds));
    h.enable();
    dev = std::make_shared<DmaTest>("dma0", h.mem);
    ASSERT_TRUE(h.bus.map(0x10000000, DmaTest::kRegionSize, dev).ok());
    dev->port().set_translator(h.smmu, kSid);
  }
  // Scattered physical pages (reverse order) so a linear copy would be wrong.
  uint64_t page_pa(uint64_t i) { return kData + (255 - i) * 0x2000; }
  void run(uint64_t src, uint64_t dst, uint32_t len, uint32_t dir) {
    h.bus.write64(0x10000000 + DmaTest::kSRC, src);
    h.bus.write64(0x10000000 + DmaTest::kDST, dst);
    h.bus.write32(0x10000000 + DmaTest::kLEN, len);
    h.bus.write32(0x10000000 + DmaTest::kDIRECTION, dir);
    h.bus.write32(0x10000000 + DmaTest::kCTRL, DmaTest::kCtrlGo);
  }
  uint32_t status() { return h.bus.read32(0x10000000 + DmaTest::kSTATUS); }
};

TEST_F(DmaViaSmmu, OneMiBCopyThrough4KPagesVerified) {
  const uint32_t len = 1 << 20;
  for (uint64_t i = 0; i < 256; ++i) tb->map(kIova + i * 0x1000, page_pa(i), 3);
  h.bus.write64(0x10000000 + DmaTest::kPATTERN, 0xfeed);
  run(0, kIova, len, DmaTest::kDevToMem);
  ASSERT_EQ(status(), DmaTest::kStatusDone);
  std::vector<uint8_t> expect(len), page(0x1000);
  DmaTest::pattern_fill(0xfeed, expect.data(), len);
  for (uint64_t i = 0; i < 256; ++i) {
    ASSERT_TRUE(h.mem.read(page_pa(i), page.data(), 0x1000).ok());
    ASSERT_EQ(0, std::memcmp(page.data(), expect.data() + i * 0x1000, 0x1000)) << "page " << i;
  }
  // Read it back through the SMMU into a scrambled buffer.
  h.bus.write64(0x10000000 + DmaTest::kPATTERN, 1);
  run(kIova, 0, len, DmaTest::kMemToDev);
  ASSERT_EQ(status() & DmaTest::kStatusFault, 0u);
  EXPECT_EQ(h.bus.read64(0x10000000 + DmaTest::kCHECKSUM), DmaTest::checksum(expect.data(), len));
  auto st = dev->port().stats();
  EXPECT_EQ(st.translated, 512u);  // 256 pages each way
  EXPECT_EQ(st.bypassed + st.direct, 0u);
  EXPECT_EQ(h.drain_events(), 0u);
}

TEST_F(DmaViaSmmu, HoleFaultsWithTheRightAddress) {
  for (uint64_t i = 0; i < 16; ++i)
    if (i != 9) tb->map(kIova + i * 0x1000, page_pa(i), 3);
  run(kIova + 0x10, 0, 16 * 0x1000 - 0x10, DmaTest::kMemToDev);
  EXPECT_EQ(status(), DmaTest::kStatusFault);
  EXPECT_EQ(h.bus.read64(0x10000000 + DmaTest::kFAULT_ADDR), kIova + 9 * 0x1000);
  EXPECT_EQ(h.bus.read32(0x10000000 + DmaTest::kFAULT_INFO), 0u);  // IOMMU abort, read
  auto e = h.pop_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, F_TRANSLATION);
  EXPECT_EQ(e->stream_id, kSid);
  EXPECT_EQ(e->input_addr, kIova + 9 * 0x1000);
  EXPECT_TRUE(e->rnw);
  EXPECT_FALSE(h.pop_event());
}

TEST_F(DmaViaSmmu, BypassIsCountedAsEscape) {
  h.put_ste(kSid, Ste::bypass());
  h.cfgi_ste(kSid);
  h.sync();
  run(kData, 0, 3 * 0x1000, DmaTest::kMemToDev);
  EXPECT_EQ(status(), DmaTest::kStatusDone);
  EXPECT_EQ(dev->port().stats().bypassed, 3u);
  EXPECT_EQ(dev->port().stats().translated, 0u);
}

// Several DMA threads while the "driver" thread rewrites STEs, remaps and
// issues CFGI/TLBI/SYNC, and rewires a port. Checks that once an
// invalidation is SYNC'd no translation returns the old page.
TEST_F(DmaViaSmmu, ConcurrentDmaWithDriverInvalidation) {
  constexpr int kThreads = 3;
  for (uint64_t i = 0; i < 64; ++i) tb->map(kIova + i * 0x1000, page_pa(i), 3);
  std::vector<std::shared_ptr<DmaTest>> masters;
  for (int t = 0; t < kThreads; ++t) {
    auto m = std::make_shared<DmaTest>("m" + std::to_string(t), h.mem);
    m->port().set_translator(h.smmu, kSid);
    ASSERT_TRUE(h.bus.map(0x11000000 + t * 0x1000, DmaTest::kRegionSize, m).ok());
    const uint64_t base = 0x11000000 + t * 0x1000;
    h.bus.write64(base + DmaTest::kSRC, kIova);
    h.bus.write32(base + DmaTest::kLEN, 64 * 0x1000);
    h.bus.write32(base + DmaTest::kDIRECTION, DmaTest::kMemToDev);
    h.bus.write32(base + DmaTest::kCTRL, DmaTest::kCtrlContinuous);
    masters.push_back(m);
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> stale{0};
  std::thread checker([&] {
    // Hammers the IOTLB hit path on a page that never changes.
    while (!stop) (void)h.tr(kSid, kIova + 5 * 0x1000);
  });
  for (int round = 0; round < 300; ++round) {
    const uint64_t target = kData + 0x400000 + (round % 7) * 0x1000;
    tb->map(kIova + 63 * 0x1000, target, 3);
    h.tlbi_nh_va(0, 3, kIova + 63 * 0x1000);
    h.sync();
    auto o = h.tr(kSid, kIova + 63 * 0x1000);
    if (o.kind != TranslateOutcome::Kind::translated || o.pa != target) stale++;
    if (round % 50 == 0) {
      h.put_ste(kSid, Ste::s1(kCds));
      h.cfgi_ste(kSid);
      h.cmd(CMD_TLBI_NH_ASID | (3ull << 48));
      h.sync();
    }
    if (round % 100 == 0) {
      masters[0]->port().set_direct();
      masters[0]->port().set_translator(h.smmu, kSid);
    }
  }
  // Every master must have moved data while the driver was busy.
  for (auto& m : masters)
    while (m->port().stats().translated == 0) std::this_thread::yield();
  stop = true;
  checker.join();
  for (auto& m : masters) m->stop();
  EXPECT_EQ(stale.load(), 0u);
  EXPECT_TRUE(h.cmdq_drained());
  // Master 0 was briefly unwired (direct to an IOVA that is not RAM: it
  // may fault then); the others never fault.
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(masters[t]->port().stats().faulted, 0u);
  EXPECT_EQ(h.drain_events(), 0u);  // no faults: every page stayed mapped
}

}  // namespace
}  // namespace modiommu::hw::testing
