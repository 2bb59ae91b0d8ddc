// The simulator's only source of choice: SplitMix64 (Steele, Lea, Flood,
// "Fast splittable pseudorandom number generators", 2014). Specified bit
// for bit, unlike std::uniform_int_distribution, so a seed means the same
// run on every compiler and library.
#pragma once

#include <cstdint>

namespace modiommu::dsim {

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0 (rejection sampling: no modulo bias).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = next();
    while (v >= limit);
    return v % n;
  }

 private:
  uint64_t s_;
};

}  // namespace modiommu::dsim
