// base/bitfield.h: position and width named once; encode, decode, insert,
// mask; values wider than the field are caught.
#include <gtest/gtest.h>

#include "base/bitfield.h"

namespace modiommu {
namespace {

// IHI 0070 5.2 STE word 0: V [0], Config [3:1], S1ContextPtr [51:6], S1CDMax [63:59].
using V = Bit<0>;
using Config = Bits<3, 1>;
using CtxPtr = Bits<51, 6>;
using CdMax = Bits<63, 59>;
using Whole = Bits<63, 0>;
// IHI 0070 6.3.27 CMDQ_CONS.ERR [30:24] in a 32-bit register.
using Err = Bits32<30, 24>;

// Everything is usable in constant expressions.
static_assert(Config::shift == 1 && Config::width == 3);
static_assert(Config::mask == 0xe && Config::max == 7);
static_assert(CtxPtr::mask == 0x000f'ffff'ffff'ffc0ull);
static_assert(CdMax::mask == 0xf800000000000000ull);
static_assert(Whole::mask == ~uint64_t{0} && Whole::max == ~uint64_t{0});
static_assert(Err::mask == 0x7f000000u && std::is_same_v<Err::reg_type, uint32_t>);
static_assert(V::mask == 1 && Bit32<31>::mask == 0x80000000u);
static_assert(Config::prep(0b101) == 0b1010);
static_assert(Config::get(0b1011) == 0b101);
static_assert(Config::insert(~uint64_t{0}, 0) == ~uint64_t{0xe});
static_assert(Config::clear(0xff) == 0xf1);
static_assert(Whole::prep(~uint64_t{0}) == ~uint64_t{0});
static_assert(Config::fits(7) && !Config::fits(8));
// A too-wide value in a constant expression does not compile; this is the
// line that would fail (kept as a comment so the test builds):
//   static_assert(Config::prep(8) != 0);

TEST(Bitfield, RoundTripsEveryFieldValue) {
  for (uint64_t v = 0; v <= Config::max; ++v) {
    const uint64_t reg = Config::prep(v) | V::mask;
    EXPECT_EQ(Config::get(reg), v);
    EXPECT_TRUE(V::is_set(reg));
    EXPECT_EQ(reg & ~(Config::mask | V::mask), 0u);
  }
  const uint64_t pa = 0x0000'1234'5678'9ac0ull;
  EXPECT_EQ(CtxPtr::prep(pa >> CtxPtr::shift), pa);
  EXPECT_EQ(CtxPtr::get(pa | 0x3f) << CtxPtr::shift, pa);
  EXPECT_EQ(CdMax::get(CdMax::prep(31)), 31u);
}

TEST(Bitfield, InsertKeepsTheOtherBits) {
  const uint64_t reg = 0xdead'beef'0000'000full;
  const uint64_t r2 = Config::insert(reg, 0b010);
  EXPECT_EQ(Config::get(r2), 0b010u);
  EXPECT_EQ(r2 & ~Config::mask, reg & ~Config::mask);
  EXPECT_EQ(Err::get(Err::insert(0x8000'0001u, 0x7f)), 0x7fu);
  EXPECT_EQ(Err::insert(0x8000'0001u, 0x7f) & ~Err::mask, 0x8000'0001u);
}

// A model decodes and re-encodes guest input: get() masks, prep_masked()
// truncates, neither has undefined behaviour for any input.
TEST(Bitfield, GuestInputIsMaskedNeverUndefined) {
  EXPECT_EQ(Config::get(~uint64_t{0}), 7u);
  EXPECT_EQ(Config::prep_masked(0x1f), 0xeu);
  EXPECT_EQ(Err::prep_masked(~uint64_t{0}), Err::mask);
  EXPECT_EQ(Whole::prep_masked(~uint64_t{0}), ~uint64_t{0});
}

// In a driver a value that does not fit is a bug: prep() stops the program
// and names the field instead of corrupting the neighbouring fields.
TEST(BitfieldDeathTest, DriverValueWiderThanTheFieldIsABug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  volatile uint64_t too_wide = 8;
  EXPECT_DEATH((void)Config::prep(too_wide), "does not fit the 3-bit field at bit 1");
  EXPECT_DEATH((void)Err::insert(0, 0x80 + too_wide - 8), "does not fit the 7-bit field at bit 24");
}

}  // namespace
}  // namespace modiommu
