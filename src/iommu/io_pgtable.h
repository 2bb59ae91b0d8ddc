// io-pgtable: the driver-side builder of the page tables an IOMMU walks, as
// Linux's io-pgtable. One IoPgtable is one address space (a domain's
// translation); drivers program the returned table base and translation
// control fields into their hardware (SMMUv3 CD/STE, SMMUv2 context bank).
// Table memory comes from the kernel's PageAllocator, i.e. from emulated RAM.
//
// Thread-safety rule (as Linux): map/unmap/iova_to_phys may run concurrently
// from several threads as long as the IOVA ranges they modify are disjoint.
// Overlapping concurrent calls are a caller bug; they cannot corrupt the
// allocator, but the resulting mappings are unspecified. The hardware may
// walk the tables at any time: every descriptor change is one 64-bit store
// and a new table is published only once fully initialised.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "base/api.h"
#include "base/result.h"
#include "hw/memory.h"
#include "mm/page_alloc.h"

namespace modiommu::iommu {

using hw::PhysAddr;

// Mapping permissions and attributes (Linux include/linux/iommu.h values).
inline constexpr int IOMMU_READ = 1 << 0;
inline constexpr int IOMMU_WRITE = 1 << 1;
inline constexpr int IOMMU_CACHE = 1 << 2;   // coherent, write-back cacheable
inline constexpr int IOMMU_NOEXEC = 1 << 3;
inline constexpr int IOMMU_MMIO = 1 << 4;    // device memory
inline constexpr int IOMMU_PRIV = 1 << 5;    // privileged-only (stage 1)

enum class PgtableFormat {
  arm_lpae_s1,
  arm_lpae_s2,
  arm_v7s,  // ARMv7 short descriptors (io_pgtable_arm_v7s.cpp), MediaTek M4U
};
enum class Granule { k4K, k16K, k64K };

MODIOMMU_API const char* format_name(PgtableFormat f);
MODIOMMU_API size_t granule_bytes(Granule g);

// What one unmap call leaves for the caller to invalidate, and the table
// pages it unhooked. The tables must not be reused until the TLB (and walk
// caches) no longer reference them and in-flight walks are done: the caller
// invalidates [start, end], then calls IoPgtable::free_gathered().
struct MODIOMMU_API IotlbGather {
  struct FreedTable {
    PhysAddr pa = 0;
    unsigned order = 0;
  };
  uint64_t start = std::numeric_limits<uint64_t>::max();
  uint64_t end = 0;   // inclusive; the range is empty while start > end
  size_t pgsize = 0;  // the smallest leaf size gathered (the invalidation step)
  std::vector<FreedTable> freelist;

  bool empty() const { return start > end; }
  // Linux's iommu_iotlb_gather_add_page without the early-sync policy, which
  // belongs to the driver's tlb_add_page.
  void add_page(uint64_t iova, size_t size);
  // Forgets the range (not the freelist).
  void reset_range();
};

// TLB maintenance callbacks a driver provides (Linux iommu_flush_ops).
// tlb_flush_all and tlb_flush_walk complete before returning (CMD_SYNC
// included); tlb_add_page only records and may be batched until the
// caller's sync.
class MODIOMMU_API IommuFlushOps {
 public:
  virtual ~IommuFlushOps() = default;
  virtual void tlb_flush_all() = 0;
  // A table was unhooked: invalidate leaf and walk-cache entries for the range.
  virtual void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) = 0;
  // A leaf was removed; usually just gather->add_page(iova, granule).
  virtual void tlb_add_page(IotlbGather* gather, uint64_t iova, size_t granule) = 0;
};

// Fields in VMSAv8-64 encodings (DDI 0487 D8, TCR_EL1 / VTCR_EL2), for the
// driver to repack into its own structures.
struct MODIOMMU_API ArmLpaeS1Cfg {
  uint64_t ttbr = 0;
  struct {
    unsigned ips = 0, tg = 0, sh = 0, orgn = 0, irgn = 0, tsz = 0;
  } tcr;
  uint64_t mair = 0;
  // Packed as TCR_EL1's TTBR0 half: T0SZ[5:0] IRGN0[9:8] ORGN0[11:10]
  // SH0[13:12] TG0[15:14] IPS[34:32].
  uint64_t tcr_value() const;
};

struct MODIOMMU_API ArmLpaeS2Cfg {
  uint64_t vttbr = 0;
  struct {
    unsigned ps = 0, tg = 0, sh = 0, orgn = 0, irgn = 0, sl = 0, tsz = 0;
  } vtcr;
  // Packed as VTCR_EL2: T0SZ[5:0] SL0[7:6] IRGN0[9:8] ORGN0[11:10]
  // SH0[13:12] TG0[15:14] PS[18:16].
  uint64_t vtcr_value() const;
};

// MAIR attribute indexes used by stage-1 descriptors.
inline constexpr unsigned kMairIdxNc = 0;      // Normal non-cacheable (0x44)
inline constexpr unsigned kMairIdxCache = 1;   // Normal WB RW-allocate (0xff)
inline constexpr unsigned kMairIdxDevice = 2;  // Device-nGnRE (0x04)

