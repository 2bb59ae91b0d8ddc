// The Tegra SMMU page table (Linux keeps it inside tegra-smmu.c; so does
// this driver): a 4 KiB page directory of 1024 PDEs, each covering 4 MiB
// and pointing (NEXT) at a 4 KiB page table of 1024 PTEs, each mapping one
// 4 KiB page. 32-bit IOVAs; entries hold a pfn in their low bits (34-bit
// physical addresses on Tegra124/132/210) and read/write/nonsecure bits
// [31:29].
//
// It is an iommu::IoPgtable so the IOMMU core, tests and benchmarks use it
// like the LPAE one; cfg().fmt is unused (no core format names it).
// Page tables stay until the table is destroyed (Linux frees one when its
// last PTE goes; keeping it saves a PDE rewrite and PTC/TLB flush per
// 4 MiB churn). So unmap gathers no tables.
//
// Cache maintenance (Linux tegra_smmu_set_pde/set_pte): every table word
// written is flushed from the page-table cache (PtcFlush, by 64-byte atom)
// before its TLB entries are: a new PDE flushes its 4 MiB section
// (tlb_flush_walk), a map flushes its range once (tlb_flush_walk), unmap
// gathers its pages (tlb_add_page) for the caller's sync.
//
// Locking: lock_ (Linux's smmu->lock for the tables) serialises map, unmap
// and iova_to_phys. The hardware may walk at any time: every entry is one
// 32-bit store and a page table is zeroed before its PDE is published.
// Flush callbacks are made with lock_ released.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "iommu/io_pgtable.h"

namespace modiommu::tegra_smmu {

inline constexpr uint64_t kPage = 4096;
inline constexpr uint64_t kPgsizeBitmap = kPage;  // Linux tegra_smmu_ops.pgsize_bitmap = SZ_4K
inline constexpr unsigned kEntries = 1024;
inline constexpr uint64_t kAtom = 64;              // Linux tegra210/124 mc soc atom_size

// Page-table-cache maintenance a driver provides: drop the cached copy of
// the table word at `pa` (its atom).
class PtcFlush {
 public:
  virtual ~PtcFlush() = default;
  virtual void ptc_flush(iommu::PhysAddr pa) = 0;
};

class TegraPgtable : public iommu::IoPgtable {
 public:
  // `tlb` and `ptc` may be null (no maintenance).
  static Result<std::unique_ptr<TegraPgtable>> alloc(unsigned address_bits, hw::PhysicalMemory& mem,
                                                     mm::PageAllocator& pages, iommu::IommuFlushOps* tlb,
                                                     PtcFlush* ptc);
  ~TegraPgtable() override;

  Status map_pages(uint64_t iova, iommu::PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                   size_t* mapped) override;
  Result<size_t> map(uint64_t iova, iommu::PhysAddr paddr, size_t size, int prot) override;
  size_t unmap(uint64_t iova, size_t size, iommu::IotlbGather* gather) override;
  Result<iommu::PhysAddr> iova_to_phys(uint64_t iova) const override;

  iommu::PhysAddr directory() const { return pd_; }
  // SMMU_PTB_DATA for this table (Linux SMMU_PTB_DATA_VALUE(pd, R|W|NS)).
  uint32_t ptb_data() const;
  unsigned address_bits() const { return cfg_.oas; }

 private:
  TegraPgtable(const iommu::IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages, PtcFlush* ptc)
      : iommu::IoPgtable(cfg, mem, pages), ptc_(ptc) {}
  uint64_t pfn_mask() const { return (uint64_t{1} << (cfg_.oas - 12)) - 1; }
  Result<iommu::PhysAddr> table_page();  // a zeroed page the SMMU can address
  // The page table for iova's PDE, allocated when `create` (its PDE word is
  // added to `dirty`, its section to `sections`); 0 if none. lock_ held.
  Result<iommu::PhysAddr> page_table(uint64_t iova, bool create, std::vector<iommu::PhysAddr>* dirty,
                                     std::vector<uint64_t>* sections);
  size_t unmap_locked(uint64_t iova, size_t size, std::vector<iommu::PhysAddr>* dirty);
  void flush_words(const std::vector<iommu::PhysAddr>& dirty);  // lock_ not held

  PtcFlush* const ptc_;
  iommu::PhysAddr pd_ = 0;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
};

}  // namespace modiommu::tegra_smmu
