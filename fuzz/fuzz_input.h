// Shared by the libFuzzer targets: the input read as a stream of values
// (short at the end: missing bytes read as zero), and the check that turns
// a broken invariant into a crash libFuzzer reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace modiommu::fuzz {

struct Reader {
  const uint8_t* p;
  size_t n;
  template <typename T>
  T get() {
    T v{};
    const size_t k = n < sizeof(T) ? n : sizeof(T);
    std::memcpy(&v, p, k);
    p += k;
    n -= k;
    return v;
  }
};

inline void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace modiommu::fuzz
