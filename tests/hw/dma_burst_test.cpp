// The batched DMA path: PhysicalMemory scatter-gather, translate_burst
// (default and SMMUv3) against page-by-page translate(), faults and memory
// errors in the middle of a scattered transfer, IOTLB coherency across bursts.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "hw/dma.h"
#include "hw/memory.h"
#include "smmuv3_harness.h"

namespace modiommu::hw::testing {
namespace {

using Kind = TranslateOutcome::Kind;
constexpr uint64_t kIova = 0x200000;

// ---- PhysicalMemory::read_pieces / write_pieces ----

TEST(MemoryPieces, ReadStopsBeforeFirstNonRamPiece) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(0x10000000, 0x100000).ok());
  std::vector<uint8_t> ram(0x3000);
  for (size_t i = 0; i < ram.size(); ++i) ram[i] = static_cast<uint8_t>(i * 7 + 1);
  ASSERT_TRUE(mem.write(0x10010000, ram.data(), ram.size()).ok());
  std::vector<uint8_t> buf(0x4000, 0xee);
  const PhysicalMemory::Piece p[] = {
      {0x10012000, 0x1000, buf.data()},           // in RAM (out of order on purpose)
      {0x10010000, 0x800, buf.data() + 0x1000},   // in RAM, part of a page
      {0x100ff800, 0x1000, buf.data() + 0x1800},  // straddles the end of RAM
      {0x10011000, 0x800, buf.data() + 0x2800},   // in RAM, but after the bad one
  };
  EXPECT_EQ(mem.read_pieces(p, 4), 2u);
  EXPECT_EQ(0, std::memcmp(buf.data(), ram.data() + 0x2000, 0x1000));
  EXPECT_EQ(0, std::memcmp(buf.data() + 0x1000, ram.data(), 0x800));
  for (size_t i = 0x1800; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0xee) << "byte " << i << " moved after the stop";
  EXPECT_EQ(mem.read_pieces(p, 2), 2u);
  EXPECT_EQ(mem.read_pieces(p + 2, 2), 0u);
  EXPECT_EQ(mem.read_pieces(p + 3, 1), 1u);
  EXPECT_EQ(0, std::memcmp(buf.data() + 0x2800, ram.data() + 0x1000, 0x800));
}

TEST(MemoryPieces, WriteStopsBeforeFirstNonRamPieceAndUntouchedReadsZero) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(0x10000000, 0x100000).ok());
  std::vector<uint8_t> src(0x3000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 13 + 5);
  const PhysicalMemory::Piece p[] = {
      {0x10020000, 0x1000, src.data()},
      {0x10040000, 0x1000, src.data() + 0x1000},
      {0x20000000, 0x10, src.data() + 0x2000},    // no RAM at all
      {0x10060000, 0x1000, src.data() + 0x2000},  // never reached
  };
  EXPECT_EQ(mem.write_pieces(p, 4), 2u);
  std::vector<uint8_t> back(0x1000);
  ASSERT_TRUE(mem.read(0x10020000, back.data(), 0x1000).ok());
  EXPECT_EQ(0, std::memcmp(back.data(), src.data(), 0x1000));
  ASSERT_TRUE(mem.read(0x10040000, back.data(), 0x1000).ok());
  EXPECT_EQ(0, std::memcmp(back.data(), src.data() + 0x1000, 0x1000));
  ASSERT_TRUE(mem.read(0x10060000, back.data(), 0x1000).ok());
  for (uint8_t b : back) ASSERT_EQ(b, 0) << "piece after the stop was written";
  // Reading never-written RAM through pieces gives zeros.
  std::vector<uint8_t> z(0x1000, 0xff);
  const PhysicalMemory::Piece r{0x10080000, 0x1000, z.data()};
  EXPECT_EQ(mem.read_pieces(&r, 1), 1u);
  for (uint8_t b : z) ASSERT_EQ(b, 0);
}

// ---- the default translate_burst ----

