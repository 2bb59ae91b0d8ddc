// Tegra SMMU page-table builder (pgtable.h).
#include "drivers/iommu/tegra-smmu/pgtable.h"

#include <fmt/format.h>

#include "drivers/iommu/tegra-smmu/regs.h"

namespace modiommu::tegra_smmu {

namespace {
unsigned pd_index(uint64_t iova) { return static_cast<unsigned>((iova >> 22) & 0x3ff); }
unsigned pt_index(uint64_t iova) { return static_cast<unsigned>((iova >> 12) & 0x3ff); }
constexpr uint64_t kIovaLimit = uint64_t{1} << 32;  // Linux: aperture 0..0xffffffff
constexpr uint32_t kTableAttr = ATTR_READABLE | ATTR_WRITABLE | ATTR_NONSECURE;  // SMMU_PDE_ATTR
// Records `pa`'s atom unless the last one recorded is the same.
void note(std::vector<iommu::PhysAddr>* dirty, iommu::PhysAddr pa) {
  const iommu::PhysAddr atom = pa & ~(kAtom - 1);
  if (dirty->empty() || dirty->back() != atom) dirty->push_back(atom);
}
}  // namespace

Result<std::unique_ptr<TegraPgtable>> TegraPgtable::alloc(unsigned address_bits, hw::PhysicalMemory& mem,
                                                          mm::PageAllocator& pages, iommu::IommuFlushOps* tlb,
                                                          PtcFlush* ptc) {
  if (address_bits < 32 || address_bits > 44)
    return make_error(Errc::inval, fmt::format("tegra io-pgtable: {} address bits", address_bits));
  iommu::IoPgtableCfg cfg;
  cfg.ias = 32;
  cfg.oas = address_bits;
  cfg.tlb = tlb;
  cfg.pgsize_bitmap = kPgsizeBitmap;
  cfg.levels = 2;
  std::unique_ptr<TegraPgtable> t(new TegraPgtable(cfg, mem, pages, ptc));
  t->pd_ = TRY(t->table_page());
  return t;
}

TegraPgtable::~TegraPgtable() {
  if (cfg_.tlb) cfg_.tlb->tlb_flush_all();
  if (!pd_) return;
  for (unsigned i = 0; i < kEntries; ++i) {
    auto pde = mem_.read32(pd_ + 4 * i);
    if (pde.ok() && (*pde & PDE_NEXT) && pages_.free_pages((*pde & pfn_mask()) << 12, 0).ok())
      table_pages_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (pages_.free_pages(pd_, 0).ok()) table_pages_.fetch_sub(1, std::memory_order_relaxed);
}

uint32_t TegraPgtable::ptb_data() const { return static_cast<uint32_t>(pd_ >> 12) | kTableAttr; }

// Linux allocates tables with __GFP_DMA and checks smmu_dma_addr_valid.
Result<iommu::PhysAddr> TegraPgtable::table_page() {
  const iommu::PhysAddr pa = TRY(pages_.alloc_pages(0));
  if (pa >> cfg_.oas) {
    (void)pages_.free_pages(pa, 0);
    return make_error(Errc::nomem, fmt::format("tegra io-pgtable: table page {:#x} is above the {}-bit range the "
                                               "SMMU can walk", pa, cfg_.oas));
  }
  table_pages_.fetch_add(1, std::memory_order_relaxed);
  return pa;
}

Result<iommu::PhysAddr> TegraPgtable::page_table(uint64_t iova, bool create, std::vector<iommu::PhysAddr>* dirty,
                                                 std::vector<uint64_t>* sections) {
  const iommu::PhysAddr slot = pd_ + 4 * pd_index(iova);
  const uint32_t pde = TRY(mem_.read32(slot));
  if (pde & PDE_NEXT) return (pde & pfn_mask()) << 12;
  if (!create) return iommu::PhysAddr{0};
  const iommu::PhysAddr pt = TRY(table_page());  // zeroed before it is published
  TRY(mem_.write32(slot, static_cast<uint32_t>(pt >> 12) | kTableAttr | PDE_NEXT));
  note(dirty, slot);
  sections->push_back(iova & ~((uint64_t{1} << 22) - 1));
  return pt;
}

void TegraPgtable::flush_words(const std::vector<iommu::PhysAddr>& dirty) {
  if (!ptc_) return;
  for (iommu::PhysAddr a : dirty) ptc_->ptc_flush(a);
}

Status TegraPgtable::map_pages(uint64_t iova, iommu::PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                               size_t* mapped) {
  if (mapped) *mapped = 0;
  if (pgsize != kPage)
    return make_error(Errc::inval, fmt::format("tegra io-pgtable: page size {:#x} not in {:#x}", pgsize, kPgsizeBitmap));
  if ((iova | paddr) & (kPage - 1))
    return make_error(Errc::inval, fmt::format("tegra io-pgtable: iova {:#x} / pa {:#x} not 4 KiB aligned", iova, paddr));
  const uint64_t size = uint64_t{pgsize} * pgcount;
  if (pgcount && (size / pgcount != pgsize || iova >= kIovaLimit || size > kIovaLimit - iova))
    return make_error(Errc::range, fmt::format("tegra io-pgtable: [{:#x}, +{:#x}) is beyond the 32-bit IOVA space",
                                               iova, size));
  const uint64_t pa_limit = uint64_t{1} << cfg_.oas;
  if (pgcount && (paddr >= pa_limit || size > pa_limit - paddr))
    return make_error(Errc::range, fmt::format("tegra io-pgtable: pa [{:#x}, +{:#x}) is beyond the SMMU's {}-bit "
                                               "output", paddr, size, cfg_.oas));
  // Linux tegra_smmu_map: nonsecure always, read/write as asked.
  uint32_t attr = ATTR_NONSECURE;
  if (prot & iommu::IOMMU_READ) attr |= ATTR_READABLE;
  if (prot & iommu::IOMMU_WRITE) attr |= ATTR_WRITABLE;
  uint64_t done = 0;
  Status err;
  bool overlap = false;
  std::vector<iommu::PhysAddr> dirty;
  std::vector<uint64_t> sections;
  {
    std::lock_guard g(lock_);
    while (done < size) {
      auto pt = page_table(iova + done, true, &dirty, &sections);
      if (!pt.ok()) {
        err = std::move(pt).error();
        break;
      }
      const iommu::PhysAddr slot = *pt + 4 * pt_index(iova + done);
      auto old = mem_.read32(slot);
      if (!old.ok()) {
        err = std::move(old).error();
        break;
      }
      if (*old) {
        // Linux overwrites; the core's contract is EEXIST with nothing
        // changed, so what this call mapped goes again.
        err = make_error(Errc::exist, fmt::format("tegra io-pgtable: iova {:#x} is already mapped to {:#x}",
                                                  iova + done, (*old & pfn_mask()) << 12));
        overlap = true;
        if (done) (void)unmap_locked(iova, done, &dirty);
        break;
      }
      if (Status s = mem_.write32(slot, static_cast<uint32_t>((paddr + done) >> 12) | attr); !s.ok()) {
        err = std::move(s);
        break;
      }
      note(&dirty, slot);
      done += kPage;
    }
  }
  // The page-table cache first, then the TLB (a refill must not see a stale word).
  flush_words(dirty);
  if (cfg_.tlb) {
    for (uint64_t s : sections) cfg_.tlb->tlb_flush_walk(s, uint64_t{1} << 22, kPage);
    if (done) cfg_.tlb->tlb_flush_walk(iova, done, kPage);
  }
  if (overlap) return err;
  if (mapped) *mapped = static_cast<size_t>(done);
  return err;
}

Result<size_t> TegraPgtable::map(uint64_t iova, iommu::PhysAddr paddr, size_t size, int prot) {
  if (size == 0 || size % kPage) return make_error(Errc::inval, fmt::format("tegra io-pgtable: size {:#x}", size));
  size_t mapped = 0;
  Status s = map_pages(iova, paddr, kPage, size / kPage, prot, &mapped);
  if (!s.ok()) {
    if (mapped) (void)unmap(iova, mapped, nullptr);
    return std::move(s).error();
  }
  return size;
}

size_t TegraPgtable::unmap_locked(uint64_t iova, size_t size, std::vector<iommu::PhysAddr>* dirty) {
  uint64_t done = 0;
  std::vector<uint64_t> none;
  while (done < size) {
    auto pt = page_table(iova + done, false, dirty, &none);
    if (!pt.ok() || *pt == 0) break;  // no page table: a hole
    const iommu::PhysAddr slot = *pt + 4 * pt_index(iova + done);
    auto pte = mem_.read32(slot);
    if (!pte.ok() || !*pte) break;  // stop at a hole (Linux: an empty PTE is not mapped)
    if (!mem_.write32(slot, 0).ok()) break;
    note(dirty, slot);
    done += kPage;
  }
  return static_cast<size_t>(done);
}

size_t TegraPgtable::unmap(uint64_t iova, size_t size, iommu::IotlbGather* gather) {
  if (size == 0 || (iova | size) & (kPage - 1) || iova >= kIovaLimit || size > kIovaLimit - iova) return 0;
  size_t n = 0;
  std::vector<iommu::PhysAddr> dirty;
  {
    std::lock_guard g(lock_);
    n = unmap_locked(iova, size, &dirty);
  }
  flush_words(dirty);
  if (!n || !cfg_.tlb) return n;
  if (!gather) {
    cfg_.tlb->tlb_flush_walk(iova, n, kPage);
    return n;
  }
  for (uint64_t off = 0; off < n; off += kPage) cfg_.tlb->tlb_add_page(gather, iova + off, kPage);
  return n;
}

Result<iommu::PhysAddr> TegraPgtable::iova_to_phys(uint64_t iova) const {
  if (iova >= kIovaLimit)
    return make_error(Errc::range, fmt::format("tegra io-pgtable: iova {:#x} is beyond 32 bits", iova));
  std::lock_guard g(lock_);
  const uint32_t pde = TRY(mem_.read32(pd_ + 4 * pd_index(iova)));
  if (!(pde & PDE_NEXT)) return make_error(Errc::noent, fmt::format("iova {:#x}: no page table", iova));
  const uint32_t pte = TRY(mem_.read32(((pde & pfn_mask()) << 12) + 4 * pt_index(iova)));
  if (!pte) return make_error(Errc::noent, fmt::format("iova {:#x}: not mapped", iova));
  return ((pte & pfn_mask()) << 12) | (iova & (kPage - 1));
}

}  // namespace modiommu::tegra_smmu
