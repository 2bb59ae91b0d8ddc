// Sparse guest physical memory. RAM regions are declared (from the device
// tree's memory nodes); backing store is allocated in 64 KiB chunks on first
// write, so tens of GiB cost nothing until touched. Reads of untouched RAM
// return zeros.
//
// Locking: the chunk table is lock-free (atomic pointers installed once by
// CAS, freed only with the memory object). The region list is append-only:
// a region is written, then published by bumping an atomic count, so the
// per-access RAM check takes no lock. Each chunk has a spinlock held for
// every access to its bytes (a DMA burst holds it for at most one chunk's
// copy), so any aligned access of up to 8 bytes is single-copy atomic, as
// the architecture guarantees for translation table descriptors and queue
// entries (IHI 0070 3.21.3).
#pragma once

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"

namespace modiommu::hw {

using PhysAddr = uint64_t;

class MODIOMMU_API PhysicalMemory {
 public:
  static constexpr unsigned kChunkShift = 16;
  static constexpr uint64_t kChunkSize = uint64_t{1} << kChunkShift;
  static constexpr unsigned kPhysBits = 48;  // addresses at or above 2^48 are never RAM

  struct Region {
    PhysAddr base = 0;
    uint64_t size = 0;
    std::string name;
  };

  PhysicalMemory();
  ~PhysicalMemory();
  PhysicalMemory(const PhysicalMemory&) = delete;
  PhysicalMemory& operator=(const PhysicalMemory&) = delete;

  // Declares RAM. Overlapping or out-of-range regions are rejected.
  Status add_ram(PhysAddr base, uint64_t size, std::string name = "ram");
  std::vector<Region> regions() const;
  // True when [addr, addr+len) lies inside one RAM region. Inline: it runs
  // once per DMA piece.
  bool contains(PhysAddr addr, uint64_t len) const {
    if (addr + len < addr) return false;
    const size_t n = nregions_.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i)
      if (addr >= spans_[i].base && addr + len <= spans_[i].end) return true;
    return false;
  }

  // Errors (EFAULT) name the address when any byte is outside RAM; nothing
  // is written in that case.
  Status read(PhysAddr addr, void* dst, size_t len) const;
  Status write(PhysAddr addr, const void* src, size_t len);
  Status fill(PhysAddr addr, uint8_t byte, size_t len);

  // Scatter-gather for DMA: piece i moves len bytes between RAM at pa and
  // host memory at buf (read: RAM -> buf; write: buf -> RAM), in order.
  // Stops before the first piece not inside RAM and returns its index (n
  // when all moved). Neighbouring pieces in one chunk share one hold of its
  // lock (at most kChunkSize bytes per hold), so a burst of scattered pages
  // does not pay a locked instruction - a full fence on x86 - per page.
  struct Piece {
    PhysAddr pa = 0;
    uint64_t len = 0;
    uint8_t* buf = nullptr;
  };
  size_t read_pieces(const Piece* pieces, size_t n) const;
  size_t write_pieces(const Piece* pieces, size_t n);
  Result<uint64_t> read64(PhysAddr addr) const;

  // Debug instrumentation (not hardware): translation-table walkers call
  // note_table_read() for every descriptor they fetch, so a checker can
  // catch a walk of memory the kernel already freed. Off by default: one
  // relaxed load on the walk path.
  void set_table_read_observer(std::function<void(PhysAddr)> fn);
  void note_table_read(PhysAddr pa) const {
    if (table_observer_on_.load(std::memory_order_relaxed)) call_table_observer(pa);
  }
  Status write64(PhysAddr addr, uint64_t value);
  // Debug instrumentation (not hardware): every successful write64() calls
  // fn(addr, value) after the store, so a test can check each state a
  // driver's sequence of 64-bit stores leaves in memory (a hitless STE
  // update). Off by default: one relaxed load per write64().
  void set_store64_observer(std::function<void(PhysAddr, uint64_t)> fn);
  Result<uint32_t> read32(PhysAddr addr) const;
  Status write32(PhysAddr addr, uint32_t value);

  // Host bytes actually backing guest RAM.
  uint64_t resident_bytes() const { return resident_.load(std::memory_order_relaxed) * kChunkSize; }

 private:
  void call_table_observer(PhysAddr pa) const;
  std::atomic<bool> table_observer_on_{false};
  mutable std::mutex table_observer_lock_;  // guards table_observer_; a leaf; docs/architecture.md "Locks"
  std::function<void(PhysAddr)> table_observer_;
  std::atomic<bool> store_observer_on_{false};
  std::mutex store_observer_lock_;  // guards store_observer_; a leaf
  std::function<void(PhysAddr, uint64_t)> store_observer_;
  // A test-and-test-and-set spinlock: an uncontended access costs two
  // atomic operations, which matters on the per-page DMA path.
  class ChunkLock {
   public:
    void lock() const {
      while (flag_.exchange(true, std::memory_order_acquire))
        while (flag_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
    void unlock() const { flag_.store(false, std::memory_order_release); }

   private:
    mutable std::atomic<bool> flag_{false};
  };
  // The bytes come first and page-aligned, so each guest 4 KiB page is one
  // aligned host page: copies use aligned vector loads and touch one host
  // TLB entry per guest page (the lock at offset 0 put every byte off by one).
  struct alignas(4096) Chunk {
    uint8_t bytes[kChunkSize];
    ChunkLock lock;
  };
  static constexpr unsigned kLeafBits = 16;
  static constexpr unsigned kTopBits = kPhysBits - kChunkShift - kLeafBits;
  struct Leaf {
    std::atomic<Chunk*> chunks[uint64_t{1} << kLeafBits] = {};
  };

  Chunk* chunk_for(PhysAddr addr, bool create) const;
  Chunk* find_chunk(PhysAddr addr) const {
    Leaf* leaf = top_[addr >> (kChunkShift + kLeafBits)].load(std::memory_order_acquire);
    return leaf ? leaf->chunks[(addr >> kChunkShift) & ((uint64_t{1} << kLeafBits) - 1)].load(std::memory_order_acquire)
                : nullptr;
  }
  static Status outside_ram(PhysAddr addr, uint64_t len);
  template <bool kWrite>
  size_t move_pieces(const Piece* pieces, size_t n) const;

  static constexpr size_t kMaxRegions = 64;
  std::mutex add_lock_;  // serialises add_ram (writers only); docs/architecture.md "Locks"
  Region regions_[kMaxRegions];
  // [base, end) of regions_, packed for the per-access check.
  struct Span {
    PhysAddr base = 0, end = 0;
  };
  Span spans_[kMaxRegions];
  std::atomic<size_t> nregions_{0};  // published count: readers see regions_[0, n)
  std::unique_ptr<std::atomic<Leaf*>[]> top_;
  mutable std::atomic<uint64_t> resident_{0};
};

}  // namespace modiommu::hw
