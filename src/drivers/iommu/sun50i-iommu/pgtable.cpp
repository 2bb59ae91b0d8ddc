// sun50i IOMMU page-table builder (pgtable.h).
#include "drivers/iommu/sun50i-iommu/pgtable.h"

#include <fmt/format.h>

namespace modiommu::sun50i_iommu {

namespace {
unsigned dte_index(uint64_t iova) { return static_cast<unsigned>((iova >> 20) & 0xfff); }
unsigned pte_index(uint64_t iova) { return static_cast<unsigned>((iova >> 12) & 0xff); }
constexpr uint64_t kLimit = uint64_t{1} << 32;  // IOVA and output: 32 bits
}  // namespace

// Linux sun50i_mk_pte: the ACI that grants exactly prot's permissions.
uint32_t make_pte(uint64_t pa, int prot) {
  const bool r = prot & iommu::IOMMU_READ, w = prot & iommu::IOMMU_WRITE;
  const Aci aci = r && w ? kAciRdWr : r ? kAciRd : w ? kAciWr : kAciNone;
  return (static_cast<uint32_t>(pa) & kPteAddrMask) | (uint32_t{aci} << kPteAciShift) | kPteValid;
}

Result<std::unique_ptr<Sun50iPgtable>> Sun50iPgtable::alloc(hw::PhysicalMemory& mem, mm::PageAllocator& pages,
                                                            iommu::IommuFlushOps* tlb) {
  iommu::IoPgtableCfg cfg;
  cfg.ias = 32;
  cfg.oas = 32;
  cfg.tlb = tlb;
  cfg.pgsize_bitmap = kPgsizeBitmap;
  cfg.levels = 2;
  std::unique_ptr<Sun50iPgtable> t(new Sun50iPgtable(cfg, mem, pages));
  t->dt_ = TRY(t->alloc_table(kDtOrder));
  return t;
}

Sun50iPgtable::~Sun50iPgtable() {
  if (cfg_.tlb) cfg_.tlb->tlb_flush_all();
  if (!dt_) return;
  for (unsigned i = 0; i < kDtEntries; ++i) {
    auto dte = mem_.read32(dt_ + 4 * i);
    if (dte.ok() && (*dte & kDteAttrs) == kDteValid && pages_.free_pages(*dte & kDteAddrMask, 0).ok())
      table_pages_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (pages_.free_pages(dt_, kDtOrder).ok()) table_pages_.fetch_sub(1u << kDtOrder, std::memory_order_relaxed);
}

// The walker has 32 address bits (Linux: GFP_DMA32 tables on a 32-bit bus).
Result<iommu::PhysAddr> Sun50iPgtable::alloc_table(unsigned order) {
  const iommu::PhysAddr pa = TRY(pages_.alloc_pages(order));
  if (pa >= kLimit) {
    (void)pages_.free_pages(pa, order);
    return make_error(Errc::nomem, fmt::format("sun50i io-pgtable: table page {:#x} is above the 32-bit range the "
                                               "IOMMU can walk", pa));
  }
  table_pages_.fetch_add(1u << order, std::memory_order_relaxed);
  return pa;
}

Result<iommu::PhysAddr> Sun50iPgtable::page_table(uint64_t iova, bool create) {
  const iommu::PhysAddr slot = dt_ + 4 * dte_index(iova);
  const uint32_t dte = TRY(mem_.read32(slot));
  if ((dte & kDteAttrs) == kDteValid) return iommu::PhysAddr{dte & kDteAddrMask};
  if (!create) return iommu::PhysAddr{0};
  const iommu::PhysAddr pt = TRY(alloc_table(0));  // zeroed before it is published
  TRY(mem_.write32(slot, (static_cast<uint32_t>(pt) & kDteAddrMask) | kDteValid));
  return pt;
}

Status Sun50iPgtable::map_pages(uint64_t iova, iommu::PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                                size_t* mapped) {
  if (mapped) *mapped = 0;
  if (pgsize != kPage)
    return make_error(Errc::inval, fmt::format("sun50i io-pgtable: page size {:#x} is not 4 KiB", pgsize));
  if ((iova | paddr) & (kPage - 1))
    return make_error(Errc::inval, fmt::format("sun50i io-pgtable: iova {:#x} / pa {:#x} not 4 KiB aligned", iova, paddr));
  const uint64_t size = uint64_t{pgsize} * pgcount;
  if (pgcount && (size / pgcount != pgsize || iova >= kLimit || size > kLimit - iova))
    return make_error(Errc::range, fmt::format("sun50i io-pgtable: [{:#x}, +{:#x}) is beyond the 32-bit IOVA space",
                                               iova, size));
  if (pgcount && (paddr >= kLimit || size > kLimit - paddr))
    return make_error(Errc::range, fmt::format("sun50i io-pgtable: pa [{:#x}, +{:#x}) is beyond 32 bits", paddr, size));
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
      if (*old & kPteValid) {
        // Linux sun50i_iommu_map: EBUSY, the old mapping stays. Here the
        // io-pgtable contract: EEXIST and this call's pages go again.
        err = make_error(Errc::exist, fmt::format("sun50i io-pgtable: iova {:#x} is already mapped to {:#x}",
                                                  iova + done, *old & kPteAddrMask));
        overlap = true;
        if (done) (void)unmap_locked(iova, done);
        break;
      }
      if (Status s = mem_.write32(slot, make_pte(paddr + done, prot)); !s.ok()) {
        err = std::move(s);
        break;
      }
      done += kPage;
    }
  }
  // TLB maintenance is a driver call (a lock ranked above this one): unlocked.
  if (overlap) {
    if (done && cfg_.tlb) cfg_.tlb->tlb_flush_walk(iova, done, kPage);
    return err;
  }
  if (mapped) *mapped = static_cast<size_t>(done);
  return err;
}

