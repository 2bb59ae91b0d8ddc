#include "base/bitfield.h"

#include <cstdio>
#include <cstdlib>

namespace modiommu::detail {

void bitfield_overflow(unsigned shift, unsigned width, uint64_t value) {
  std::fprintf(stderr, "BUG: value %#llx does not fit the %u-bit field at bit %u\n",
               static_cast<unsigned long long>(value), width, shift);
  std::abort();
}

}  // namespace modiommu::detail