// 4K pages: page i maps to kOut + perm[i] pages; page `hole` faults.
struct FakeTranslator : DmaTranslator {
  uint64_t hole = ~uint64_t{0};
  std::atomic<unsigned> calls{0};
  TranslateOutcome translate(uint32_t, uint64_t iova, Access) override {
    ++calls;
    TranslateOutcome o;
    const uint64_t page = iova >> 12;
    if (page == hole) return o;
    o.kind = Kind::translated;
    o.pa = 0x80000000 + ((page * 5) % 64) * 0x1000 + (iova & 0xfff);
    o.span = 0x1000 - (iova & 0xfff);
    return o;
  }
};

TEST(TranslateBurst, DefaultClampsStopsAtMaxAndAtFault) {
  FakeTranslator t;
  TranslateOutcome out[8];
  // Unaligned start and a length ending mid-page: spans are clamped.
  size_t n = t.translate_burst(0, 0x10800, 0x2000, Access::read, out, 8);
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(out[0].span, 0x800u);
  EXPECT_EQ(out[0].pa, 0x80000000 + (0x10 * 5 % 64) * 0x1000 + 0x800);
  EXPECT_EQ(out[1].span, 0x1000u);
  EXPECT_EQ(out[2].span, 0x800u);
  EXPECT_EQ(out[2].pa, 0x80000000 + (0x12 * 5 % 64) * 0x1000);
  // max bounds the count.
  EXPECT_EQ(t.translate_burst(0, 0x10000, 0x10000, Access::read, out, 4), 4u);
  EXPECT_EQ(t.translate_burst(0, 0x10000, 0x10000, Access::read, out, 0), 0u);
  EXPECT_EQ(t.translate_burst(0, 0x10000, 0, Access::read, out, 4), 0u);
  // The fault is the last outcome written and nothing after it is asked.
  t.hole = 0x12;
  t.calls = 0;
  n = t.translate_burst(0, 0x10000, 0x8000, Access::read, out, 8);
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(out[2].kind, Kind::faulted);
  EXPECT_EQ(t.calls.load(), 3u);
}

TEST(TranslateBurst, PortFaultAddressFromBurstTranslator) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(0x80000000, 0x100000).ok());
  auto t = std::make_shared<FakeTranslator>();
  t->hole = 0x105;
  UpstreamPort port(mem);
  port.set_translator(t, 0);
  port.set_untranslated_allowed(false);
  std::vector<uint8_t> buf(0x10000);
  DmaFault f;
  EXPECT_FALSE(port.read(0x100000, buf.data(), buf.size(), &f).ok());
  EXPECT_EQ(f.iova, 0x105000u);
  EXPECT_FALSE(f.memory_error);
  EXPECT_EQ(port.stats().translated, 5u);
  EXPECT_EQ(port.stats().bytes, 0x5000u);
  EXPECT_EQ(port.stats().faulted, 1u);
  EXPECT_EQ(port.stats().escapes, 0u);
}

// ---- SMMUv3 ----

struct BurstS1 : ::testing::Test {
  SmmuHarness h;
  std::unique_ptr<TableBuilder> tb;
  void SetUp() override {
    tb = std::make_unique<TableBuilder>(h.mem, kTables, arm::Granule::k4K, arm::Stage::s1, 48, 0);
    h.put_cd(kCds, 5, tb->root());
    h.put_ste(3, Ste::s1(kCds));
    h.enable();
  }
};

// Random scattered mapping with holes and read-only pages, built the same
// way in two harnesses: one asked in bursts, one page by page.
struct Layout {
  static constexpr size_t kPages = 300;
  std::vector<int> state;  // 0 hole, 1 rw, 2 read-only
  std::vector<uint64_t> pa;
  explicit Layout(unsigned seed) : state(kPages), pa(kPages) {
    std::mt19937 rng(seed);
    std::vector<uint64_t> frames(4096);
    for (size_t i = 0; i < frames.size(); ++i) frames[i] = kData + i * 0x1000;
    std::shuffle(frames.begin(), frames.end(), rng);
    for (size_t i = 0; i < kPages; ++i) {
      const unsigned r = rng() % 16;
      state[i] = r == 0 ? 0 : r == 1 ? 2 : 1;
      pa[i] = frames[i];
    }
  }
  void apply(TableBuilder& tb) const {
    for (size_t i = 0; i < kPages; ++i) {
      if (!state[i]) continue;
      Attr a;
      a.w = state[i] == 1;
      tb.map(kIova + i * 0x1000, pa[i], 3, a);
    }
  }
};

