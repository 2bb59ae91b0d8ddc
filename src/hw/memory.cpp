#include "hw/memory.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "hw/dma_copy.h"

namespace modiommu::hw {

PhysicalMemory::PhysicalMemory() : top_(new std::atomic<Leaf*>[uint64_t{1} << kTopBits]) {
  for (uint64_t i = 0; i < (uint64_t{1} << kTopBits); ++i) top_[i].store(nullptr, std::memory_order_relaxed);
}

PhysicalMemory::~PhysicalMemory() {
  for (uint64_t i = 0; i < (uint64_t{1} << kTopBits); ++i) {
    Leaf* leaf = top_[i].load(std::memory_order_relaxed);
    if (!leaf) continue;
    for (auto& c : leaf->chunks) delete c.load(std::memory_order_relaxed);
    delete leaf;
  }
}

Status PhysicalMemory::add_ram(PhysAddr base, uint64_t size, std::string name) {
  if (size == 0) return make_error(Errc::inval, fmt::format("RAM region '{}' at {:#x} has size 0", name, base));
  if (base + size < base || base + size > (uint64_t{1} << kPhysBits))
    return make_error(Errc::range, fmt::format("RAM region '{}' [{:#x}, +{:#x}) is beyond the {}-bit physical address space",
                                               name, base, size, kPhysBits));
  std::lock_guard g(add_lock_);
  const size_t n = nregions_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    const Region& r = regions_[i];
    if (base < r.base + r.size && r.base < base + size)
      return make_error(Errc::exist, fmt::format("RAM region '{}' [{:#x}, +{:#x}) overlaps '{}' [{:#x}, +{:#x})", name,
                                                 base, size, r.name, r.base, r.size));
  }
  if (n == kMaxRegions) return make_error(Errc::nomem, fmt::format("more than {} RAM regions", kMaxRegions));
  regions_[n] = Region{base, size, std::move(name)};
  spans_[n] = Span{base, base + size};
  nregions_.store(n + 1, std::memory_order_release);
  return {};
}

std::vector<PhysicalMemory::Region> PhysicalMemory::regions() const {
  const size_t n = nregions_.load(std::memory_order_acquire);
  std::vector<Region> out(regions_, regions_ + n);
  std::sort(out.begin(), out.end(), [](const Region& a, const Region& b) { return a.base < b.base; });
  return out;
}

// Out of line and cold: formatting stays off the per-page DMA path.
[[gnu::cold, gnu::noinline]] Status PhysicalMemory::outside_ram(PhysAddr addr, uint64_t len) {
  return make_error(Errc::fault, fmt::format("physical access [{:#x}, +{:#x}) is outside RAM", addr, len));
}

PhysicalMemory::Chunk* PhysicalMemory::chunk_for(PhysAddr addr, bool create) const {
  const uint64_t idx = addr >> kChunkShift;
  const uint64_t ti = idx >> kLeafBits;
  const uint64_t li = idx & ((uint64_t{1} << kLeafBits) - 1);
  if (!create) return find_chunk(addr);
  Leaf* leaf = top_[ti].load(std::memory_order_acquire);
  if (!leaf) {
    auto* fresh = new Leaf;
    if (top_[ti].compare_exchange_strong(leaf, fresh, std::memory_order_acq_rel)) leaf = fresh;
    else delete fresh;  // another thread won; `leaf` now holds its pointer
  }
  Chunk* c = leaf->chunks[li].load(std::memory_order_acquire);
  if (!c && create) {
    auto* fresh = new Chunk;
    std::memset(fresh->bytes, 0, sizeof fresh->bytes);
    if (leaf->chunks[li].compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
      c = fresh;
      resident_.fetch_add(1, std::memory_order_relaxed);
    } else {
      delete fresh;
    }
  }
  return c;
}

Status PhysicalMemory::read(PhysAddr addr, void* dst, size_t len) const {
  if (!contains(addr, len)) [[unlikely]]
    return outside_ram(addr, len);
  auto* out = static_cast<uint8_t*>(dst);
  while (len) {
    const uint64_t off = addr & (kChunkSize - 1);
    const size_t n = std::min<uint64_t>(len, kChunkSize - off);
    if (Chunk* c = find_chunk(addr)) {
      std::lock_guard g(c->lock);
      std::memcpy(out, c->bytes + off, n);
    } else {
      std::memset(out, 0, n);
    }
    addr += n;
    out += n;
    len -= n;
  }
  return {};
}

