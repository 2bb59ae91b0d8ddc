// The byte mover of the DMA data path: guest RAM <-> a master's buffer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace modiommu::hw {

// Copies n bytes from src to dst (no overlap), like memcpy. Page-sized,
// 32-byte-aligned pieces take an AVX2 loop when the host has AVX2; anything
// else goes to memcpy.
void dma_copy(uint8_t* dst, const uint8_t* src, size_t n);

}  // namespace modiommu::hw