void expect_same(const TranslateOutcome& a, const TranslateOutcome& b, uint64_t iova) {
  EXPECT_EQ(a.kind, b.kind) << "iova " << std::hex << iova;
  if (a.kind != Kind::faulted) {
    EXPECT_EQ(a.pa, b.pa) << "iova " << std::hex << iova;
  }
}

TEST_F(BurstS1, BurstEqualsPageByPageOverRandomMappingWithHoles) {
  SmmuHarness ref;
  TableBuilder rtb(ref.mem, kTables, arm::Granule::k4K, arm::Stage::s1, 48, 0);
  ref.put_cd(kCds, 5, rtb.root());
  ref.put_ste(3, Ste::s1(kCds));
  ref.enable();
  for (unsigned seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    const Layout lay(seed);
    // Clear the previous layout, then invalidate everything in both.
    for (size_t i = 0; i < Layout::kPages; ++i) {
      tb->raw(kIova + i * 0x1000, 3, 0);
      rtb.raw(kIova + i * 0x1000, 3, 0);
    }
    lay.apply(*tb);
    lay.apply(rtb);
    for (SmmuHarness* x : {&h, &ref}) {
      x->cmd(CMD_TLBI_NH_ALL);
      x->sync();
      x->drain_events();
    }
    // Twice per direction: cold (walks) then warm (IOTLB hits).
    for (Access acc : {Access::read, Access::write, Access::read, Access::write}) {
      const uint64_t start = kIova + 0x340, end = kIova + Layout::kPages * 0x1000 - 0x100;
      uint64_t iova = start;
      size_t bursts = 0;
      while (iova < end) {
        TranslateOutcome out[16];
        const size_t n = h.smmu->translate_burst(3, iova, end - iova, acc, out, 16);
        ASSERT_GE(n, 1u);
        ++bursts;
        for (size_t i = 0; i < n; ++i) {
          const TranslateOutcome r = ref.tr(3, iova, acc);
          expect_same(out[i], r, iova);
          if (out[i].kind == Kind::faulted) {
            ASSERT_EQ(i + 1, n) << "a burst goes on after a fault";
            iova = (iova | 0xfff) + 1;  // next page
            break;
          }
          EXPECT_EQ(out[i].span, std::min(r.span, end - iova));
          iova += out[i].span;
        }
      }
      EXPECT_GT(bursts, 1u);
    }
    // Same events (one per faulting page and attempt) in both.
    EXPECT_EQ(h.drain_events(), ref.drain_events());
  }
  EXPECT_GT(h.smmu->stats().tlb_hits, 0u);
  EXPECT_EQ(h.smmu->stats().tlb_hits, ref.smmu->stats().tlb_hits);
  EXPECT_EQ(h.smmu->stats().tlb_misses, ref.smmu->stats().tlb_misses);
}

TEST_F(BurstS1, DisabledOrBypassStreamsBurstLikeTranslate) {
  TranslateOutcome out[4];
  h.put_ste(9, Ste::bypass());
  ASSERT_EQ(h.smmu->translate_burst(9, 0x50000800, 0x3000, Access::read, out, 4), 4u);
  EXPECT_EQ(out[0].kind, Kind::bypassed);
  EXPECT_EQ(out[0].pa, 0x50000800u);
  EXPECT_EQ(out[0].span, 0x800u);
  EXPECT_EQ(out[3].pa, 0x50003000u);
  EXPECT_EQ(out[3].span, 0x800u);
  h.put_ste(10, Ste::abort());
  EXPECT_EQ(h.smmu->translate_burst(10, 0x1000, 0x3000, Access::read, out, 4), 1u);
  EXPECT_EQ(out[0].kind, Kind::faulted);
}

