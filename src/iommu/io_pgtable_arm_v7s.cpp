// ARMv7 short-descriptor io-pgtable (DDI 0406C B3.5; Linux
// io-pgtable-arm-v7s.c's format and quirks): a level-1 table of 4096 (up to
// 16384 with a 34-bit input, MediaTek) 32-bit entries and 1 KiB level-2
// tables of 256; 4 KiB small and 64 KiB large pages at level 2, 1 MiB
// sections and 16 MiB supersections at level 1. Large pages and
// supersections are 16 identical consecutive entries.
//
// Locking: lock_ serialises map and unmap (one page table is one domain;
// Linux's v7s also takes a split lock for the rare shared paths); no TLB
// callback runs under it (they are collected and run after). Every
// descriptor change is one 32-bit store (single-copy atomic in
// PhysicalMemory), so the hardware walking concurrently sees the old or
// the new entry; a new or split level-2 table is filled before the level-1
// store that publishes it. iova_to_phys takes no lock.
#include "iommu/io_pgtable_arm_v7s.h"

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>
#include <unordered_set>

#include <fmt/format.h>

namespace modiommu::iommu::arm_v7s {

uint32_t mtk_pa_bits(uint64_t pa) {
  uint32_t v = 0;
  if (pa & (uint64_t{1} << 32)) v |= kMtkPa32;
  if (pa & (uint64_t{1} << 33)) v |= kMtkPa33;
  if (pa & (uint64_t{1} << 34)) v |= kMtkPa34;
  return v;
}

uint64_t mtk_pa_of(uint32_t pte) {
  uint64_t pa = 0;
  if (pte & kMtkPa32) pa |= uint64_t{1} << 32;
  if (pte & kMtkPa33) pa |= uint64_t{1} << 33;
  if (pte & kMtkPa34) pa |= uint64_t{1} << 34;
  return pa;
}

namespace {

constexpr uint64_t kPgsizes = kSmall | kLarge | kSection | kSupersection;

bool is_super(uint32_t pte) { return (pte & kTypeMask) >= kL1Section && (pte & kSuper); }
bool is_section(uint32_t pte) { return (pte & kTypeMask) >= kL1Section && !(pte & kSuper); }
bool is_table(uint32_t pte) { return (pte & kTypeMask) == kL1Table; }

class V7sPgtable final : public IoPgtable {
 public:
  V7sPgtable(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages)
      : IoPgtable(cfg, mem, pages), l1_entries_(uint64_t{1} << (cfg.ias - 20)) {}
  ~V7sPgtable() override;

  Status init();
  Status map_pages(uint64_t iova, PhysAddr paddr, size_t pgsize, size_t pgcount, int prot, size_t* mapped) override;
  Result<size_t> map(uint64_t iova, PhysAddr paddr, size_t size, int prot) override;
  size_t unmap(uint64_t iova, size_t size, IotlbGather* gather) override;
  Result<PhysAddr> iova_to_phys(uint64_t iova) const override;

 private:
  // TLB callbacks and table frees a locked section asks for, run after
  // lock_ is dropped (the driver's flush takes its own, higher-ranked lock).
  struct Deferred {
    std::vector<std::pair<uint64_t, uint64_t>> walks;  // tlb_flush_walk(iova, size)
    std::vector<std::pair<uint64_t, uint64_t>> leaves;  // tlb_add_page(iova, size)
    std::vector<PhysAddr> free_after_walks;            // tables unhooked by map
  };
  void run(Deferred& d, IotlbGather* gather);

  bool mtk() const { return cfg_.quirks & kQuirkArmMtkExt; }
  bool perms() const { return !(cfg_.quirks & kQuirkNoPerms); }
  PhysAddr l1_addr(uint64_t idx) const { return pgd_ + idx * 4; }
  Result<uint32_t> read_pte(PhysAddr a) const { return mem_.read32(a); }
  Status write_pte(PhysAddr a, uint32_t v) { return mem_.write32(a, v); }

  uint32_t attrs(int prot, unsigned lvl) const;
  uint32_t leaf(PhysAddr pa, size_t pgsize, int prot) const;
  uint32_t table_pte(PhysAddr t) const;
  PhysAddr table_of(uint32_t pte) const;
  PhysAddr leaf_pa(uint32_t pte, unsigned lvl) const;

