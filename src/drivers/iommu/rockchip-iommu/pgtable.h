// The Rockchip IOMMU page table (Linux keeps it inside rockchip-iommu.c;
// so does this driver): a 4 KiB directory of 1024 DTEs, each pointing at a
// 4 KiB page table of 1024 PTEs, each mapping one 4 KiB page. 32-bit IOVAs;
// output addresses of 32 bits (v1, "rockchip,iommu") or 40 bits (v2,
// "rockchip,rk3568-iommu", the upper bits packed into entry bits [11:4]).
//
// It is an iommu::IoPgtable so the IOMMU core, tests and benchmarks use it
// like the LPAE one; cfg().fmt is unused (no core format names it).
// Page tables are never freed while the table lives (as Linux: a DTE once
// valid stays valid), so unmap gathers no tables; the destructor frees them.
//
// Locking: lock_ (Linux's dt_lock) serialises map, unmap and iova_to_phys.
// The hardware may walk at any time: every entry is one 32-bit store and a
// page table is zeroed before its DTE is published.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "base/result.h"
#include "iommu/io_pgtable.h"

namespace modiommu::rockchip_iommu {

enum class Version { v1, v2 };

// Linux RK_IOMMU_PGSIZE_BITMAP: any power of two from 4 KiB to 4 MiB (one
// page table); every size is written as 4 KiB PTEs.
inline constexpr uint64_t kPgsizeBitmap = 0x007ff000;
inline constexpr uint64_t kPage = 4096;
inline constexpr unsigned kEntries = 1024;

// Entry encodings (Linux rk_mk_dte/rk_mk_pte and their _v2 forms).
inline constexpr uint32_t kEntryValid = 1u << 0;
inline constexpr uint32_t kPteReadable = 1u << 1;
inline constexpr uint32_t kPteWritable = 1u << 2;
uint32_t pack_address(Version v, uint64_t pa);
uint64_t entry_address(Version v, uint32_t entry);
inline unsigned output_bits(Version v) { return v == Version::v1 ? 32 : 40; }

class RkPgtable : public iommu::IoPgtable {
 public:
  // `tlb` may be null (no TLB maintenance).
  static Result<std::unique_ptr<RkPgtable>> alloc(Version v, hw::PhysicalMemory& mem, mm::PageAllocator& pages,
                                                  iommu::IommuFlushOps* tlb);
  ~RkPgtable() override;

  Status map_pages(uint64_t iova, iommu::PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                   size_t* mapped) override;
  Result<size_t> map(uint64_t iova, iommu::PhysAddr paddr, size_t size, int prot) override;
  size_t unmap(uint64_t iova, size_t size, iommu::IotlbGather* gather) override;
  Result<iommu::PhysAddr> iova_to_phys(uint64_t iova) const override;

  Version version() const { return version_; }
  iommu::PhysAddr directory() const { return dt_; }
  // The MMU_DTE_ADDR value for this table (the directory's address packed
  // as an entry, Linux mk_dtentries).
  uint32_t dte_addr() const { return pack_address(version_, dt_) | kEntryValid; }

 private:
  RkPgtable(const iommu::IoPgtableCfg& cfg, Version v, hw::PhysicalMemory& mem, mm::PageAllocator& pages)
      : iommu::IoPgtable(cfg, mem, pages), version_(v) {}
  Result<iommu::PhysAddr> table_page();  // a zeroed page the hardware can address
  // The page table for iova's DTE, allocated when `create`; 0 if none.
  Result<iommu::PhysAddr> page_table(uint64_t iova, bool create);  // lock_ held
  size_t unmap_locked(uint64_t iova, size_t size);

  const Version version_;
  iommu::PhysAddr dt_ = 0;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
};

}  // namespace modiommu::rockchip_iommu
