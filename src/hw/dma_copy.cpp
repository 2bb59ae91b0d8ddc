#include "hw/dma_copy.h"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace modiommu::hw {

#if defined(__x86_64__)
namespace {

// Why not memcpy: for 4 KiB pieces glibc picks `rep movsb` (its threshold is
// ~2 KiB), whose start-up cost per piece made a scattered 1 MiB copy ~8%
// slower than this loop on the CI host (AMD Zen 4); bench/hw BM_MovePieces
// measures the path. Four 32-byte aligned loads, then four stores: the
// fastest shape there (wider or narrower unrolls, AVX-512 and non-temporal
// stores all measured slower).
[[gnu::target("avx2")]] void copy_avx2(uint8_t* d, const uint8_t* s, size_t n) {
  const uint8_t* const end = s + n;
  while (s != end) {
    const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(s));
    const __m256i b = _mm256_load_si256(reinterpret_cast<const __m256i*>(s + 32));
    const __m256i c = _mm256_load_si256(reinterpret_cast<const __m256i*>(s + 64));
    const __m256i e = _mm256_load_si256(reinterpret_cast<const __m256i*>(s + 96));
    s += 128;
    d += 128;
    _mm256_store_si256(reinterpret_cast<__m256i*>(d - 128), a);
    _mm256_store_si256(reinterpret_cast<__m256i*>(d - 96), b);
    _mm256_store_si256(reinterpret_cast<__m256i*>(d - 64), c);
    _mm256_store_si256(reinterpret_cast<__m256i*>(d - 32), e);
  }
}

const bool have_avx2 = __builtin_cpu_supports("avx2");

}  // namespace
#endif

void dma_copy(uint8_t* dst, const uint8_t* src, size_t n) {
#if defined(__x86_64__)
  // The loop moves whole 128-byte blocks with aligned accesses.
  if (have_avx2 && n != 0 && ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) | n) & 127) == 0) {
    copy_avx2(dst, src, n);
    return;
  }
#endif
  std::memcpy(dst, src, n);
}

}  // namespace modiommu::hw