TEST_F(BurstS1, MemoryErrorMidScatteredDma) {
  // Pages 0..7 in RAM (scattered), page 5 maps to an address with no RAM.
  const uint64_t frames[8] = {0x7000, 0x2000, 0x9000, 0x1000, 0x4000, 0, 0xb000, 0x3000};
  for (int i = 0; i < 8; ++i)
    tb->map(kIova + i * 0x1000, i == 5 ? 0x100000000ull : kData + frames[i], 3);
  UpstreamPort port(h.mem);
  port.set_translator(h.smmu, 3);
  port.set_untranslated_allowed(false);
  for (bool warm : {false, true}) {
    SCOPED_TRACE(warm);
    std::vector<uint8_t> src(0x8000);
    for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 3 + warm);
    const PortStats before = port.stats();
    DmaFault f;
    // Starts mid page 0; the first bad byte is the start of page 5.
    EXPECT_FALSE(port.write(kIova + 0x100, src.data() + 0x100, 0x8000 - 0x100, &f).ok());
    EXPECT_TRUE(f.memory_error);
    EXPECT_EQ(f.iova, kIova + 0x5000);
    EXPECT_EQ(f.dir, Access::write);
    const PortStats s = port.stats();
    EXPECT_EQ(s.bytes - before.bytes, 0x5000u - 0x100);
    EXPECT_EQ(s.faulted - before.faulted, 1u);
    EXPECT_EQ(s.escapes, 0u);
    std::vector<uint8_t> back(0x1000);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(h.mem.read(kData + frames[i], back.data(), 0x1000).ok());
      const size_t from = i == 0 ? 0x100 : 0;
      EXPECT_EQ(0, std::memcmp(back.data() + from, src.data() + i * 0x1000 + from, 0x1000 - from)) << "page " << i;
    }
    for (int i = 6; i < 8; ++i) {
      ASSERT_TRUE(h.mem.read(kData + frames[i], back.data(), 0x1000).ok());
      EXPECT_NE(0, std::memcmp(back.data(), src.data() + i * 0x1000, 0x1000)) << "page " << i << " after the error";
    }
    // Reads stop at the same place, bytes before it delivered.
    std::vector<uint8_t> dst(0x8000, 0xcc);
    EXPECT_FALSE(port.read(kIova, dst.data(), dst.size(), &f).ok());
    EXPECT_TRUE(f.memory_error);
    EXPECT_EQ(f.iova, kIova + 0x5000);
    EXPECT_EQ(0, std::memcmp(dst.data() + 0x100, src.data() + 0x100, 0x5000 - 0x100));
  }
  EXPECT_EQ(h.drain_events(), 0u);  // a memory error is not an IOMMU fault
}

// Two pages contiguous in PA merge into one run; the second lies past the
// end of RAM. The fault still names that page and the first page moves.
TEST_F(BurstS1, MemoryErrorInsideMergedRunNamesTheBadPage) {
  const uint64_t ram_end = kRam + kRamSize;
  tb->map(kIova, ram_end - 0x1000, 3);
  tb->map(kIova + 0x1000, ram_end, 3);
  std::vector<uint8_t> src(0x2000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i ^ 0x5a);
  ASSERT_TRUE(h.mem.write(ram_end - 0x1000, src.data(), 0x1000).ok());
  UpstreamPort port(h.mem);
  port.set_translator(h.smmu, 3);
  std::vector<uint8_t> dst(0x2000, 0);
  DmaFault f;
  EXPECT_FALSE(port.read(kIova + 0x80, dst.data() + 0x80, 0x2000 - 0x80, &f).ok());
  EXPECT_TRUE(f.memory_error);
  EXPECT_EQ(f.iova, kIova + 0x1000);
  EXPECT_EQ(port.stats().bytes, 0x1000u - 0x80);
  EXPECT_EQ(0, std::memcmp(dst.data() + 0x80, src.data() + 0x80, 0x1000 - 0x80));
  EXPECT_FALSE(port.write(kIova, src.data(), 0x2000, &f).ok());
  EXPECT_TRUE(f.memory_error);
  EXPECT_EQ(f.iova, kIova + 0x1000);
  EXPECT_EQ(port.stats().bytes, 0x2000u - 0x80);
}

