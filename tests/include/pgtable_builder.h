// Test helper: builds VMSAv8-64 tables by hand in PhysicalMemory, from a
// simple bump allocator, independent of the walker under test.
#pragma once

#include <cstdint>

#include "hw/arm/vmsa_walk.h"
#include "hw/memory.h"

namespace modiommu::hw::testing {

// Leaf attributes: AF set unless af=false; S1: AP[2] = !writable;
// S2: S2AP = r/w.
struct Attr {
  bool r = true, w = true, af = true;
};

class TableBuilder {
 public:
  TableBuilder(PhysicalMemory& mem, uint64_t pool, arm::Granule g, arm::Stage st, unsigned input_bits,
               unsigned start_level)
      : mem_(mem), next_(pool), g_(g), st_(st), ib_(input_bits), start_(start_level) {
    shift_ = g == arm::Granule::k4K ? 12 : g == arm::Granule::k16K ? 14 : 16;
    stride_ = shift_ - 3;
    // Start table may be concatenated: size 8 << first_bits, at least a granule.
    const unsigned first_bits = ib_ - lshift(start_);
    uint64_t sz = uint64_t{8} << first_bits;
    if (sz < granule()) sz = granule();
    root_ = alloc(sz);
  }
  uint64_t granule() const { return uint64_t{1} << shift_; }
  uint64_t root() const { return root_; }
  unsigned lshift(unsigned level) const { return shift_ + stride_ * (3 - level); }

  uint64_t leaf_bits(Attr a, bool page) const {
    uint64_t d = page ? 3 : 1;
    if (a.af) d |= 1ull << 10;
    if (st_ == arm::Stage::s1) {
      if (!a.w) d |= 1ull << 7;
    } else {
      if (a.r) d |= 1ull << 6;
      if (a.w) d |= 1ull << 7;
    }
    return d;
  }
  // Maps iova -> pa with a leaf at `level` (3 = page).
  void map(uint64_t iova, uint64_t pa, unsigned level, Attr a = {}) {
    uint64_t table = root_;
    for (unsigned l = start_; l < level; ++l) {
      const uint64_t slot = table + index(iova, l) * 8;
      uint64_t d = mem_.read64(slot).value();
      if (!(d & 1)) {
        const uint64_t t = alloc(granule());
        d = t | 3;
        (void)mem_.write64(slot, d);
      }
      table = d & 0x0000fffffffff000ull & ~(granule() - 1);
    }
    (void)mem_.write64(table + index(iova, level) * 8, pa | leaf_bits(a, level == 3));
  }
  // Writes a raw descriptor at `level` for iova (tables created as needed).
  void raw(uint64_t iova, unsigned level, uint64_t desc) {
    uint64_t table = root_;
    for (unsigned l = start_; l < level; ++l) {
      const uint64_t slot = table + index(iova, l) * 8;
      uint64_t d = mem_.read64(slot).value();
      if (!(d & 1)) {
        d = alloc(granule()) | 3;
        (void)mem_.write64(slot, d);
      }
      table = d & 0x0000fffffffff000ull & ~(granule() - 1);
    }
    (void)mem_.write64(table + index(iova, level) * 8, desc);
  }
  uint64_t index(uint64_t iova, unsigned level) const {
    const unsigned bits = level == start_ ? ib_ - lshift(level) : stride_;
    return (iova >> lshift(level)) & ((uint64_t{1} << bits) - 1);
  }
  uint64_t alloc(uint64_t size) {
    next_ = (next_ + size - 1) & ~(size - 1);
    const uint64_t a = next_;
    next_ += size;
    (void)mem_.fill(a, 0, size);
    return a;
  }

 private:
  PhysicalMemory& mem_;
  uint64_t next_;
  arm::Granule g_;
  arm::Stage st_;
  unsigned ib_, start_;
  unsigned shift_ = 12, stride_ = 9;
  uint64_t root_ = 0;
};

}  // namespace modiommu::hw::testing