  Result<PhysAddr> alloc_l2();
  bool disown(PhysAddr t);
  bool owned(PhysAddr t) const { return tables_.count(t) != 0; }
  Result<bool> l2_empty(PhysAddr t) const;
  Status check_free(uint64_t iova, size_t pgsize) const;
  Status install(uint64_t iova, PhysAddr pa, size_t pgsize, int prot, Deferred& d);
  Status split_super(uint64_t iova, Deferred& d);
  Status split_section(uint64_t iova, uint32_t pte);
  Status split_large(PhysAddr l2, uint64_t iova, Deferred& d);

  const uint64_t l1_entries_;
  PhysAddr pgd_ = 0;
  bool have_pgd_ = false;
  std::mutex lock_;  // see the file comment; docs/architecture.md "Locks"
  std::unordered_set<PhysAddr> tables_;  // level-2 tables we own (lock_)
};

// Linux arm_v7s_prot_to_pte: attributes in the level-1 / level-2 layout.
uint32_t V7sPgtable::attrs(int prot, unsigned lvl) const {
  uint32_t a = kNg | kS;
  if (perms()) {
    a |= kAp0;
    if (!(prot & IOMMU_PRIV)) a |= kAp1;
    if (!(prot & IOMMU_WRITE)) a |= kAp2;
  }
  if (!(prot & IOMMU_MMIO)) a |= 1u << kTexShift;  // TEX[0]: normal memory
  a <<= attr_shift(lvl);
  if (prot & IOMMU_MMIO) a |= kB;
  else if (prot & IOMMU_CACHE) a |= kB | kC;
  if ((prot & IOMMU_NOEXEC) && perms()) a |= lvl == 1 ? (1u << 4) : 1u;
  if (lvl == 1 && (cfg_.quirks & kQuirkArmNs)) a |= kNsSection;
  return a;
}

uint32_t V7sPgtable::leaf(PhysAddr pa, size_t pgsize, int prot) const {
  const uint32_t ext = mtk() ? mtk_pa_bits(pa) : 0;
  const uint32_t lo = static_cast<uint32_t>(pa);
  switch (pgsize) {
    case kSupersection: return (lo & 0xff000000u) | kSuper | kL1Section | attrs(prot, 1) | ext;
    case kSection: return (lo & 0xfff00000u) | kL1Section | attrs(prot, 1) | ext;
    case kLarge: {
      // Large pages move TEX to [14:12] and XN to bit 15 (DDI 0406C B3.5.1).
      uint32_t a = attrs(prot, 2);
      const uint32_t tex = (a >> 6) & 7, xn = a & 1;
      a = (a & ~(uint32_t{7} << 6) & ~1u) | tex << 12 | xn << 15;
      return (lo & 0xffff0000u) | kL2Large | a | ext;
    }
    default: return (lo & 0xfffff000u) | kL2Small | attrs(prot, 2) | ext;
  }
}

uint32_t V7sPgtable::table_pte(PhysAddr t) const {
  uint32_t v = (static_cast<uint32_t>(t) & 0xfffffc00u) | kL1Table;
  if (cfg_.quirks & kQuirkArmNs) v |= kNsTable;
  if (cfg_.quirks & kQuirkArmMtkTtbrExt) v |= mtk_pa_bits(t);
  return v;
}

PhysAddr V7sPgtable::table_of(uint32_t pte) const {
  PhysAddr t = pte & 0xfffffc00u;
  if (cfg_.quirks & kQuirkArmMtkTtbrExt) t |= mtk_pa_of(pte);
  return t;
}

PhysAddr V7sPgtable::leaf_pa(uint32_t pte, unsigned lvl) const {
  PhysAddr pa;
  if (lvl == 1) pa = pte & (is_super(pte) ? 0xff000000u : 0xfff00000u);
  else pa = pte & ((pte & kTypeMask) == kL2Large ? 0xffff0000u : 0xfffff000u);
  if (mtk()) pa |= mtk_pa_of(pte);
  return pa;
}

Status V7sPgtable::init() {
  // Level 1: 4 bytes per MiB of input, aligned to its size (16 KiB for 32
  // bits; DDI 0406C B4.1.154 TTBR0 with TTBCR.N = 0).
  const uint64_t bytes = l1_entries_ * 4;
  pgd_ = TRY(pages_.alloc(bytes, bytes));
  have_pgd_ = true;
  table_pages_.fetch_add(std::max<uint64_t>(1, bytes >> mm::kPageShift), std::memory_order_relaxed);
  if (pgd_ >> 32 && !(cfg_.quirks & kQuirkArmMtkTtbrExt))
    return make_error(Errc::range, fmt::format("io-pgtable v7s: level-1 table at {:#x} is above 4 GiB", pgd_));
  // Linux: a MediaTek TTBR holds PA[34:32] in its low bits.
  if (mtk()) cfg_.arm_v7s_cfg.ttbr = static_cast<uint32_t>((pgd_ & 0xffffff80u) | ((pgd_ >> 32) & 7));
  else cfg_.arm_v7s_cfg.ttbr = static_cast<uint32_t>(pgd_);
  cfg_.pgsize_bitmap = kPgsizes;
  cfg_.start_level = 1;
  cfg_.levels = 2;
  return {};
}

V7sPgtable::~V7sPgtable() {
  if (!have_pgd_) return;
  if (cfg_.tlb) cfg_.tlb->tlb_flush_all();
  for (PhysAddr t : tables_) (void)pages_.free_pages(t, 0);
  (void)pages_.free(pgd_);
}

Result<PhysAddr> V7sPgtable::alloc_l2() {
  // One zeroed page per level-2 table (Linux packs four in a page: a
  // 1 KiB slab); every entry starts invalid.
  PhysAddr t = TRY(pages_.alloc_pages(0));
  if (t >> 32 && !(cfg_.quirks & kQuirkArmMtkTtbrExt)) {
    (void)pages_.free_pages(t, 0);
    return make_error(Errc::nomem, fmt::format("io-pgtable v7s: level-2 table at {:#x} is above 4 GiB", t));
  }
  tables_.insert(t);
  table_pages_.fetch_add(1, std::memory_order_relaxed);
  return t;
}

bool V7sPgtable::disown(PhysAddr t) { return tables_.erase(t) != 0; }

Result<bool> V7sPgtable::l2_empty(PhysAddr t) const {
  uint32_t e[kL2Entries];
  TRY(mem_.read(t, e, sizeof e));
  return std::all_of(std::begin(e), std::end(e), [](uint32_t v) { return (v & kTypeMask) == 0; });
}

// EEXIST when anything is mapped where a page of pgsize at iova would go
// (an empty level-2 table under a section is not "mapped": install frees it).
Status V7sPgtable::check_free(uint64_t iova, size_t pgsize) const {
  auto busy = [&] { return make_error(Errc::exist, fmt::format("io-pgtable v7s: {:#x} is already mapped", iova)); };
  if (pgsize >= kSection) {
    for (uint64_t i = 0; i < pgsize / kSection; ++i) {
      const uint32_t p = TRY(read_pte(l1_addr((iova >> 20) + i)));
      if ((p & kTypeMask) == 0) continue;
      if (!is_table(p) || !owned(table_of(p)) || !TRY(l2_empty(table_of(p)))) return busy();
    }
    return {};
  }
  const uint32_t p = TRY(read_pte(l1_addr(iova >> 20)));
  if ((p & kTypeMask) == 0) return {};
  if (!is_table(p)) return busy();
  const PhysAddr t = table_of(p);
  if (!owned(t)) return make_error(Errc::io, fmt::format("io-pgtable v7s: level-1 entry for {:#x} points at {:#x}, "
                                                         "not a table of this page table", iova, t));
  for (uint64_t i = 0; i < pgsize / kSmall; ++i) {
    const uint32_t q = TRY(read_pte(t + (((iova >> 12) & 0xff) + i) * 4));
    if (q & kTypeMask) return busy();
  }
  return {};
}

void V7sPgtable::run(Deferred& d, IotlbGather* gather) {
  for (auto [va, sz] : d.walks)
    if (cfg_.tlb) cfg_.tlb->tlb_flush_walk(va, sz, kSmall);
  for (PhysAddr t : d.free_after_walks)
    if (pages_.free_pages(t, 0)) table_pages_.fetch_sub(1, std::memory_order_relaxed);
  for (auto [va, sz] : d.leaves) {
    if (cfg_.tlb) cfg_.tlb->tlb_add_page(gather, va, sz);
    else gather->add_page(va, sz);
  }
  d = Deferred{};
}

Status V7sPgtable::install(uint64_t iova, PhysAddr pa, size_t pgsize, int prot, Deferred& d) {
  const uint32_t v = leaf(pa, pgsize, prot);
  if (pgsize >= kSection) {
    const uint64_t n = pgsize / kSection;
    for (uint64_t i = 0; i < n; ++i) {
      const PhysAddr a = l1_addr((iova >> 20) + i);
      const uint32_t old = TRY(read_pte(a));
      if (is_table(old)) {
        // An empty table left by earlier unmaps: replaced, then freed once
        // no walk can use it.
        TRY(write_pte(a, 0));
        d.walks.emplace_back(iova + i * kSection, kSection);
        const PhysAddr t = table_of(old);
        if (disown(t)) d.free_after_walks.push_back(t);
      }
    }
    // Supersection: the same entry 16 times, last-first is not needed as
    // every copy translates identically.
    for (uint64_t i = 0; i < n; ++i) TRY(write_pte(l1_addr((iova >> 20) + i), v));
    return {};
  }
  const PhysAddr a1 = l1_addr(iova >> 20);
  uint32_t p = TRY(read_pte(a1));
  if ((p & kTypeMask) == 0) {
    const PhysAddr t = TRY(alloc_l2());
    p = table_pte(t);
    TRY(write_pte(a1, p));
  }
  const PhysAddr t = table_of(p);
  const uint64_t idx = (iova >> 12) & 0xff;
  for (uint64_t i = 0; i < pgsize / kSmall; ++i) TRY(write_pte(t + (idx + i) * 4, v));
  return {};
}

Status V7sPgtable::map_pages(uint64_t iova, PhysAddr paddr, size_t pgsize, size_t pgcount, int prot, size_t* mapped) {
  if (mapped) *mapped = 0;
  if (pgsize == 0 || !(kPgsizes & pgsize) || (pgsize & (pgsize - 1)))
    return make_error(Errc::inval, fmt::format("io-pgtable v7s: page size {:#x} is not one of 4K/64K/1M/16M", pgsize));
  if ((iova | paddr) & (pgsize - 1))
    return make_error(Errc::inval, fmt::format("io-pgtable v7s: iova {:#x} / pa {:#x} not aligned to {:#x}", iova,
                                               paddr, pgsize));
  const uint64_t len = uint64_t{pgsize} * pgcount;
  if (pgcount == 0) return {};
  if (iova >= (uint64_t{1} << cfg_.ias) || len > (uint64_t{1} << cfg_.ias) - iova)
    return make_error(Errc::range, fmt::format("io-pgtable v7s: [{:#x}, +{:#x}) beyond the {}-bit input", iova, len,
                                               cfg_.ias));
  if (paddr + len - 1 >= (uint64_t{1} << cfg_.oas))
    return make_error(Errc::range, fmt::format("io-pgtable v7s: pa {:#x} beyond the {}-bit output", paddr, cfg_.oas));
  if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return {};  // Linux: nothing to map
  Deferred d;
  Status s;
  {
    std::lock_guard g(lock_);
    for (size_t i = 0; i < pgcount && s.ok(); ++i) s = check_free(iova + i * pgsize, pgsize);
    for (size_t i = 0; i < pgcount && s.ok(); ++i) {
      s = install(iova + i * pgsize, paddr + i * pgsize, pgsize, prot, d);
      if (s.ok() && mapped) *mapped += pgsize;
    }
  }
  IotlbGather unused;
  run(d, &unused);
  return s;
}

Result<size_t> V7sPgtable::map(uint64_t iova, PhysAddr paddr, size_t size, int prot) {
  if ((iova | paddr | size) & (kSmall - 1))
    return make_error(Errc::inval, fmt::format("io-pgtable v7s: map {:#x}->{:#x} size {:#x} not 4K aligned", iova,
                                               paddr, size));
  size_t done = 0;
  while (done < size) {
    size_t pg = kSmall;
    for (uint64_t s : {kSupersection, kSection, kLarge})
      if (((iova + done) & (s - 1)) == 0 && ((paddr + done) & (s - 1)) == 0 && size - done >= s) {
        pg = s;
        break;
      }
    size_t m = 0;
    if (Status s = map_pages(iova + done, paddr + done, pg, 1, prot, &m); !s) {
      if (done) unmap(iova, done, nullptr);
      return std::move(s).error();
    }
    done += pg;
  }
  return done;
}

// Supersection -> 16 sections with the same output (Linux arm_v7s_split_cont).
Status V7sPgtable::split_super(uint64_t iova, Deferred& d) {
  const uint64_t first = (iova >> 20) & ~uint64_t{kContEntries - 1};
  const uint32_t p = TRY(read_pte(l1_addr(first)));
  const PhysAddr base = leaf_pa(p, 1);
  const uint32_t keep = p & 0x000fffffu & ~kSuper & ~(mtk() ? kMtkPa32 | kMtkPa33 | kMtkPa34 : 0u);
  for (unsigned i = 0; i < kContEntries; ++i) {
    const PhysAddr pa = base + i * kSection;
    TRY(write_pte(l1_addr(first + i), (static_cast<uint32_t>(pa) & 0xfff00000u) | keep | (mtk() ? mtk_pa_bits(pa) : 0)));
  }
  d.walks.emplace_back(first << 20, kSupersection);
  return {};
}

// Section -> a level-2 table of 256 small pages with the same output and
// attributes (Linux arm_v7s_split_blk_unmap builds it, then unmaps).
Status V7sPgtable::split_section(uint64_t iova, uint32_t pte) {
  const PhysAddr base = leaf_pa(pte, 1);
  // Level-1 attribute block [17:10] moves to [11:4]; C/B stay; XN bit 4 -> 0.
  uint32_t a = ((pte >> attr_shift(1)) & 0xff) << attr_shift(2);
  a |= pte & (kB | kC);
  if (perms() && (pte & (1u << 4))) a |= 1u;
  if (mtk()) a &= ~(kMtkPa33 | kMtkPa34 | kMtkPa32);  // AP bits are unused with MTK (no perms)
  const PhysAddr t = TRY(alloc_l2());
  for (unsigned i = 0; i < kL2Entries; ++i) {
    const PhysAddr pa = base + i * kSmall;
    uint32_t v = (static_cast<uint32_t>(pa) & 0xfffff000u) | kL2Small | a;
    if (mtk()) v |= mtk_pa_bits(pa);
    if (Status s = write_pte(t + i * 4, v); !s) {
      disown(t);
      (void)pages_.free_pages(t, 0);
      table_pages_.fetch_sub(1, std::memory_order_relaxed);
      return s;
    }
  }
  return write_pte(l1_addr(iova >> 20), table_pte(t));
}

// Large page -> 16 small pages (Linux arm_v7s_split_cont at level 2).
Status V7sPgtable::split_large(PhysAddr l2, uint64_t iova, Deferred& d) {
  const uint64_t first = ((iova >> 12) & 0xff) & ~uint64_t{kContEntries - 1};
  const uint32_t p = TRY(read_pte(l2 + first * 4));
  const PhysAddr base = leaf_pa(p, 2);
  uint32_t a = p & 0x0e3cu;  // B, C, AP0, AP1 (or MTK PA33/34), AP2 (or MTK PA32), S, nG
  a |= ((p >> 12) & 7) << 6;  // TEX
  a |= (p >> 15) & 1;         // XN
  if (mtk()) a &= ~(kMtkPa33 | kMtkPa34 | kMtkPa32);
  for (unsigned i = 0; i < kContEntries; ++i) {
    const PhysAddr pa = base + i * kSmall;
    uint32_t v = (static_cast<uint32_t>(pa) & 0xfffff000u) | kL2Small | a;
    if (mtk()) v |= mtk_pa_bits(pa);
    TRY(write_pte(l2 + (first + i) * 4, v));
  }
  d.walks.emplace_back(iova & ~(kLarge - 1), kLarge);
  return {};
}

size_t V7sPgtable::unmap(uint64_t iova, size_t size, IotlbGather* gather) {
  if (size == 0 || ((iova | size) & (kSmall - 1))) return 0;
  if (iova >= (uint64_t{1} << cfg_.ias) || size > (uint64_t{1} << cfg_.ias) - iova) return 0;
  IotlbGather local;
  IotlbGather* gt = gather ? gather : &local;
  Deferred d;
  auto add = [&](uint64_t va, uint64_t sz) { d.leaves.emplace_back(va, sz); };
  const uint64_t end = iova + size;
  uint64_t cur = iova;
  {
    std::lock_guard g(lock_);
    while (cur < end) {
      const PhysAddr a1 = l1_addr(cur >> 20);
      auto r1 = read_pte(a1);
      if (!r1) break;
      const uint32_t p = *r1;
      if ((p & kTypeMask) == 0) break;  // a hole
      if (is_super(p)) {
        const uint64_t base = cur & ~(kSupersection - 1);
        if (cur == base && end - cur >= kSupersection) {
          bool ok = true;
          for (unsigned i = 0; i < kContEntries && ok; ++i) ok = write_pte(l1_addr((base >> 20) + i), 0).ok();
          if (!ok) break;
          add(base, kSupersection);
          cur += kSupersection;
        } else if (!split_super(cur, d)) {
          break;
        }
        continue;
      }
      if (is_section(p)) {
        if ((cur & (kSection - 1)) == 0 && end - cur >= kSection) {
          if (!write_pte(a1, 0)) break;
          add(cur, kSection);
          cur += kSection;
        } else if (!split_section(cur, p)) {
          break;
        }
        continue;
      }
      // A level-2 table.
      const PhysAddr t = table_of(p);
      if (!owned(t)) break;  // a corrupted entry: never write through it
      if ((cur & (kSection - 1)) == 0 && end - cur >= kSection) {
        // The whole MiB: the table goes, with whatever it maps.
        if (!write_pte(a1, 0)) break;
        disown(t);
        gt->freelist.push_back({t, 0});
        add(cur, kSection);
        cur += kSection;
        continue;
      }
      const PhysAddr a2 = t + ((cur >> 12) & 0xff) * 4;
      auto r2 = read_pte(a2);
      if (!r2 || (*r2 & kTypeMask) == 0) break;
      if ((*r2 & kTypeMask) == kL2Large) {
        const uint64_t base = cur & ~(kLarge - 1);
        if (cur == base && end - cur >= kLarge) {
          const PhysAddr first = t + ((base >> 12) & 0xff) * 4;
          bool ok = true;
          for (unsigned i = 0; i < kContEntries && ok; ++i) ok = write_pte(first + i * 4, 0).ok();
          if (!ok) break;
          add(base, kLarge);
          cur += kLarge;
        } else if (!split_large(t, cur, d)) {
          break;
        }
        continue;
      }
      if (!write_pte(a2, 0)) break;
      add(cur, kSmall);
      cur += kSmall;
    }
  }
  run(d, gt);
  if (!gather) {
    if (cfg_.tlb) cfg_.tlb->tlb_flush_all();
    (void)free_gathered(local);
  }
  return cur - iova;
}

Result<PhysAddr> V7sPgtable::iova_to_phys(uint64_t iova) const {
  if (iova >= (uint64_t{1} << cfg_.ias))
    return make_error(Errc::range, fmt::format("io-pgtable v7s: {:#x} beyond the {}-bit input", iova, cfg_.ias));
  const uint32_t p = TRY(read_pte(l1_addr(iova >> 20)));
  auto none = [&] { return make_error(Errc::noent, fmt::format("io-pgtable v7s: nothing mapped at {:#x}", iova)); };
  if ((p & kTypeMask) == 0) return none();
  if (is_super(p)) return leaf_pa(p, 1) + (iova & (kSupersection - 1));
  if (is_section(p)) return leaf_pa(p, 1) + (iova & (kSection - 1));
  const uint32_t q = TRY(read_pte(table_of(p) + ((iova >> 12) & 0xff) * 4));
  if ((q & kTypeMask) == 0) return none();
  if ((q & kTypeMask) == kL2Large) return leaf_pa(q, 2) + (iova & (kLarge - 1));
  return leaf_pa(q, 2) + (iova & (kSmall - 1));
}

}  // namespace

Result<std::unique_ptr<IoPgtable>> alloc(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages) {
  const bool mtk = cfg.quirks & kQuirkArmMtkExt;
  // Linux arm_v7s_alloc_pgtable: 32-bit input (34 with the MediaTek
  // extension), 32-bit output (35 with it); MTK needs no permissions.
  if (cfg.ias < 32 || cfg.ias > (mtk ? 34u : 32u))
    return make_error(Errc::inval, fmt::format("io-pgtable v7s: ias {} (32{} supported)", cfg.ias, mtk ? "-34" : ""));
  if (cfg.oas < 32 || cfg.oas > (mtk ? 35u : 32u))
    return make_error(Errc::inval, fmt::format("io-pgtable v7s: oas {} (32{} supported)", cfg.oas, mtk ? "-35" : ""));
  if (mtk && !(cfg.quirks & kQuirkNoPerms))
    return make_error(Errc::inval, "io-pgtable v7s: the MediaTek PA extension reuses the AP bits: needs kQuirkNoPerms");
  if (cfg.granule != Granule::k4K) return make_error(Errc::inval, "io-pgtable v7s: granule must be 4K");
  auto p = std::make_unique<V7sPgtable>(cfg, mem, pages);
  TRY(p->init());
  return std::unique_ptr<IoPgtable>(std::move(p));
}

}  // namespace modiommu::iommu::arm_v7s