TEST_F(BurstS1, IommuFaultMidScatteredDmaStopsAtPage) {
  for (int i = 0; i < 40; ++i)
    if (i != 33) tb->map(kIova + i * 0x1000, kData + (40 - i) * 0x2000, 3);
  UpstreamPort port(h.mem);
  port.set_translator(h.smmu, 3);
  std::vector<uint8_t> buf(40 * 0x1000);
  for (int round = 0; round < 2; ++round) {
    DmaFault f;
    EXPECT_FALSE(port.read(kIova + 0x10, buf.data(), buf.size() - 0x10, &f).ok());
    EXPECT_FALSE(f.memory_error);
    EXPECT_EQ(f.iova, kIova + 33 * 0x1000);
    auto e = h.pop_event();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->type, F_TRANSLATION);
    EXPECT_EQ(e->input_addr, kIova + 33 * 0x1000);
    EXPECT_FALSE(h.pop_event().has_value());
  }
  EXPECT_EQ(port.stats().translated, 2u * 33);
  EXPECT_EQ(port.stats().bytes, 2u * (33 * 0x1000 - 0x10));
}

TEST_F(BurstS1, InvalidationBetweenBurstsNeverStale) {
  constexpr int kPages = 48;
  for (int i = 0; i < kPages; ++i) tb->map(kIova + i * 0x1000, kData + i * 0x1000, 3);
  TranslateOutcome out[kPages];
  ASSERT_EQ(h.smmu->translate_burst(3, kIova, kPages * 0x1000, Access::read, out, kPages), size_t{kPages});
  for (int gen = 1; gen <= 4; ++gen) {
    for (int i = 0; i < kPages; ++i) tb->map(kIova + i * 0x1000, kData + (gen * 0x100 + (i * 7) % kPages) * 0x1000, 3);
    // Alternate per-VA and per-ASID invalidation.
    if (gen % 2) {
      for (int i = 0; i < kPages; ++i) h.tlbi_nh_va(0, 5, kIova + i * 0x1000);
    } else {
      h.cmd(CMD_TLBI_NH_ASID | (5ull << 48));
    }
    h.sync();
    ASSERT_EQ(h.smmu->translate_burst(3, kIova, kPages * 0x1000, Access::read, out, kPages), size_t{kPages});
    for (int i = 0; i < kPages; ++i)
      EXPECT_EQ(out[i].pa, kData + (gen * 0x100 + (i * 7) % kPages) * 0x1000) << "gen " << gen << " page " << i;
  }
}

// A DMA thread bursts while the main thread remaps and invalidates: a burst
// that begins after a CMD_SYNC completed never sees a mapping older than it.
TEST_F(BurstS1, ConcurrentInvalidationHonouredByLaterBursts) {
  constexpr int kPages = 32, kGens = 60;
  auto pa_of = [](int gen, int i) { return kData + (uint64_t(gen) * kPages + i) * 0x1000; };
  for (int i = 0; i < kPages; ++i) tb->map(kIova + i * 0x1000, pa_of(0, i), 3);
  std::atomic<int> published{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> stale{0}, bursts{0};
  std::thread dma([&] {
    TranslateOutcome out[kPages];
    while (!stop.load(std::memory_order_acquire)) {
      const int g0 = published.load(std::memory_order_acquire);
      const size_t n = h.smmu->translate_burst(3, kIova, kPages * 0x1000, Access::read, out, kPages);
      for (size_t i = 0; i < n; ++i) {
        const int gen = static_cast<int>((out[i].pa - kData) / 0x1000 / kPages);
        if (out[i].kind != Kind::translated || gen < g0) stale.fetch_add(1);
      }
      bursts.fetch_add(1);
    }
  });
  for (int gen = 1; gen <= kGens; ++gen) {
    for (int i = 0; i < kPages; ++i) tb->map(kIova + i * 0x1000, pa_of(gen, i), 3);
    h.cmd(CMD_TLBI_NH_ASID | (5ull << 48));
    h.sync();
    published.store(gen, std::memory_order_release);
    const uint64_t b = bursts.load();
    while (bursts.load() < b + 2) std::this_thread::yield();
  }
  stop.store(true, std::memory_order_release);
  dma.join();
  EXPECT_EQ(stale.load(), 0u);
  EXPECT_GE(bursts.load(), uint64_t{2} * kGens);
}

}  // namespace
}  // namespace modiommu::hw::testing
