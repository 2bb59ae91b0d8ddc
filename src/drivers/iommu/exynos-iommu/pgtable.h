// The Exynos SysMMU page table (Linux keeps it inside exynos-iommu.c; so
// does this driver): a 16 KiB first level of 4096 entries, each a 1 MiB
// section or a link to a 256-entry second-level table of 4 KiB small and
// 64 KiB large pages (a large page is written as 16 equal entries). 32-bit
// IOVAs. Entries hold PA >> 0 (v1..v3, 32-bit PA) or PA >> 4 (v5 and
// later, 36-bit PA), the access bits of each format.
//
// As Linux: every first-level entry of an unused section is a link to a
// shared second-level table of fault entries (ZERO_LV2LINK; SysMMU 3.3
// prefetches first-level entries and must never cache a fault entry
// there), and replacing such a link is followed by a walk-cache flush of
// the section (tlb_flush_walk: the driver's FLPD-cache invalidation). A
// counter of free entries per second-level table (lv2entcnt) lets a
// section replace an emptied table. Second-level tables are kept until the
// table goes (as Linux), so unmap gathers no tables. Unmap does not split:
// a request that covers part of a section or large page stops there.
//
// It is an iommu::IoPgtable so the IOMMU core, tests and benchmarks use it
// like the LPAE one; cfg().fmt is unused (no core format names it).
//
// Locking: lock_ (Linux's pgtablelock) serialises map, unmap and
// iova_to_phys; TLB calls are made after it is released. Every entry is
// one 32-bit store and a second-level table is filled before it is linked.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "iommu/io_pgtable.h"

namespace modiommu::exynos_iommu {

// The table format: v1 = SysMMU v1..v3, v5 = v5 and later (v7 too).
enum class PtFormat { v1, v5 };

inline constexpr uint64_t kSpage = 1u << 12, kLpage = 1u << 16, kSect = 1u << 20;
inline constexpr uint64_t kPgsizeBitmap = kSect | kLpage | kSpage;  // Linux exynos_iommu_ops
inline constexpr unsigned kLv1Entries = 4096, kLv2Entries = 256;
inline constexpr uint64_t kLv1Bytes = 4 * kLv1Entries;  // 16 KiB, 16 KiB aligned

inline unsigned ent_shift(PtFormat f) { return f == PtFormat::v1 ? 0 : 4; }
inline unsigned pa_bits(PtFormat f) { return f == PtFormat::v1 ? 32 : 36; }
// Entry encodings (Linux mk_lv1ent_sect/page, mk_lv2ent_lpage/spage with
// the version's protection bits).
uint32_t mk_sect(PtFormat f, uint64_t pa, int prot);
uint32_t mk_link(PtFormat f, uint64_t lv2_pa);
uint32_t mk_lpage(PtFormat f, uint64_t pa, int prot);
uint32_t mk_spage(PtFormat f, uint64_t pa, int prot);

class ExynosPgtable : public iommu::IoPgtable {
 public:
  // `zero_lv2` is the shared table of fault entries every unused section
  // links to (one page, zeroed, owned by the caller and outliving the
  // table); `tlb` may be null (no TLB maintenance).
  static Result<std::unique_ptr<ExynosPgtable>> alloc(PtFormat f, hw::PhysicalMemory& mem, mm::PageAllocator& pages,
                                                      iommu::PhysAddr zero_lv2, iommu::IommuFlushOps* tlb);
  ~ExynosPgtable() override;

  Status map_pages(uint64_t iova, iommu::PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                   size_t* mapped) override;
  Result<size_t> map(uint64_t iova, iommu::PhysAddr paddr, size_t size, int prot) override;
  size_t unmap(uint64_t iova, size_t size, iommu::IotlbGather* gather) override;
  Result<iommu::PhysAddr> iova_to_phys(uint64_t iova) const override;

  PtFormat format() const { return fmt_; }
  iommu::PhysAddr lv1() const { return lv1_; }
  // Free entries of the second-level table of iova's section (Linux
  // lv2entcnt); kLv2Entries when the section has no table.
  unsigned lv2_free(uint64_t iova) const;

 private:
  ExynosPgtable(const iommu::IoPgtableCfg& cfg, PtFormat f, hw::PhysicalMemory& mem, mm::PageAllocator& pages,
                iommu::PhysAddr zero_lv2)
      : iommu::IoPgtable(cfg, mem, pages), fmt_(f), zero_lv2_(zero_lv2) {}
  uint32_t zero_link() const { return mk_link(fmt_, zero_lv2_); }
  iommu::PhysAddr link_target(uint32_t lv1) const;
  // One page of `size` at iova; *flpd: a link was replaced (flush its walk cache).
  Status map_one(uint64_t iova, uint64_t pa, uint64_t size, int prot, bool* flpd);  // lock_ held
  // The leaf at iova if it lies within [iova, iova + left); its size, 0 if none.
  uint64_t unmap_one(uint64_t iova, uint64_t left);  // lock_ held

  const PtFormat fmt_;
  const iommu::PhysAddr zero_lv2_;
  iommu::PhysAddr lv1_ = 0;
  mutable std::mutex lock_;          // docs/architecture.md "Locks"
  std::vector<int16_t> lv2entcnt_;   // free entries per section's table
  std::vector<iommu::PhysAddr> free_after_flush_;  // emptied tables a section replaced
};

}  // namespace modiommu::exynos_iommu