Status PhysicalMemory::write(PhysAddr addr, const void* src, size_t len) {
  if (!contains(addr, len)) [[unlikely]]
    return outside_ram(addr, len);
  auto* in = static_cast<const uint8_t*>(src);
  while (len) {
    const uint64_t off = addr & (kChunkSize - 1);
    const size_t n = std::min<uint64_t>(len, kChunkSize - off);
    Chunk* c = chunk_for(addr, true);
    {
      std::lock_guard g(c->lock);
      std::memcpy(c->bytes + off, in, n);
    }
    addr += n;
    in += n;
    len -= n;
  }
  return {};
}

Status PhysicalMemory::fill(PhysAddr addr, uint8_t byte, size_t len) {
  if (!contains(addr, len)) [[unlikely]]
    return outside_ram(addr, len);
  while (len) {
    const uint64_t off = addr & (kChunkSize - 1);
    const size_t n = std::min<uint64_t>(len, kChunkSize - off);
    Chunk* c = chunk_for(addr, byte != 0);
    if (c) {
      std::lock_guard g(c->lock);
      std::memset(c->bytes + off, byte, n);
    }
    addr += n;
    len -= n;
  }
  return {};
}

template <bool kWrite>
size_t PhysicalMemory::move_pieces(const Piece* pieces, size_t n) const {
  const Chunk* held = nullptr;
  uint64_t held_bytes = 0;
  size_t i = 0;
  for (; i < n; ++i) {
    PhysAddr addr = pieces[i].pa;
    uint64_t len = pieces[i].len;
    uint8_t* buf = pieces[i].buf;
    if (!contains(addr, len)) [[unlikely]]
      break;
    while (len) {
      const uint64_t off = addr & (kChunkSize - 1);
      const size_t m = std::min<uint64_t>(len, kChunkSize - off);
      Chunk* c = find_chunk(addr);
      // chunk_for(create) only publishes a fresh zeroed chunk (CAS), so a
      // const object may allocate backing store, as fill() and write() do.
      if (kWrite && !c) [[unlikely]]
        c = chunk_for(addr, true);
      if (c != held || held_bytes + m > kChunkSize) {
        if (held) held->lock.unlock();
        held = c;
        held_bytes = 0;
        if (held) held->lock.lock();
      }
      if (!c) {
        std::memset(buf, 0, m);  // untouched RAM reads as zeros
      } else {
        held_bytes += m;
        if constexpr (kWrite) dma_copy(c->bytes + off, buf, m);
        else dma_copy(buf, c->bytes + off, m);
      }
      addr += m;
      buf += m;
      len -= m;
    }
  }
  if (held) held->lock.unlock();
  return i;
}

size_t PhysicalMemory::read_pieces(const Piece* pieces, size_t n) const { return move_pieces<false>(pieces, n); }
size_t PhysicalMemory::write_pieces(const Piece* pieces, size_t n) { return move_pieces<true>(pieces, n); }

Result<uint64_t> PhysicalMemory::read64(PhysAddr addr) const {
  uint64_t v = 0;
  if (auto s = read(addr, &v, sizeof v); !s) return std::move(s).error();
  return v;
}

Status PhysicalMemory::write64(PhysAddr addr, uint64_t value) {
  Status s = write(addr, &value, sizeof value);
  if (s.ok() && store_observer_on_.load(std::memory_order_relaxed)) {
    std::lock_guard g(store_observer_lock_);
    if (store_observer_) store_observer_(addr, value);
  }
  return s;
}

void PhysicalMemory::set_store64_observer(std::function<void(PhysAddr, uint64_t)> fn) {
  std::lock_guard g(store_observer_lock_);
  store_observer_on_.store(static_cast<bool>(fn), std::memory_order_relaxed);
  store_observer_ = std::move(fn);
}

Result<uint32_t> PhysicalMemory::read32(PhysAddr addr) const {
  uint32_t v = 0;
  if (auto s = read(addr, &v, sizeof v); !s) return std::move(s).error();
  return v;
}

Status PhysicalMemory::write32(PhysAddr addr, uint32_t value) { return write(addr, &value, sizeof value); }

void PhysicalMemory::set_table_read_observer(std::function<void(PhysAddr)> fn) {
  std::lock_guard g(table_observer_lock_);
  table_observer_on_.store(static_cast<bool>(fn), std::memory_order_relaxed);
  table_observer_ = std::move(fn);
}

void PhysicalMemory::call_table_observer(PhysAddr pa) const {
  std::lock_guard g(table_observer_lock_);
  if (table_observer_) table_observer_(pa);
}

}  // namespace modiommu::hw
