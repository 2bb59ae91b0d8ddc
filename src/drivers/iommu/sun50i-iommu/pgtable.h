// The sun50i IOMMU page table (Linux keeps it inside sun50i-iommu.c; so
// does this driver): a 16 KiB directory of 4096 DTEs, each covering 1 MiB
// through a page table of 256 PTEs of 4 KiB pages. 32-bit IOVAs and output
// addresses. A PTE carries no read/write bits but an access control index
// (ACI); the driver programs DM_AUT_CTRL so that ACI 1 denies everything,
// 2 allows reads, 3 writes, 4 both (Linux enum sun50i_iommu_aci).
//
// It is an iommu::IoPgtable so the IOMMU core, tests and benchmarks use it
// like the LPAE one; cfg().fmt is unused. Page tables are 1 KiB; each takes
// its own 4 KiB page here (Linux packs them in a kmem_cache) and, as in
// Linux, stays until the table is destroyed (a DTE once valid stays valid),
// so unmap gathers no tables.
//
// Locking: lock_ serialises map, unmap and iova_to_phys. The hardware may
// walk at any time: every entry is one 32-bit store and a page table is
// zeroed before its DTE is published.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "base/result.h"
#include "iommu/io_pgtable.h"

namespace modiommu::sun50i_iommu {

// Linux sun50i_iommu_ops.pgsize_bitmap: 4 KiB only.
inline constexpr uint64_t kPgsizeBitmap = 0x1000;
inline constexpr uint64_t kPage = 4096;
inline constexpr unsigned kDtEntries = 4096;
inline constexpr unsigned kPtEntries = 256;
inline constexpr unsigned kDtOrder = 2;  // 16 KiB, naturally aligned (TTB [31:14])

enum Aci : uint32_t { kAciDoNotUse = 0, kAciNone = 1, kAciRd = 2, kAciWr = 3, kAciRdWr = 4 };

inline constexpr uint32_t kDteValid = 1;           // [1:0] == 1
inline constexpr uint32_t kDteAttrs = 0x3;
inline constexpr uint32_t kDteAddrMask = 0xfffffc00u;  // [31:10]
inline constexpr uint32_t kPteValid = 1u << 1;
inline constexpr uint32_t kPteAddrMask = 0xfffff000u;  // [31:12]
inline constexpr unsigned kPteAciShift = 4;            // [7:4]
inline constexpr uint32_t kPteAciMask = 0xf0;

uint32_t make_pte(uint64_t pa, int prot);
inline constexpr Aci pte_aci(uint32_t pte) { return static_cast<Aci>((pte & kPteAciMask) >> kPteAciShift); }

class Sun50iPgtable : public iommu::IoPgtable {
 public:
  // `tlb` may be null (no TLB maintenance).
  static Result<std::unique_ptr<Sun50iPgtable>> alloc(hw::PhysicalMemory& mem, mm::PageAllocator& pages,
                                                      iommu::IommuFlushOps* tlb);
  ~Sun50iPgtable() override;

  Status map_pages(uint64_t iova, iommu::PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                   size_t* mapped) override;
  Result<size_t> map(uint64_t iova, iommu::PhysAddr paddr, size_t size, int prot) override;
  size_t unmap(uint64_t iova, size_t size, iommu::IotlbGather* gather) override;
  Result<iommu::PhysAddr> iova_to_phys(uint64_t iova) const override;

  // IOMMU_TTB_REG for this table.
  iommu::PhysAddr directory() const { return dt_; }

 private:
  Sun50iPgtable(const iommu::IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages)
      : iommu::IoPgtable(cfg, mem, pages) {}
  Result<iommu::PhysAddr> alloc_table(unsigned order);  // zeroed, below 4 GiB
  Result<iommu::PhysAddr> page_table(uint64_t iova, bool create);  // lock_ held; 0 if none
  size_t unmap_locked(uint64_t iova, size_t size);

  iommu::PhysAddr dt_ = 0;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
};

}  // namespace modiommu::sun50i_iommu
