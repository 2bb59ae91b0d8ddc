// The byte mover of the DMA data path: guest RAM <-> a master's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace modiommu::hw {

// Copies n bytes from src to dst (no overlap), like memcpy. With AVX2 on the
// host, copies whose addresses and length are multiples of 128 bytes (page
// pieces are) take a vector loop; anything else goes to memcpy.
void dma_copy(uint8_t* dst, const uint8_t* src, size_t n);

// A device's local data buffer (the DMA test master's SRAM): zero-filled and
// page-aligned, so page-aligned transfers to and from it take dma_copy's
// vector loop (a std::vector's heap block is only 16-byte aligned).
class PageBuffer {
 public:
  explicit PageBuffer(size_t size)
      : size_(size), p_(static_cast<uint8_t*>(std::aligned_alloc(4096, (size + 4095) & ~size_t{4095}))) {
    if (!p_) throw std::bad_alloc();
    std::memset(p_.get(), 0, size_);
  }
  uint8_t* data() { return p_.get(); }
  const uint8_t* data() const { return p_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* q) const { std::free(q); }
  };
  size_t size_;
  std::unique_ptr<uint8_t, Free> p_;
};

}  // namespace modiommu::hw
