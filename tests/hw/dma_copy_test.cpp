// dma_copy: the DMA path's byte mover must equal memcpy for every alignment
// and length (its vector loop takes only whole aligned blocks), and move
// nothing outside [dst, dst + n).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "hw/dma_copy.h"
#include "hw/memory.h"

namespace modiommu::hw::testing {
namespace {

struct Aligned {
  explicit Aligned(size_t n) : p(static_cast<uint8_t*>(std::aligned_alloc(4096, n))) {}
  struct Free {
    void operator()(uint8_t* q) const { std::free(q); }
  };
  std::unique_ptr<uint8_t, Free> p;
};

TEST(DmaCopy, EqualsMemcpyForEveryAlignmentAndLength) {
  constexpr size_t kArea = 3 * 4096;
  Aligned src(kArea), dst(kArea);
  std::mt19937 rng(7);
  for (size_t i = 0; i < kArea; ++i) src.p.get()[i] = static_cast<uint8_t>(rng());
  const size_t offsets[] = {0, 1, 31, 32, 64, 96, 128, 4095};
  const size_t lengths[] = {0, 1, 127, 128, 129, 256, 4000, 4096, 4096 + 128, 8192};
  for (size_t so : offsets)
    for (size_t d : offsets)
      for (size_t n : lengths) {
        std::memset(dst.p.get(), 0xcc, kArea);
        dma_copy(dst.p.get() + d, src.p.get() + so, n);
        ASSERT_EQ(0, std::memcmp(dst.p.get() + d, src.p.get() + so, n)) << "src+" << so << " dst+" << d << " n " << n;
        for (size_t i = 0; i < d; ++i) ASSERT_EQ(dst.p.get()[i], 0xcc) << "byte before dst written";
        for (size_t i = d + n; i < kArea; ++i) ASSERT_EQ(dst.p.get()[i], 0xcc) << "byte after dst+n written";
      }
}

// A page-aligned run that crosses a 64 KiB RAM chunk boundary goes through
// the vector loop on both sides of the split, both directions.
TEST(DmaCopy, AlignedRunsAcrossChunksRoundTrip) {
  PhysicalMemory mem;
  ASSERT_TRUE(mem.add_ram(0x40000000, 0x400000).ok());
  constexpr size_t kLen = 0x13000;  // 76 KiB from 0x4000f000: three chunks
  Aligned src(kLen), back(kLen);
  std::mt19937 rng(11);
  for (size_t i = 0; i < kLen; ++i) src.p.get()[i] = static_cast<uint8_t>(rng());
  const PhysicalMemory::Piece w{0x4000f000, kLen, src.p.get()};
  ASSERT_EQ(mem.write_pieces(&w, 1), 1u);
  std::memset(back.p.get(), 0, kLen);
  const PhysicalMemory::Piece r{0x4000f000, kLen, back.p.get()};
  ASSERT_EQ(mem.read_pieces(&r, 1), 1u);
  EXPECT_EQ(0, std::memcmp(back.p.get(), src.p.get(), kLen));
  // The plain accessor sees the same bytes at the chunk seams.
  uint64_t seam = 0, want = 0;
  ASSERT_TRUE(mem.read(0x4000fff8, &seam, 8).ok());
  std::memcpy(&want, src.p.get() + 0xff8, 8);
  EXPECT_EQ(seam, want);
  ASSERT_TRUE(mem.read(0x4001fffc, &seam, 8).ok());
  std::memcpy(&want, src.p.get() + 0x10ffc, 8);
  EXPECT_EQ(seam, want);
}

}  // namespace
}  // namespace modiommu::hw::testing
