// Exynos SysMMU page-table builder (pgtable.h).
#include "drivers/iommu/exynos-iommu/pgtable.h"

#include <fmt/format.h>

namespace modiommu::exynos_iommu {

namespace {
constexpr uint64_t kIovaLimit = uint64_t{1} << 32;
unsigned lv1_index(uint64_t iova) { return static_cast<unsigned>((iova >> 20) & 0xfff); }
unsigned lv2_index(uint64_t iova) { return static_cast<unsigned>((iova >> 12) & 0xff); }
bool is_sect(uint32_t e) { return (e & 3) == 2; }
bool is_link(uint32_t e) { return (e & 3) == 1; }
bool lv2_fault(uint32_t e) { return (e & 3) == 0; }
bool lv2_small(uint32_t e) { return (e & 2) == 2; }

// Linux SYSMMU_LV1_PROT / SYSMMU_LV2_PROT (v1..v3: write-only is not
// supported and becomes read/write) and SYSMMU_V5_LV1/LV2_PROT.
uint32_t lv1_prot(PtFormat f, int prot) {
  const int rw = prot & (iommu::IOMMU_READ | iommu::IOMMU_WRITE);
  if (f == PtFormat::v5) return static_cast<uint32_t>(rw) << 4;
  if (rw == 0) return 0;
  return rw == iommu::IOMMU_READ ? (1u << 15 | 1u << 10) : 1u << 10;
}
uint32_t lv2_prot(PtFormat f, int prot) {
  const int rw = prot & (iommu::IOMMU_READ | iommu::IOMMU_WRITE);
  if (f == PtFormat::v5) return static_cast<uint32_t>(rw) << 2;
  if (rw == 0) return 0;
  return rw == iommu::IOMMU_READ ? (1u << 9 | 1u << 4) : 1u << 4;
}
uint32_t packed(PtFormat f, uint64_t pa) { return static_cast<uint32_t>(pa >> ent_shift(f)); }
const char* name(PtFormat f) { return f == PtFormat::v1 ? "v1" : "v5"; }
}  // namespace

uint32_t mk_sect(PtFormat f, uint64_t pa, int prot) { return packed(f, pa) | lv1_prot(f, prot) | 2; }
uint32_t mk_link(PtFormat f, uint64_t lv2_pa) { return packed(f, lv2_pa) | 1; }
uint32_t mk_lpage(PtFormat f, uint64_t pa, int prot) { return packed(f, pa) | lv2_prot(f, prot) | 1; }
uint32_t mk_spage(PtFormat f, uint64_t pa, int prot) { return packed(f, pa) | lv2_prot(f, prot) | 2; }

iommu::PhysAddr ExynosPgtable::link_target(uint32_t lv1) const {
  return iommu::PhysAddr{lv1 & 0xffffffc0u} << ent_shift(fmt_);  // Linux lv2table_base
}

Result<std::unique_ptr<ExynosPgtable>> ExynosPgtable::alloc(PtFormat f, hw::PhysicalMemory& mem,
                                                            mm::PageAllocator& pages, iommu::PhysAddr zero_lv2,
                                                            iommu::IommuFlushOps* tlb) {
  if (zero_lv2 & 0x3ff || zero_lv2 >> pa_bits(f))
    return make_error(Errc::inval, fmt::format("exynos io-pgtable: zero lv2 table {:#x} unusable", zero_lv2));
  iommu::IoPgtableCfg cfg;
  cfg.ias = 32;
  cfg.oas = pa_bits(f);
  cfg.tlb = tlb;
  cfg.pgsize_bitmap = kPgsizeBitmap;
  cfg.levels = 2;
  std::unique_ptr<ExynosPgtable> t(new ExynosPgtable(cfg, f, mem, pages, zero_lv2));
  // Linux: the 16 KiB first level, every entry a link to the zero table.
  const iommu::PhysAddr lv1 = TRY(pages.alloc_pages(2));
  if (lv1 >> pa_bits(f)) {
    (void)pages.free_pages(lv1, 2);
    return make_error(Errc::nomem, fmt::format("exynos io-pgtable: first level {:#x} beyond {} bits", lv1, pa_bits(f)));
  }
  t->lv1_ = lv1;
  t->table_pages_.fetch_add(4, std::memory_order_relaxed);
  const uint32_t z = t->zero_link();
  for (unsigned i = 0; i < kLv1Entries; ++i) TRY(mem.write32(lv1 + 4 * i, z));
  t->lv2entcnt_.assign(kLv1Entries, 0);
  return t;
}

ExynosPgtable::~ExynosPgtable() {
  if (cfg_.tlb) cfg_.tlb->tlb_flush_all();
  if (!lv1_) return;
  for (unsigned i = 0; i < kLv1Entries; ++i) {
    auto e = mem_.read32(lv1_ + 4 * i);
    if (e.ok() && is_link(*e) && *e != zero_link() && pages_.free_pages(link_target(*e), 0).ok())
      table_pages_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (pages_.free_pages(lv1_, 2).ok()) table_pages_.fetch_sub(4, std::memory_order_relaxed);
}

unsigned ExynosPgtable::lv2_free(uint64_t iova) const {
  std::lock_guard g(lock_);
  auto e = mem_.read32(lv1_ + 4 * lv1_index(iova));
  if (!e.ok() || !is_link(*e) || *e == zero_link()) return kLv2Entries;
  return static_cast<unsigned>(lv2entcnt_[lv1_index(iova)]);
}

Status ExynosPgtable::map_one(uint64_t iova, uint64_t pa, uint64_t size, int prot, bool* flpd) {
  const unsigned i = lv1_index(iova);
  const iommu::PhysAddr slot = lv1_ + 4 * i;
  const uint32_t lv1 = TRY(mem_.read32(slot));
  if (is_sect(lv1))
    return make_error(Errc::exist, fmt::format("exynos io-pgtable: iova {:#x} is in a mapped section", iova));
  const bool zero = lv1 == zero_link() || !is_link(lv1);
  if (size == kSect) {
    // Linux lv1set_section: a second-level table may only give way when empty.
    if (!zero && lv2entcnt_[i] != static_cast<int16_t>(kLv2Entries))
      return make_error(Errc::exist, fmt::format("exynos io-pgtable: section {:#x} has pages mapped", iova));
    TRY(mem_.write32(slot, mk_sect(fmt_, pa, prot)));
    if (!zero) {
      // The emptied table goes once the walk cache no longer links it:
      // after the caller's flush (free_after_flush_).
      free_after_flush_.push_back(link_target(lv1));
      lv2entcnt_[i] = 0;
    }
    *flpd = true;  // the link (zero or emptied) may be in the FLPD cache
    return {};
  }
  iommu::PhysAddr lv2 = 0;
  if (zero) {
    // Linux alloc_lv2entry: a fresh table of fault entries, then the link.
    lv2 = TRY(pages_.alloc_pages(0));
    if (lv2 >> pa_bits(fmt_)) {
      (void)pages_.free_pages(lv2, 0);
      return make_error(Errc::nomem, fmt::format("exynos io-pgtable: table {:#x} beyond {} bits", lv2, pa_bits(fmt_)));
    }
    table_pages_.fetch_add(1, std::memory_order_relaxed);
    if (Status s = mem_.write32(slot, mk_link(fmt_, lv2)); !s.ok()) {
      if (pages_.free_pages(lv2, 0).ok()) table_pages_.fetch_sub(1, std::memory_order_relaxed);
      return s;
    }
    lv2entcnt_[i] = static_cast<int16_t>(kLv2Entries);
    *flpd = true;  // Linux need_flush_flpd_cache: it linked the zero table
  } else {
    lv2 = link_target(lv1);
  }
  const unsigned n = size == kLpage ? kLpage / kSpage : 1;
  const iommu::PhysAddr first = lv2 + 4 * lv2_index(iova);
  for (unsigned k = 0; k < n; ++k) {
    const uint32_t e = TRY(mem_.read32(first + 4 * k));
    if (!lv2_fault(e))
      return make_error(Errc::exist, fmt::format("exynos io-pgtable: iova {:#x} is already mapped", iova + k * kSpage));
  }
  const uint32_t e = size == kLpage ? mk_lpage(fmt_, pa, prot) : mk_spage(fmt_, pa, prot);
  for (unsigned k = 0; k < n; ++k) TRY(mem_.write32(first + 4 * k, e));
  lv2entcnt_[i] = static_cast<int16_t>(lv2entcnt_[i] - static_cast<int16_t>(n));
  return {};
}

Status ExynosPgtable::map_pages(uint64_t iova, iommu::PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                                size_t* mapped) {
  if (mapped) *mapped = 0;
  if (pgsize != kSpage && pgsize != kLpage && pgsize != kSect)
    return make_error(Errc::inval, fmt::format("exynos io-pgtable: page size {:#x} not in {:#x}", pgsize, kPgsizeBitmap));
  if ((iova | paddr) & (pgsize - 1))
    return make_error(Errc::inval, fmt::format("exynos io-pgtable: iova {:#x} / pa {:#x} not aligned to {:#x}", iova,
                                               paddr, pgsize));
  const uint64_t size = uint64_t{pgsize} * pgcount;
  if (pgcount && (size / pgcount != pgsize || iova >= kIovaLimit || size > kIovaLimit - iova))
    return make_error(Errc::range, fmt::format("exynos io-pgtable: [{:#x}, +{:#x}) is beyond the 32-bit IOVA space",
                                               iova, size));
  const uint64_t pa_limit = uint64_t{1} << pa_bits(fmt_);
  if (pgcount && (paddr >= pa_limit || size > pa_limit - paddr))
    return make_error(Errc::range, fmt::format("exynos io-pgtable: pa [{:#x}, +{:#x}) is beyond the {}-bit output of "
                                               "the {} format", paddr, size, pa_bits(fmt_), name(fmt_)));
  uint64_t done = 0;
  Status err;
  std::vector<uint64_t> flush;  // sections whose first-level entry changed
  std::vector<iommu::PhysAddr> to_free;
  {
    std::lock_guard g(lock_);
    while (done < size) {
      bool flpd = false;
      err = map_one(iova + done, paddr + done, pgsize, prot, &flpd);
      if (flpd && (flush.empty() || flush.back() != ((iova + done) & ~(kSect - 1))))
        flush.push_back((iova + done) & ~(kSect - 1));
      if (!err.ok()) break;
      done += pgsize;
    }
    // Overlap: what this call mapped goes again, so nothing changes.
    if (!err.ok() && err.error().code == Errc::exist)
      for (uint64_t off = 0; off < done;) {
        const uint64_t n = unmap_one(iova + off, done - off);
        if (!n) break;
        off += n;
      }
    to_free.swap(free_after_flush_);
  }
  if (cfg_.tlb) {
    if (flush.size() > 64 || (!err.ok() && err.error().code == Errc::exist && done)) cfg_.tlb->tlb_flush_all();
    else
      for (uint64_t s : flush) cfg_.tlb->tlb_flush_walk(s, kSect, kSect);
  }
  for (iommu::PhysAddr pa : to_free)
    if (pages_.free_pages(pa, 0).ok()) table_pages_.fetch_sub(1, std::memory_order_relaxed);
  if (!err.ok() && err.error().code == Errc::exist) return err;
  if (mapped) *mapped = static_cast<size_t>(done);
  return err;
}

Result<size_t> ExynosPgtable::map(uint64_t iova, iommu::PhysAddr paddr, size_t size, int prot) {
  if (size == 0 || size % kSpage) return make_error(Errc::inval, fmt::format("exynos io-pgtable: size {:#x}", size));
  uint64_t done = 0;
  while (done < size) {
    const uint64_t a = iova + done, p = paddr + done, left = size - done;
    uint64_t pg = kSpage;
    for (uint64_t s : {kSect, kLpage})
      if (!((a | p) & (s - 1)) && left >= s) {
        pg = s;
        break;
      }
    // A run of the same size in one call.
    uint64_t count = 1;
    while ((count + 1) * pg <= left && pg != kSect && ((a + count * pg) & (kSect - 1)) != 0) ++count;
    size_t m = 0;
    if (Status s = map_pages(a, p, pg, count, prot, &m); !s.ok()) {
      if (done + m) (void)unmap(iova, done + m, nullptr);
      return std::move(s).error();
    }
    done += count * pg;
  }
  return size;
}

uint64_t ExynosPgtable::unmap_one(uint64_t iova, uint64_t left) {
  const unsigned i = lv1_index(iova);
  const iommu::PhysAddr slot = lv1_ + 4 * i;
  auto lv1 = mem_.read32(slot);
  if (!lv1.ok()) return 0;
  if (is_sect(*lv1)) {
    if ((iova & (kSect - 1)) || left < kSect) return 0;  // no split (Linux: WARN, 0)
    // Linux: the zero link, not a fault entry (the SysMMU 3.3 prefetch).
    return mem_.write32(slot, zero_link()).ok() ? kSect : 0;
  }
  if (!is_link(*lv1) || *lv1 == zero_link()) return 0;  // a hole
  const iommu::PhysAddr e_pa = link_target(*lv1) + 4 * lv2_index(iova);
  auto e = mem_.read32(e_pa);
  if (!e.ok() || lv2_fault(*e)) return 0;
  if (lv2_small(*e)) {
    if (!mem_.write32(e_pa, 0).ok()) return 0;
    lv2entcnt_[i] = static_cast<int16_t>(lv2entcnt_[i] + 1);
    return kSpage;
  }
  if ((iova & (kLpage - 1)) || left < kLpage) return 0;
  for (unsigned k = 0; k < kLpage / kSpage; ++k)
    if (!mem_.write32(e_pa + 4 * k, 0).ok()) return 0;
  lv2entcnt_[i] = static_cast<int16_t>(lv2entcnt_[i] + static_cast<int16_t>(kLpage / kSpage));
  return kLpage;
}

size_t ExynosPgtable::unmap(uint64_t iova, size_t size, iommu::IotlbGather* gather) {
  if (size == 0 || (iova | size) & (kSpage - 1) || iova >= kIovaLimit || size > kIovaLimit - iova) return 0;
  std::vector<std::pair<uint64_t, uint64_t>> leaves;
  uint64_t done = 0;
  {
    std::lock_guard g(lock_);
    while (done < size) {
      const uint64_t n = unmap_one(iova + done, size - done);
      if (!n) break;  // a hole or a partly covered block
      leaves.emplace_back(iova + done, n);
      done += n;
    }
  }
  if (!done || !cfg_.tlb) return static_cast<size_t>(done);
  if (!gather) {
    cfg_.tlb->tlb_flush_all();
    return static_cast<size_t>(done);
  }
  for (const auto& [a, n] : leaves) cfg_.tlb->tlb_add_page(gather, a, n);
  return static_cast<size_t>(done);
}

Result<iommu::PhysAddr> ExynosPgtable::iova_to_phys(uint64_t iova) const {
  if (iova >= kIovaLimit) return make_error(Errc::range, fmt::format("exynos io-pgtable: iova {:#x} is beyond 32 bits", iova));
  std::lock_guard g(lock_);
  const uint32_t lv1 = TRY(mem_.read32(lv1_ + 4 * lv1_index(iova)));
  const uint64_t mask = (uint64_t{1} << pa_bits(fmt_)) - 1;
  if (is_sect(lv1)) return ((uint64_t{lv1} << ent_shift(fmt_)) & mask & ~(kSect - 1)) | (iova & (kSect - 1));
  if (!is_link(lv1) || lv1 == zero_link())
    return make_error(Errc::noent, fmt::format("iova {:#x}: not mapped", iova));
  const uint32_t e = TRY(mem_.read32(link_target(lv1) + 4 * lv2_index(iova)));
  if (lv2_fault(e)) return make_error(Errc::noent, fmt::format("iova {:#x}: not mapped", iova));
  const uint64_t sz = lv2_small(e) ? kSpage : kLpage;
  return ((uint64_t{e} << ent_shift(fmt_)) & mask & ~(sz - 1)) | (iova & (sz - 1));
}

}  // namespace modiommu::exynos_iommu
