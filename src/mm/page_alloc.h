// The kernel's page allocator: a binary buddy allocator of 4 KiB pages over a
// range of guest RAM the platform carves out for the kernel. Page tables,
// queues and DMA buffers the drivers build all live in this emulated RAM, so
// the emulated hardware reads exactly what the drivers wrote.
//
// Blocks of order k are 2^k pages, aligned to 2^k pages in *physical*
// address (not relative to the range base), so a 64 KiB translation table
// from an order-4 block is naturally aligned as VMSAv8-64 requires.
//
// Locking: one mutex (lock_) guards the free lists, the per-page state, the
// statistics and the fault-injection state. It is never held while touching
// PhysicalMemory (zeroing happens after the block has left the free lists),
// and nothing is called back under it. Every public method is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "hw/memory.h"

namespace modiommu::mm {

using hw::PhysAddr;

inline constexpr unsigned kPageShift = 12;
inline constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;

struct PageAllocStats {
  uint64_t total_pages = 0;
  uint64_t free_pages = 0;
  uint64_t allocated_pages = 0;
  uint64_t high_water_pages = 0;  // most pages allocated at any one time
  uint64_t allocs = 0;            // successful allocations
  uint64_t frees = 0;
  uint64_t failed_allocs = 0;     // ENOMEM, injected ones included
  uint64_t injected_failures = 0;
};

class MODIOMMU_API PageAllocator {
 public:
  // Largest block: 2^10 pages (4 MiB), as Linux's MAX_PAGE_ORDER.
  static constexpr unsigned kMaxOrder = 10;
  // Per-page state costs one byte: cap the range at 64 GiB.
  static constexpr uint64_t kMaxPages = uint64_t{1} << 24;

  // Manages [base, base+size): page-aligned, non-empty, inside one RAM region.
  static Result<std::unique_ptr<PageAllocator>> create(hw::PhysicalMemory& mem, PhysAddr base, uint64_t size);

  PageAllocator(const PageAllocator&) = delete;
  PageAllocator& operator=(const PageAllocator&) = delete;

  // 2^order zeroed pages, naturally aligned. ENOMEM when no block is free
  // (or a failure is injected), EINVAL when order > kMaxOrder.
  Result<PhysAddr> alloc_pages(unsigned order);
  // Returns a block to the allocator, merging buddies. EINVAL for an address
  // outside the range, not page-aligned, not the start of an allocated
  // block, freed twice, or freed with another order than it was allocated.
  Status free_pages(PhysAddr pa, unsigned order);

  // `bytes` rounded up to whole pages and to `align` (a power of two).
  Result<PhysAddr> alloc(size_t bytes, size_t align = kPageSize);
  // Frees a block from alloc() or alloc_pages(), whatever its order.
  Status free(PhysAddr pa);
  // The order alloc(bytes, align) uses.
  static Result<unsigned> order_for(size_t bytes, size_t align);

  // Fault injection, so tests can drive ENOMEM paths. Counting starts at the
  // call. fail_nth(n): the n-th allocation from now (1 = the next) fails,
  // once. fail_after(n): the next n allocations succeed, every later fails.
  void fail_nth(uint64_t n);
  void fail_after(uint64_t n);
  void clear_fault_injection();

  PageAllocStats stats() const;
  bool owns(PhysAddr pa) const { return pa >= base_ && pa - base_ < size_; }
  // Is the page holding `pa` on a free list (owned, and not allocated)?
  // For checkers: a translation-table walk must never read a free page.
  bool is_free(PhysAddr pa) const;
  PhysAddr base() const { return base_; }
  uint64_t size() const { return size_; }
  hw::PhysicalMemory& memory() const { return mem_; }

 private:
  PageAllocator(hw::PhysicalMemory& mem, PhysAddr base, uint64_t size);

  // Per-page state byte: kHead marks the first page of a block, kFree a block
  // on a free list; the low bits hold the block's order. Tail pages are 0.
  static constexpr uint8_t kHead = 0x80;
  static constexpr uint8_t kFree = 0x40;
  static constexpr uint8_t kOrderMask = 0x1f;

  bool injected_failure_locked();
  // want_order < 0: free whatever order the block was allocated with.
  Status free_block(PhysAddr pa, int want_order, const char* who);
  void push_free_locked(uint64_t pfn, unsigned order);

  hw::PhysicalMemory& mem_;
  const PhysAddr base_;
  const uint64_t size_;
  const uint64_t base_pfn_;
  const uint64_t end_pfn_;

  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<uint8_t> state_;                 // indexed by pfn - base_pfn_
  std::set<uint64_t> free_[kMaxOrder + 1];     // free block pfns per order, lowest first
  PageAllocStats stats_;
  enum class Inject { none, nth, after } inject_ = Inject::none;
  uint64_t inject_count_ = 0;  // allocations still to pass before the injected failure(s)
};

}  // namespace modiommu::mm