// io-pgtable quirks (Linux include/linux/io-pgtable.h IO_PGTABLE_QUIRK_*),
// read by the arm_v7s format.
inline constexpr unsigned kQuirkArmNs = 1u << 0;        // NS bits in table and section descriptors
inline constexpr unsigned kQuirkNoPerms = 1u << 1;      // no AP bits: every mapping is read/write
inline constexpr unsigned kQuirkArmMtkExt = 1u << 3;    // PA bits 32-34 in descriptor bits 9, 4, 5
inline constexpr unsigned kQuirkArmMtkTtbrExt = 1u << 7;  // tables above 4 GiB: TTBR and table PA bits 32-34

// ARMv7 short-descriptor outputs (Linux arm_v7s_cfg): the value a driver
// writes into its translation table base register.
struct MODIOMMU_API ArmV7sCfg {
  uint32_t ttbr = 0;
};

struct MODIOMMU_API IoPgtableCfg {
  // Inputs.
  PgtableFormat fmt = PgtableFormat::arm_lpae_s1;
  Granule granule = Granule::k4K;
  unsigned ias = 48;  // input (IOVA / IPA) bits, 32..48
  unsigned oas = 48;  // output bits: 32, 36, 40, 42, 44 or 48
  bool coherent = true;  // table walks snoop caches: sets SH/IRGN/ORGN
  IommuFlushOps* tlb = nullptr;  // may be null: then no TLB maintenance
  unsigned quirks = 0;           // kQuirk* (arm_v7s only)

  // Outputs, filled by IoPgtable::alloc.
  uint64_t pgsize_bitmap = 0;
  unsigned start_level = 0;  // VMSAv8-64 level of the top table (0..3)
  unsigned levels = 0;
  ArmLpaeS1Cfg arm_lpae_s1_cfg;
  ArmLpaeS2Cfg arm_lpae_s2_cfg;
  ArmV7sCfg arm_v7s_cfg;
};

class MODIOMMU_API IoPgtable {
 public:
  // Validates cfg (clear EINVAL naming the bad field), allocates the top
  // table and fills in cfg's outputs. `pages` must outlive the IoPgtable.
  static Result<std::unique_ptr<IoPgtable>> alloc(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem,
                                                  mm::PageAllocator& pages);
  // Calls tlb_flush_all, then frees every table. The hardware must no longer
  // use the tables; gathers not yet freed must be freed before.
  virtual ~IoPgtable();
  IoPgtable(const IoPgtable&) = delete;
  IoPgtable& operator=(const IoPgtable&) = delete;

  // Maps pgcount pages of pgsize (a size in pgsize_bitmap). Overlap with an
  // existing mapping: EEXIST and nothing changes. Other errors (ENOMEM) may
  // leave a prefix mapped, reported in *mapped, for the caller to unmap
  // (Linux semantics).
  virtual Status map_pages(uint64_t iova, PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                           size_t* mapped) = 0;
  // Maps a whole range, with block entries wherever alignment allows.
  // Returns the bytes mapped (== size); on any error nothing stays mapped.
  virtual Result<size_t> map(uint64_t iova, PhysAddr paddr, size_t size, int prot) = 0;
  // Unmaps [iova, iova+size), splitting blocks that are partly unmapped.
  // An entry whose whole span lies in the range is cleared with whatever it
  // holds (a table goes with its subtree, gathered); the walk stops at the
  // first invalid entry (a hole). Returns the bytes unmapped, 0 for a
  // misaligned or out-of-range request. gather == nullptr: flushes the whole
  // TLB and frees unhooked tables before returning.
  virtual size_t unmap(uint64_t iova, size_t size, IotlbGather* gather) = 0;
  // ENOENT when nothing is mapped there, ERANGE beyond the input size.
  virtual Result<PhysAddr> iova_to_phys(uint64_t iova) const = 0;

  // Frees the tables gathered by unmap. Call after the TLB invalidation for
  // the gather has completed.
  Status free_gathered(IotlbGather& gather);

  const IoPgtableCfg& cfg() const { return cfg_; }
  uint64_t pgsize_bitmap() const { return cfg_.pgsize_bitmap; }
  // The table base: TTBR for stage 1, VTTBR for stage 2.
  uint64_t ttbr() const;
  uint64_t tcr() const { return cfg_.arm_lpae_s1_cfg.tcr_value(); }
  uint64_t vtcr() const { return cfg_.arm_lpae_s2_cfg.vtcr_value(); }
  uint64_t mair() const { return cfg_.arm_lpae_s1_cfg.mair; }
  // Table pages in use by this page table (gathered ones until freed).
  uint64_t table_pages() const { return table_pages_.load(std::memory_order_relaxed); }

 protected:
  IoPgtable(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages)
      : cfg_(cfg), mem_(mem), pages_(pages) {}

  IoPgtableCfg cfg_;
  hw::PhysicalMemory& mem_;
  mm::PageAllocator& pages_;
  std::atomic<uint64_t> table_pages_{0};
};

}  // namespace modiommu::iommu
