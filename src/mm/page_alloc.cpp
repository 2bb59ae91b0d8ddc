#include "mm/page_alloc.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

#include "base/fault_inject.h"

namespace modiommu::mm {

Result<std::unique_ptr<PageAllocator>> PageAllocator::create(hw::PhysicalMemory& mem, PhysAddr base, uint64_t size) {
  if (size == 0) return make_error(Errc::inval, fmt::format("page allocator range at {:#x} is empty", base));
  if ((base | size) & (kPageSize - 1))
    return make_error(Errc::inval,
                      fmt::format("page allocator range [{:#x}, +{:#x}) is not 4 KiB page aligned", base, size));
  if (size / kPageSize > kMaxPages)
    return make_error(Errc::range, fmt::format("page allocator range [{:#x}, +{:#x}) exceeds {} pages", base, size,
                                               kMaxPages));
  if (!mem.contains(base, size))
    return make_error(Errc::fault,
                      fmt::format("page allocator range [{:#x}, +{:#x}) is not inside one RAM region", base, size));
  return std::unique_ptr<PageAllocator>(new PageAllocator(mem, base, size));
}

PageAllocator::PageAllocator(hw::PhysicalMemory& mem, PhysAddr base, uint64_t size)
    : mem_(mem),
      base_(base),
      size_(size),
      base_pfn_(base >> kPageShift),
      end_pfn_((base + size) >> kPageShift),
      state_(size >> kPageShift, 0) {
  // Carve the range into the largest naturally aligned blocks that fit.
  uint64_t pfn = base_pfn_;
  while (pfn < end_pfn_) {
    unsigned order = kMaxOrder;
    while (order > 0 && ((pfn & ((uint64_t{1} << order) - 1)) || pfn + (uint64_t{1} << order) > end_pfn_)) --order;
    push_free_locked(pfn, order);
    pfn += uint64_t{1} << order;
  }
  stats_.total_pages = stats_.free_pages = size >> kPageShift;
}

void PageAllocator::push_free_locked(uint64_t pfn, unsigned order) {
  state_[pfn - base_pfn_] = kHead | kFree | static_cast<uint8_t>(order);
  free_[order].insert(pfn);
}

bool PageAllocator::injected_failure_locked() {
  switch (inject_) {
    case Inject::none:
      return false;
    case Inject::nth:
      if (--inject_count_ == 0) {
        inject_ = Inject::none;
        return true;
      }
      return false;
    case Inject::after:
      if (inject_count_ == 0) return true;
      --inject_count_;
      return false;
  }
  return false;
}

Result<PhysAddr> PageAllocator::alloc_pages(unsigned order) {
  if (order > kMaxOrder)
    return make_error(Errc::inval, fmt::format("alloc_pages: order {} exceeds the maximum order {}", order, kMaxOrder));
  uint64_t pfn = 0;
  {
    std::lock_guard g(lock_);
    if (injected_failure_locked() || fault_point("mm.alloc")) {
      ++stats_.failed_allocs;
      ++stats_.injected_failures;
      return make_error(Errc::nomem, fmt::format("alloc_pages: injected failure (order {})", order));
    }
    unsigned o = order;
    while (o <= kMaxOrder && free_[o].empty()) ++o;
    if (o > kMaxOrder) {
      ++stats_.failed_allocs;
      return make_error(Errc::nomem, fmt::format("alloc_pages: no free block of order {} ({} of {} pages free)",
                                                 order, stats_.free_pages, stats_.total_pages));
    }
    pfn = *free_[o].begin();
    free_[o].erase(free_[o].begin());
    // Split: keep the lower half, the upper halves go back as free buddies.
    while (o > order) {
      --o;
      push_free_locked(pfn + (uint64_t{1} << o), o);
    }
    state_[pfn - base_pfn_] = kHead | static_cast<uint8_t>(order);
    const uint64_t n = uint64_t{1} << order;
    stats_.free_pages -= n;
    stats_.allocated_pages += n;
    stats_.high_water_pages = std::max(stats_.high_water_pages, stats_.allocated_pages);
    ++stats_.allocs;
  }
  // The block is ours alone now: zero it outside the lock.
  const PhysAddr pa = pfn << kPageShift;
  if (auto s = mem_.fill(pa, 0, kPageSize << order); !s) {
    (void)free_pages(pa, order);
    return std::move(s).error();
  }
  return pa;
}

Status PageAllocator::free_pages(PhysAddr pa, unsigned order) {
  if (order > kMaxOrder)
    return make_error(Errc::inval, fmt::format("free_pages: order {} exceeds the maximum order {}", order, kMaxOrder));
  return free_block(pa, static_cast<int>(order), "free_pages");
}

Status PageAllocator::free(PhysAddr pa) { return free_block(pa, -1, "free"); }

bool PageAllocator::is_free(PhysAddr pa) const {
  if (!owns(pa)) return false;
  std::lock_guard g(lock_);
  const uint64_t pfn = pa / kPageSize;
  // The block holding the page starts at the nearest head at or below it
  // (tail pages carry no state); blocks are at most 2^kMaxOrder pages.
  for (uint64_t p = pfn, n = 0; p >= base_pfn_ && n <= (uint64_t{1} << kMaxOrder); --p, ++n) {
    const uint8_t st = state_[p - base_pfn_];
    if (st & kHead) return (st & kFree) && pfn - p < (uint64_t{1} << (st & kOrderMask));
    if (p == base_pfn_) break;
  }
  return false;
}

Status PageAllocator::free_block(PhysAddr pa, int want_order, const char* who) {
  if (!owns(pa))
    return make_error(Errc::inval, fmt::format("{}: {:#x} is outside the page allocator range [{:#x}, +{:#x})", who,
                                               pa, base_, size_));
  if (pa & (kPageSize - 1)) return make_error(Errc::inval, fmt::format("{}: {:#x} is not page aligned", who, pa));
  uint64_t pfn = pa >> kPageShift;
  std::lock_guard g(lock_);
  const uint8_t st = state_[pfn - base_pfn_];
  if (!(st & kHead))
    return make_error(Errc::inval, fmt::format("{}: {:#x} is not the start of an allocated block", who, pa));
  if (st & kFree) return make_error(Errc::inval, fmt::format("{}: double free of {:#x}", who, pa));
  const unsigned order = st & kOrderMask;
  if (want_order >= 0 && order != static_cast<unsigned>(want_order))
    return make_error(Errc::inval, fmt::format("{}: {:#x} was allocated with order {}, freed with order {}", who, pa,
                                               order, want_order));
  state_[pfn - base_pfn_] = 0;
  const uint64_t n = uint64_t{1} << order;
  stats_.free_pages += n;
  stats_.allocated_pages -= n;
  ++stats_.frees;
  // Merge with the buddy while it is a free block of the same order. A free
  // buddy head of that order lies wholly inside the range by construction.
  unsigned o = order;
  while (o < kMaxOrder) {
    const uint64_t buddy = pfn ^ (uint64_t{1} << o);
    if (buddy < base_pfn_ || buddy >= end_pfn_) break;
    if (state_[buddy - base_pfn_] != (kHead | kFree | o)) break;
    free_[o].erase(buddy);
    state_[buddy - base_pfn_] = 0;
    pfn = std::min(pfn, buddy);
    ++o;
  }
  push_free_locked(pfn, o);
  return {};
}

Result<unsigned> PageAllocator::order_for(size_t bytes, size_t align) {
  if (bytes == 0) return make_error(Errc::inval, "alloc: size 0");
  if (align == 0 || !std::has_single_bit(align))
    return make_error(Errc::inval, fmt::format("alloc: alignment {:#x} is not a power of two", align));
  const uint64_t need = std::max<uint64_t>(std::max<uint64_t>(bytes, align), kPageSize);
  if (need > (kPageSize << kMaxOrder))
    return make_error(Errc::inval, fmt::format("alloc: {:#x} bytes aligned to {:#x} exceeds the largest block {:#x}",
                                               bytes, align, kPageSize << kMaxOrder));
  return static_cast<unsigned>(std::bit_width(std::bit_ceil(need) >> kPageShift) - 1);
}

Result<PhysAddr> PageAllocator::alloc(size_t bytes, size_t align) {
  const unsigned order = TRY(order_for(bytes, align));
  return alloc_pages(order);
}

void PageAllocator::fail_nth(uint64_t n) {
  std::lock_guard g(lock_);
  inject_ = n ? Inject::nth : Inject::none;
  inject_count_ = n;
}

void PageAllocator::fail_after(uint64_t n) {
  std::lock_guard g(lock_);
  inject_ = Inject::after;
  inject_count_ = n;
}

void PageAllocator::clear_fault_injection() {
  std::lock_guard g(lock_);
  inject_ = Inject::none;
  inject_count_ = 0;
}

PageAllocStats PageAllocator::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

}  // namespace modiommu::mm
