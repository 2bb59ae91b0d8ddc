// Register fields named once: position and width in one type, in the spirit
// of Linux's GENMASK/FIELD_PREP/FIELD_GET and Genode's Bitfield.
//
//   using Config = Bits<3, 1>;        // STE word 0 Config [3:1] (IHI 0070 5.2)
//   Config::get(w0)                   // decode (always masked: safe on guest input)
//   Config::prep(0b100)               // encode, width-checked
//   Config::insert(w0, 0b101)         // replace the field in a register value
//   Config::mask                      // the field's bits in place
//
// Width checking: prep() of a value wider than the field is a bug in the
// caller (a driver encoding what it computed). In a constant expression it
// does not compile; at run time it stops the program (BUG()). A model that
// encodes guest-controlled input uses prep_masked(), which truncates like
// the hardware does. get() never needs a check.
#pragma once

#include <concepts>
#include <cstdint>

#include "base/api.h"

namespace modiommu {

namespace detail {
// Not constexpr on purpose: reaching it in a constant expression is a
// compile error. At run time it reports the field and value, then aborts.
[[noreturn]] MODIOMMU_API void bitfield_overflow(unsigned shift, unsigned width, uint64_t value);
}  // namespace detail

template <unsigned Shift, unsigned Width, std::unsigned_integral Reg = uint64_t>
struct Bitfield {
  static constexpr unsigned kRegBits = sizeof(Reg) * 8;
  static_assert(Width >= 1 && Shift + Width <= kRegBits, "field does not lie inside its register");

  using reg_type = Reg;
  static constexpr unsigned shift = Shift;
  static constexpr unsigned width = Width;
  // Largest value the field holds, and the field's bits in place.
  static constexpr Reg max = Width == kRegBits ? static_cast<Reg>(~Reg{0}) : static_cast<Reg>((Reg{1} << Width) - 1);
  static constexpr Reg mask = static_cast<Reg>(max << Shift);

  static constexpr bool fits(uint64_t v) { return v <= max; }
  static constexpr Reg get(Reg reg) { return static_cast<Reg>((reg >> Shift) & max); }
  static constexpr bool is_set(Reg reg) { return (reg & mask) != 0; }
  static constexpr Reg prep(uint64_t v) {
    if (!fits(v)) detail::bitfield_overflow(Shift, Width, v);
    return static_cast<Reg>(static_cast<Reg>(v) << Shift);
  }
  static constexpr Reg prep_masked(uint64_t v) { return static_cast<Reg>((static_cast<Reg>(v) & max) << Shift); }
  static constexpr Reg insert(Reg reg, uint64_t v) { return static_cast<Reg>((reg & ~mask) | prep(v)); }
  static constexpr Reg clear(Reg reg) { return static_cast<Reg>(reg & ~mask); }
};

// The spec's [Hi:Lo] notation, so a definition reads like its table.
template <unsigned Hi, unsigned Lo, std::unsigned_integral Reg = uint64_t>
  requires(Hi >= Lo)
using Bits = Bitfield<Lo, Hi - Lo + 1, Reg>;

// One bit; `Bit<n>::mask` is the flag itself.
template <unsigned N, std::unsigned_integral Reg = uint64_t>
using Bit = Bitfield<N, 1, Reg>;

// 32-bit registers (most MMIO registers).
template <unsigned Hi, unsigned Lo>
using Bits32 = Bits<Hi, Lo, uint32_t>;
template <unsigned N>
using Bit32 = Bit<N, uint32_t>;

}  // namespace modiommu
