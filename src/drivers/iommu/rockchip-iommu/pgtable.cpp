// Rockchip IOMMU page-table builder (pgtable.h).
#include "drivers/iommu/rockchip-iommu/pgtable.h"

#include <fmt/format.h>

namespace modiommu::rockchip_iommu {

namespace {
unsigned dte_index(uint64_t iova) { return static_cast<unsigned>((iova >> 22) & 0x3ff); }
unsigned pte_index(uint64_t iova) { return static_cast<unsigned>((iova >> 12) & 0x3ff); }
constexpr uint64_t kIovaLimit = uint64_t{1} << 32;
}  // namespace

// Linux rk_mk_dte_v2: address bits 35:32 into [11:8], 39:36 into [7:4].
uint32_t pack_address(Version v, uint64_t pa) {
  uint32_t e = static_cast<uint32_t>(pa) & 0xfffff000u;
  if (v == Version::v2) e |= static_cast<uint32_t>((pa >> 32) & 0xf) << 8 | static_cast<uint32_t>((pa >> 36) & 0xf) << 4;
  return e;
}

uint64_t entry_address(Version v, uint32_t e) {
  uint64_t pa = e & 0xfffff000u;
  if (v == Version::v2) pa |= uint64_t{(e >> 8) & 0xf} << 32 | uint64_t{(e >> 4) & 0xf} << 36;
  return pa;
}

Result<std::unique_ptr<RkPgtable>> RkPgtable::alloc(Version v, hw::PhysicalMemory& mem, mm::PageAllocator& pages,
                                                    iommu::IommuFlushOps* tlb) {
  iommu::IoPgtableCfg cfg;
  cfg.ias = 32;
  cfg.oas = output_bits(v);
  cfg.tlb = tlb;
  cfg.pgsize_bitmap = kPgsizeBitmap;
  cfg.levels = 2;
  std::unique_ptr<RkPgtable> t(new RkPgtable(cfg, v, mem, pages));
  t->dt_ = TRY(t->table_page());
  return t;
}

RkPgtable::~RkPgtable() {
  if (cfg_.tlb) cfg_.tlb->tlb_flush_all();
  if (!dt_) return;
  for (unsigned i = 0; i < kEntries; ++i) {
    auto dte = mem_.read32(dt_ + 4 * i);
    if (dte.ok() && (*dte & kEntryValid) && pages_.free_pages(entry_address(version_, *dte), 0).ok())
      table_pages_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (pages_.free_pages(dt_, 0).ok()) table_pages_.fetch_sub(1, std::memory_order_relaxed);
}

// Linux allocates v1 tables with GFP_DMA32: the walker has 32 address bits.
Result<iommu::PhysAddr> RkPgtable::table_page() {
  const iommu::PhysAddr pa = TRY(pages_.alloc_pages(0));
  if (pa >> output_bits(version_)) {
    (void)pages_.free_pages(pa, 0);
    return make_error(Errc::nomem, fmt::format("rockchip io-pgtable: table page {:#x} is above the {}-bit range the "
                                               "IOMMU can walk", pa, output_bits(version_)));
  }
  table_pages_.fetch_add(1, std::memory_order_relaxed);
  return pa;
}

Result<iommu::PhysAddr> RkPgtable::page_table(uint64_t iova, bool create) {
  const iommu::PhysAddr slot = dt_ + 4 * dte_index(iova);
  const uint32_t dte = TRY(mem_.read32(slot));
  if (dte & kEntryValid) return entry_address(version_, dte);
  if (!create) return iommu::PhysAddr{0};
  const iommu::PhysAddr pt = TRY(table_page());  // zeroed before it is published
  TRY(mem_.write32(slot, pack_address(version_, pt) | kEntryValid));
  return pt;
}

Status RkPgtable::map_pages(uint64_t iova, iommu::PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                            size_t* mapped) {
  if (mapped) *mapped = 0;
  if (pgsize == 0 || (pgsize & (pgsize - 1)) || !(pgsize & kPgsizeBitmap))
    return make_error(Errc::inval, fmt::format("rockchip io-pgtable: page size {:#x} not in {:#x}", pgsize, kPgsizeBitmap));
  if ((iova | paddr) & (kPage - 1))
    return make_error(Errc::inval, fmt::format("rockchip io-pgtable: iova {:#x} / pa {:#x} not 4 KiB aligned", iova, paddr));
  const uint64_t size = uint64_t{pgsize} * pgcount;
  if (pgcount && (size / pgcount != pgsize || iova >= kIovaLimit || size > kIovaLimit - iova))
    return make_error(Errc::range, fmt::format("rockchip io-pgtable: [{:#x}, +{:#x}) is beyond the 32-bit IOVA space",
                                               iova, size));
  const uint64_t pa_limit = uint64_t{1} << output_bits(version_);
  if (pgcount && (paddr >= pa_limit || size > pa_limit - paddr))
    return make_error(Errc::range, fmt::format("rockchip io-pgtable: pa [{:#x}, +{:#x}) is beyond the {}-bit output "
                                               "of a {} IOMMU", paddr, size, output_bits(version_),
                                               version_ == Version::v1 ? "v1" : "v2"));
  uint32_t flags = kEntryValid;
  if (prot & iommu::IOMMU_READ) flags |= kPteReadable;
  if (prot & iommu::IOMMU_WRITE) flags |= kPteWritable;
  uint64_t done = 0;
  Status err;
  bool overlap = false;
  {
    std::lock_guard g(lock_);
    while (done < size) {
      auto pt = page_table(iova + done, true);
      if (!pt.ok()) {
        err = std::move(pt).error();
        break;
      }
      const iommu::PhysAddr slot = *pt + 4 * pte_index(iova + done);
      auto old = mem_.read32(slot);
      if (!old.ok()) {
        err = std::move(old).error();
        break;
      }
      if (*old & kEntryValid) {
        // Linux rk_iommu_map_iova: an existing mapping is not replaced; what
        // this call mapped goes again, so nothing changes.
        err = make_error(Errc::exist, fmt::format("rockchip io-pgtable: iova {:#x} is already mapped to {:#x}",
                                                  iova + done, entry_address(version_, *old)));
        overlap = true;
        if (done) (void)unmap_locked(iova, done);
        break;
      }
      if (Status s = mem_.write32(slot, pack_address(version_, paddr + done) | flags); !s.ok()) {
        err = std::move(s);
        break;
      }
      done += kPage;
    }
    // Other errors leave the prefix mapped in whole pgsize pages.
    if (!err.ok() && !overlap && done % pgsize) {
      const uint64_t keep = done / pgsize * pgsize;
      (void)unmap_locked(iova + keep, done - keep);
    }
  }
  // TLB maintenance is a driver call (a lock ranked above this one): unlocked.
  if (overlap) {
    if (done && cfg_.tlb) cfg_.tlb->tlb_flush_walk(iova, done, kPage);
    return err;
  }
  if (mapped) *mapped = static_cast<size_t>(done / pgsize * pgsize);
  return err;
}

Result<size_t> RkPgtable::map(uint64_t iova, iommu::PhysAddr paddr, size_t size, int prot) {
  if (size == 0 || size % kPage) return make_error(Errc::inval, fmt::format("rockchip io-pgtable: size {:#x}", size));
  size_t mapped = 0;
  Status s = map_pages(iova, paddr, kPage, size / kPage, prot, &mapped);
  if (!s.ok()) {
    if (mapped) (void)unmap(iova, mapped, nullptr);
    return std::move(s).error();
  }
  return size;
}

size_t RkPgtable::unmap_locked(uint64_t iova, size_t size) {
  uint64_t done = 0;
  while (done < size) {
    auto pt = page_table(iova + done, false);
    if (!pt.ok() || *pt == 0) break;  // no page table: a hole
    const iommu::PhysAddr slot = *pt + 4 * pte_index(iova + done);
    auto pte = mem_.read32(slot);
    if (!pte.ok() || !(*pte & kEntryValid)) break;  // Linux rk_iommu_unmap_iova stops at a hole
    if (!mem_.write32(slot, *pte & ~kEntryValid).ok()) break;
    done += kPage;
  }
  return static_cast<size_t>(done);
}

size_t RkPgtable::unmap(uint64_t iova, size_t size, iommu::IotlbGather* gather) {
  if (size == 0 || (iova | size) & (kPage - 1) || iova >= kIovaLimit || size > kIovaLimit - iova) return 0;
  size_t n = 0;
  {
    std::lock_guard g(lock_);
    n = unmap_locked(iova, size);
  }
  if (!n || !cfg_.tlb) return n;
  if (!gather) {
    cfg_.tlb->tlb_flush_all();
    return n;
  }
  for (uint64_t off = 0; off < n; off += kPage) cfg_.tlb->tlb_add_page(gather, iova + off, kPage);
  return n;
}

Result<iommu::PhysAddr> RkPgtable::iova_to_phys(uint64_t iova) const {
  if (iova >= kIovaLimit)
    return make_error(Errc::range, fmt::format("rockchip io-pgtable: iova {:#x} is beyond 32 bits", iova));
  std::lock_guard g(lock_);
  const uint32_t dte = TRY(mem_.read32(dt_ + 4 * dte_index(iova)));
  if (!(dte & kEntryValid)) return make_error(Errc::noent, fmt::format("iova {:#x}: no page table", iova));
  const uint32_t pte = TRY(mem_.read32(entry_address(version_, dte) + 4 * pte_index(iova)));
  if (!(pte & kEntryValid)) return make_error(Errc::noent, fmt::format("iova {:#x}: not mapped", iova));
  return entry_address(version_, pte) | (iova & (kPage - 1));
}

}  // namespace modiommu::rockchip_iommu