Result<size_t> Sun50iPgtable::map(uint64_t iova, iommu::PhysAddr paddr, size_t size, int prot) {
  if (size == 0 || size % kPage) return make_error(Errc::inval, fmt::format("sun50i io-pgtable: size {:#x}", size));
  size_t mapped = 0;
  Status s = map_pages(iova, paddr, kPage, size / kPage, prot, &mapped);
  if (!s.ok()) {
    if (mapped) (void)unmap(iova, mapped, nullptr);
    return std::move(s).error();
  }
  return size;
}

size_t Sun50iPgtable::unmap_locked(uint64_t iova, size_t size) {
  uint64_t done = 0;
  while (done < size) {
    auto pt = page_table(iova + done, false);
    if (!pt.ok() || *pt == 0) break;  // no page table: a hole
    const iommu::PhysAddr slot = *pt + 4 * pte_index(iova + done);
    auto pte = mem_.read32(slot);
    if (!pte.ok() || !(*pte & kPteValid)) break;  // Linux sun50i_iommu_unmap returns 0 at a hole
    if (!mem_.write32(slot, 0).ok()) break;
    done += kPage;
  }
  return static_cast<size_t>(done);
}

size_t Sun50iPgtable::unmap(uint64_t iova, size_t size, iommu::IotlbGather* gather) {
  if (size == 0 || (iova | size) & (kPage - 1) || iova >= kLimit || size > kLimit - iova) return 0;
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

Result<iommu::PhysAddr> Sun50iPgtable::iova_to_phys(uint64_t iova) const {
  if (iova >= kLimit) return make_error(Errc::range, fmt::format("sun50i io-pgtable: iova {:#x} is beyond 32 bits", iova));
  std::lock_guard g(lock_);
  const uint32_t dte = TRY(mem_.read32(dt_ + 4 * dte_index(iova)));
  if ((dte & kDteAttrs) != kDteValid) return make_error(Errc::noent, fmt::format("iova {:#x}: no page table", iova));
  const uint32_t pte = TRY(mem_.read32((dte & kDteAddrMask) + 4 * pte_index(iova)));
  if (!(pte & kPteValid)) return make_error(Errc::noent, fmt::format("iova {:#x}: not mapped", iova));
  return iommu::PhysAddr{pte & kPteAddrMask} | (iova & (kPage - 1));
}

}  // namespace modiommu::sun50i_iommu
