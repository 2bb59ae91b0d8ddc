// ARM LPAE io-pgtable: builds VMSAv8-64 stage-1 and stage-2 translation
// tables (DDI 0487 D8) in emulated RAM for the SMMU drivers.
//
// Locking: descriptors are read and written one 64-bit access at a time
// (single-copy atomic in PhysicalMemory), so a concurrent hardware walk sees
// either the old or the new descriptor. install_lock_ stands in for Linux's
// cmpxchg: it is held only to re-check an entry and store a new table
// pointer over it (a table for an empty slot in map, a split table over a
// block in unmap), so two threads mapping disjoint ranges under one empty
// slot cannot both install a table. Leaf stores need no lock: disjoint
// ranges never share a leaf entry.
#include "iommu/io_pgtable_arm.h"

#include <algorithm>
#include <bit>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace modiommu::iommu::arm_lpae {

namespace {

class ArmLpaePgtable final : public IoPgtable {
 public:
  ArmLpaePgtable(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages, const Geometry& g)
      : IoPgtable(cfg, mem, pages), g_(g), addr_mask_(((uint64_t{1} << 48) - 1) & ~((uint64_t{1} << g.pg_shift) - 1)) {}
  ~ArmLpaePgtable() override;

  Status init();
  Status map_pages(uint64_t iova, PhysAddr paddr, size_t pgsize, size_t pgcount, int prot, size_t* mapped) override;
  Result<size_t> map(uint64_t iova, PhysAddr paddr, size_t size, int prot) override;
  size_t unmap(uint64_t iova, size_t size, IotlbGather* gather) override;
  Result<PhysAddr> iova_to_phys(uint64_t iova) const override;

 private:
  struct UnmapResult {
    size_t bytes = 0;
    bool stop = false;  // hit a hole or an error
  };
  struct Removed {
    uint64_t iova;
    size_t size;
  };

  uint64_t input_limit() const { return uint64_t{1} << cfg_.ias; }
  uint64_t block_size(unsigned lvl) const { return uint64_t{1} << g_.level_shift(lvl); }
  bool is_leaf(uint64_t pte, unsigned lvl) const { return lvl == 3 || !(pte & kTypeTable); }
  PhysAddr pte_addr(uint64_t pte) const { return pte & addr_mask_; }
  uint64_t leaf_pte(PhysAddr pa, uint64_t attrs, unsigned lvl) const {
    return attrs | pa | kValid | (lvl == 3 ? kTypeTable : 0);
  }
  static uint64_t table_pte(PhysAddr table) { return table | kTypeTable | kValid; }
  unsigned table_order(unsigned lvl) const {
    const uint64_t pages = std::max<uint64_t>(1, g_.table_bytes(lvl) >> mm::kPageShift);
    return static_cast<unsigned>(std::countr_zero(pages));
  }

  Result<uint64_t> read_pte(PhysAddr table, uint64_t idx) const { return mem_.read64(table + idx * 8); }
  Status write_pte(PhysAddr table, uint64_t idx, uint64_t pte) { return mem_.write64(table + idx * 8, pte); }
  Result<std::vector<uint64_t>> read_table(PhysAddr table, unsigned lvl) const;

  Result<PhysAddr> alloc_table(unsigned lvl);
  void free_table_now(PhysAddr table, unsigned lvl);
  void free_subtree_now(PhysAddr table, unsigned lvl);
  void gather_subtree(PhysAddr table, unsigned lvl, IotlbGather* gather);
  void add_leaf(IotlbGather* gather, uint64_t iova, size_t size);

  Status check_range(uint64_t iova, uint64_t size, const char* who) const;
  Status check_free(PhysAddr table, unsigned lvl, uint64_t iova, uint64_t end) const;
  Result<uint64_t> install_table(PhysAddr table, uint64_t idx, unsigned child_lvl);
  Status map_unchecked(uint64_t iova, PhysAddr paddr, unsigned lvl, size_t pgcount, uint64_t attrs,
                       size_t* mapped);
  UnmapResult unmap_level(PhysAddr table, unsigned lvl, uint64_t iova, uint64_t end, IotlbGather* gather);
  size_t split_block(PhysAddr table, uint64_t idx, unsigned lvl, uint64_t blk_pte, uint64_t iova, uint64_t end,
                     IotlbGather* gather);
  Result<PhysAddr> build_split_table(uint64_t blk_pte, uint64_t blk_base, unsigned child_lvl, uint64_t start,
                                     uint64_t end, std::vector<Removed>& removed,
                                     std::vector<std::pair<PhysAddr, unsigned>>& built);

  // Claims a linked table for freeing: false if it is not one of ours, so a
  // descriptor corrupted in guest RAM can never make us free foreign pages.
  bool disown_table(PhysAddr table);
  // Before writing through a table pointer read from RAM: EIO unless we
  // allocated that table, so corrupted descriptors cannot redirect writes.
  Status check_owned(PhysAddr table, uint64_t iova, unsigned lvl) const;

  const Geometry g_;
  const uint64_t addr_mask_;  // OA bits [47:pg_shift] (D8.3.1)
  // Set by init(); optional because PA 0 is a real table address.
  std::optional<PhysAddr> pgd_;
  std::mutex install_lock_;  // see the file comment; docs/architecture.md "Locks"
  mutable std::mutex tables_lock_;  // guards tables_ only; taken innermost; docs/architecture.md "Locks"
  std::unordered_set<PhysAddr> tables_;  // every table page block we allocated and still own
};

ArmLpaePgtable::~ArmLpaePgtable() {
  if (!pgd_) return;
  if (cfg_.tlb) cfg_.tlb->tlb_flush_all();
  free_subtree_now(*pgd_, g_.start_level);
}

Status ArmLpaePgtable::init() {
  pgd_ = TRY(alloc_table(g_.start_level));
  const bool coh = cfg_.coherent;
  // Table walks are write-back cacheable, inner shareable when coherent,
  // else non-cacheable outer shareable (as Linux programs them).
  const unsigned sh = coh ? kShInner : kShOuter;
  const unsigned rgn = coh ? 1 : 0;
  const unsigned ps = TRY(ps_encoding(cfg_.oas));
  const unsigned tsz = 64 - cfg_.ias;
  if (cfg_.fmt == PgtableFormat::arm_lpae_s1) {
    auto& c = cfg_.arm_lpae_s1_cfg;
    c.ttbr = *pgd_;
    c.tcr = {.ips = ps, .tg = tg_encoding(cfg_.granule), .sh = sh, .orgn = rgn, .irgn = rgn, .tsz = tsz};
    c.mair = kMairNc << (8 * kMairIdxNc) | kMairCache << (8 * kMairIdxCache) | kMairDevice << (8 * kMairIdxDevice);
  } else {
    auto& c = cfg_.arm_lpae_s2_cfg;
    c.vttbr = *pgd_;
    c.vtcr = {.ps = ps, .tg = tg_encoding(cfg_.granule), .sh = sh, .orgn = rgn, .irgn = rgn,
              .sl = sl0_encoding(cfg_.granule, g_.start_level), .tsz = tsz};
  }
  cfg_.pgsize_bitmap = arm_lpae::pgsize_bitmap(cfg_.granule);
  cfg_.start_level = g_.start_level;
  cfg_.levels = 4 - g_.start_level;
  return {};
}

Result<std::vector<uint64_t>> ArmLpaePgtable::read_table(PhysAddr table, unsigned lvl) const {
  std::vector<uint64_t> ptes(g_.entries(lvl));
  TRY(mem_.read(table, ptes.data(), ptes.size() * 8));
  return ptes;
}

Result<PhysAddr> ArmLpaePgtable::alloc_table(unsigned lvl) {
  // Zeroed by the allocator: every entry starts invalid. Tables smaller than
  // a page still take a page; the buddy allocator aligns each block to its
  // size, which covers the table alignment rule (D8.2.8).
  const unsigned order = table_order(lvl);
  const PhysAddr t = TRY(pages_.alloc_pages(order));
  table_pages_.fetch_add(uint64_t{1} << order, std::memory_order_relaxed);
  std::lock_guard g(tables_lock_);
  tables_.insert(t);
  return t;
}

Status ArmLpaePgtable::check_owned(PhysAddr table, uint64_t iova, unsigned lvl) const {
  std::lock_guard g(tables_lock_);
  if (tables_.count(table)) return {};
  return make_error(Errc::io, fmt::format("io-pgtable: level {} descriptor for iova {:#x} points at {:#x}, which is "
                                          "not one of its tables (corrupted in RAM?)", lvl, iova, table));
}

bool ArmLpaePgtable::disown_table(PhysAddr table) {
  std::lock_guard g(tables_lock_);
  return tables_.erase(table) != 0;
}

void ArmLpaePgtable::free_table_now(PhysAddr table, unsigned lvl) {
  if (!disown_table(table)) return;
  const unsigned order = table_order(lvl);
  if (pages_.free_pages(table, order)) table_pages_.fetch_sub(uint64_t{1} << order, std::memory_order_relaxed);
}

void ArmLpaePgtable::free_subtree_now(PhysAddr table, unsigned lvl) {
  {
    std::lock_guard g(tables_lock_);
    if (!tables_.count(table)) return;
  }
  if (lvl < 3) {
    if (auto ptes = read_table(table, lvl)) {
      for (uint64_t pte : *ptes)
        if ((pte & kValid) && !is_leaf(pte, lvl)) free_subtree_now(pte_addr(pte), lvl + 1);
    }
  }
  free_table_now(table, lvl);
}

void ArmLpaePgtable::gather_subtree(PhysAddr table, unsigned lvl, IotlbGather* gather) {
  if (!disown_table(table)) return;
  if (lvl < 3) {
    if (auto ptes = read_table(table, lvl)) {
      for (uint64_t pte : *ptes)
        if ((pte & kValid) && !is_leaf(pte, lvl)) gather_subtree(pte_addr(pte), lvl + 1, gather);
    }
  }
  gather->freelist.push_back({table, table_order(lvl)});
}

void ArmLpaePgtable::add_leaf(IotlbGather* gather, uint64_t iova, size_t size) {
  if (cfg_.tlb) cfg_.tlb->tlb_add_page(gather, iova, size);
  else gather->add_page(iova, size);
}

Status ArmLpaePgtable::check_range(uint64_t iova, uint64_t size, const char* who) const {
  if (iova >= input_limit() || size > input_limit() - iova)
    return make_error(Errc::range, fmt::format("{}: iova range [{:#x}, +{:#x}) is beyond the {}-bit input size", who,
                                               iova, size, cfg_.ias));
  return {};
}

// Fails with EEXIST if any leaf maps part of [iova, end). Read-only, so an
// overlapping map is refused before anything changes.
Status ArmLpaePgtable::check_free(PhysAddr table, unsigned lvl, uint64_t iova, uint64_t end) const {
  const uint64_t blk = block_size(lvl);
  while (iova < end) {
    const uint64_t pte = TRY(read_pte(table, g_.index(iova, lvl)));
    const uint64_t ent_end = (iova & ~(blk - 1)) + blk;
    if (pte & kValid) {
      if (is_leaf(pte, lvl))
        return make_error(Errc::exist, fmt::format("map: iova {:#x} is already mapped (level {} entry {:#x})", iova,
                                                   lvl, pte));
      TRY(check_free(pte_addr(pte), lvl + 1, iova, std::min(end, ent_end)));
    }
    iova = ent_end;
  }
  return {};
}

// Links a fresh empty table at table[idx] unless another thread got there
// first; returns the entry now in place.
Result<uint64_t> ArmLpaePgtable::install_table(PhysAddr table, uint64_t idx, unsigned child_lvl) {
  const PhysAddr fresh = TRY(alloc_table(child_lvl));
  uint64_t cur = 0;
  {
    std::lock_guard g(install_lock_);
    auto r = read_pte(table, idx);
    if (!r) {
      free_table_now(fresh, child_lvl);
      return std::move(r).error();
    }
    cur = *r;
    if (!(cur & kValid)) {
      const uint64_t pte = table_pte(fresh);
      if (auto s = write_pte(table, idx, pte); !s) {
        free_table_now(fresh, child_lvl);
        return std::move(s).error();
      }
      return pte;
    }
  }
  free_table_now(fresh, child_lvl);
  if (is_leaf(cur, child_lvl - 1))
    return make_error(Errc::exist, "map: a concurrent mapping overlaps this range");
  return cur;
}

Status ArmLpaePgtable::map_unchecked(uint64_t iova, PhysAddr paddr, unsigned target, size_t pgcount, uint64_t attrs,
                                     size_t* mapped) {
  const uint64_t pgsize = block_size(target);
  while (pgcount) {
    PhysAddr table = *pgd_;
    for (unsigned lvl = g_.start_level; lvl < target; ++lvl) {
      const uint64_t idx = g_.index(iova, lvl);
      uint64_t pte = TRY(read_pte(table, idx));
      if (!(pte & kValid)) pte = TRY(install_table(table, idx, lvl + 1));
      else if (is_leaf(pte, lvl))
        return make_error(Errc::exist, fmt::format("map: iova {:#x} is already mapped by a level {} block", iova, lvl));
      table = pte_addr(pte);
      TRY(check_owned(table, iova, lvl));
    }
    // As many entries as this table holds, one 64-bit store each.
    const uint64_t idx = g_.index(iova, target);
    const uint64_t n = std::min<uint64_t>(pgcount, g_.entries(target) - idx);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t old = TRY(read_pte(table, idx + i));
      if ((old & kValid) && is_leaf(old, target))
        return make_error(Errc::exist, fmt::format("map: iova {:#x} is already mapped", iova));
      TRY(write_pte(table, idx + i, leaf_pte(paddr, attrs, target)));
      if (old & kValid) {
        // A table with no leaves (check_free saw none) sat where this block
        // goes: it is unhooked now; flush walks before reusing its pages.
        if (cfg_.tlb) cfg_.tlb->tlb_flush_walk(iova, pgsize, granule_bytes(cfg_.granule));
        free_subtree_now(pte_addr(old), target + 1);
      }
      iova += pgsize;
      paddr += pgsize;
      *mapped += pgsize;
    }
    pgcount -= n;
  }
  return {};
}

Status ArmLpaePgtable::map_pages(uint64_t iova, PhysAddr paddr, size_t pgsize, size_t pgcount, int prot,
                                 size_t* mapped) {
  size_t local = 0;
  if (!mapped) mapped = &local;
  *mapped = 0;
  if (!std::has_single_bit(pgsize) || !(pgsize & cfg_.pgsize_bitmap))
    return make_error(Errc::inval, fmt::format("map_pages: page size {:#x} is not in the page size bitmap {:#x}",
                                               pgsize, cfg_.pgsize_bitmap));
  if (pgcount == 0) return make_error(Errc::inval, "map_pages: page count 0");
  if (!(prot & (IOMMU_READ | IOMMU_WRITE)))
    return make_error(Errc::inval, fmt::format("map_pages: prot {:#x} grants neither read nor write", prot));
  if ((iova | paddr) & (pgsize - 1))
    return make_error(Errc::inval, fmt::format("map_pages: iova {:#x} or paddr {:#x} is not aligned to {:#x}", iova,
                                               paddr, pgsize));
  if (pgcount > input_limit() / pgsize)
    return make_error(Errc::range, fmt::format("map_pages: {} pages of {:#x} exceed the {}-bit input size", pgcount,
                                               pgsize, cfg_.ias));
  const uint64_t size = pgsize * pgcount;
  TRY(check_range(iova, size, "map_pages"));
  const uint64_t out_limit = uint64_t{1} << cfg_.oas;
  if (paddr >= out_limit || size > out_limit - paddr)
    return make_error(Errc::range, fmt::format("map_pages: paddr range [{:#x}, +{:#x}) is beyond the {}-bit output size",
                                               paddr, size, cfg_.oas));
  TRY(check_free(*pgd_, g_.start_level, iova, iova + size));
  unsigned target = g_.start_level;
  while (block_size(target) != pgsize) ++target;
  return map_unchecked(iova, paddr, target, pgcount, prot_to_pte(cfg_.fmt, prot), mapped);
}

Result<size_t> ArmLpaePgtable::map(uint64_t iova, PhysAddr paddr, size_t size, int prot) {
  const uint64_t min_pg = granule_bytes(cfg_.granule);
  if (size == 0 || ((iova | paddr | size) & (min_pg - 1)))
    return make_error(Errc::inval, fmt::format("map: iova {:#x}, paddr {:#x}, size {:#x} not aligned to {:#x}", iova,
                                               paddr, size, min_pg));
  if (!(prot & (IOMMU_READ | IOMMU_WRITE)))
    return make_error(Errc::inval, fmt::format("map: prot {:#x} grants neither read nor write", prot));
  TRY(check_range(iova, size, "map"));
  const uint64_t out_limit = uint64_t{1} << cfg_.oas;
  if (paddr >= out_limit || size > out_limit - paddr)
    return make_error(Errc::range, fmt::format("map: paddr range [{:#x}, +{:#x}) is beyond the {}-bit output size",
                                               paddr, size, cfg_.oas));
  TRY(check_free(*pgd_, g_.start_level, iova, iova + size));
  const uint64_t attrs = prot_to_pte(cfg_.fmt, prot);
  size_t done = 0;
  Status st;
  while (done < size) {
    const uint64_t va = iova + done, pa = paddr + done, left = size - done;
    // The largest page size that fits here (Linux iommu_pgsize), and how
    // many of it until a larger one could take over.
    unsigned lvl = 3;
    for (unsigned l = g_.start_level; l < 3; ++l) {
      const uint64_t b = block_size(l);
      if ((b & cfg_.pgsize_bitmap) && !((va | pa) & (b - 1)) && b <= left) {
        lvl = l;
        break;
      }
    }
    const uint64_t pg = block_size(lvl);
    uint64_t count = left / pg;
    if (lvl > g_.start_level) {
      for (unsigned l = lvl - 1; l + 1 > g_.start_level; --l) {
        const uint64_t b = block_size(l);
        if ((b & cfg_.pgsize_bitmap) && !((va ^ pa) & (b - 1))) {
          count = std::min<uint64_t>(count, (b - (va & (b - 1))) / pg);
          break;
        }
      }
    }
    size_t mapped = 0;
    st = map_unchecked(va, pa, lvl, count, attrs, &mapped);
    done += mapped;
    if (!st) break;
  }
  if (st) return done;
  // Roll back so a failed map leaves nothing behind (Linux iommu_map does
  // this in the core).
  if (done) {
    IotlbGather g;
    unmap(iova, done, &g);
    if (cfg_.tlb) cfg_.tlb->tlb_flush_all();
    (void)free_gathered(g);
  }
  return std::move(st).error();
}

Result<PhysAddr> ArmLpaePgtable::iova_to_phys(uint64_t iova) const {
  if (iova >= input_limit())
    return make_error(Errc::range, fmt::format("iova_to_phys: iova {:#x} is beyond the {}-bit input size", iova,
                                               cfg_.ias));
  PhysAddr table = *pgd_;
  for (unsigned lvl = g_.start_level; lvl <= 3; ++lvl) {
    const uint64_t pte = TRY(read_pte(table, g_.index(iova, lvl)));
    if (!(pte & kValid)) break;
    if (is_leaf(pte, lvl)) return pte_addr(pte) | (iova & (block_size(lvl) - 1));
    table = pte_addr(pte);
  }
  return make_error(Errc::noent, fmt::format("iova_to_phys: iova {:#x} is not mapped", iova));
}

// Builds, unpublished, the next-level table that replaces a block from which
// [start, end) is unmapped: every other part keeps the block's output and
// attributes; parts only partly unmapped get a further split table.
Result<PhysAddr> ArmLpaePgtable::build_split_table(uint64_t blk_pte, uint64_t blk_base, unsigned child_lvl,
                                                   uint64_t start, uint64_t end, std::vector<Removed>& removed,
                                                   std::vector<std::pair<PhysAddr, unsigned>>& built) {
  const PhysAddr table = TRY(alloc_table(child_lvl));
  built.emplace_back(table, child_lvl);
  const uint64_t attrs = blk_pte & ~addr_mask_ & ~(kValid | kTypeTable);
  const PhysAddr out = pte_addr(blk_pte);
  const uint64_t sub = block_size(child_lvl);
  std::vector<uint64_t> ptes(g_.entries(child_lvl), 0);
  for (uint64_t j = 0; j < ptes.size(); ++j) {
    const uint64_t sb = blk_base + j * sub, se = sb + sub;
    if (sb >= start && se <= end) {
      removed.push_back({sb, sub});
    } else if (se <= start || sb >= end) {
      ptes[j] = leaf_pte(out + j * sub, attrs, child_lvl);
    } else {
      const PhysAddr t = TRY(build_split_table(leaf_pte(out + j * sub, attrs, child_lvl), sb, child_lvl + 1, start,
                                               end, removed, built));
      ptes[j] = table_pte(t);
    }
  }
  TRY(mem_.write(table, ptes.data(), ptes.size() * 8));
  return table;
}

// Partial unmap of a block (Linux arm_lpae_split_blk_unmap): the whole
// replacement table is built first, then published with one store, so a
// concurrent walk sees the old block or the new table, never a half.
size_t ArmLpaePgtable::split_block(PhysAddr table, uint64_t idx, unsigned lvl, uint64_t blk_pte, uint64_t iova,
                                   uint64_t end, IotlbGather* gather) {
  const uint64_t blk_base = iova & ~(block_size(lvl) - 1);
  std::vector<Removed> removed;
  std::vector<std::pair<PhysAddr, unsigned>> built;
  auto fail = [&] {
    for (auto& [t, l] : built) free_table_now(t, l);
    return size_t{0};
  };
  auto t = build_split_table(blk_pte, blk_base, lvl + 1, iova, end, removed, built);
  if (!t) return fail();
  {
    std::lock_guard g(install_lock_);
    auto cur = read_pte(table, idx);
    if (!cur || *cur != blk_pte) return fail();
    if (!write_pte(table, idx, table_pte(*t))) return fail();
  }
  // Invalidating by VA inside the old block also drops any TLB entry for
  // the whole block (IHI 0070 4.4.1: TLBI by address hits any entry
  // covering it).
  for (const auto& r : removed) add_leaf(gather, r.iova, r.size);
  return end - iova;
}

ArmLpaePgtable::UnmapResult ArmLpaePgtable::unmap_level(PhysAddr table, unsigned lvl, uint64_t iova, uint64_t end,
                                                        IotlbGather* gather) {
  const uint64_t blk = block_size(lvl);
  const uint64_t span = uint64_t{1} << (g_.level_shift(lvl) + g_.table_bits(lvl));
  end = std::min(end, (iova & ~(span - 1)) + span);
  UnmapResult res;
  while (iova < end) {
    const uint64_t idx = g_.index(iova, lvl);
    auto r = read_pte(table, idx);
    if (!r || !(*r & kValid)) return {res.bytes, true};
    const uint64_t pte = *r;
    const uint64_t ent_base = iova & ~(blk - 1), ent_end = ent_base + blk;
    if (iova == ent_base && end >= ent_end) {
      // The whole entry goes: one store.
      if (!write_pte(table, idx, 0)) return {res.bytes, true};
      if (is_leaf(pte, lvl)) {
        add_leaf(gather, ent_base, blk);
      } else {
        if (cfg_.tlb) cfg_.tlb->tlb_flush_walk(ent_base, blk, granule_bytes(cfg_.granule));
        gather_subtree(pte_addr(pte), lvl + 1, gather);
      }
      res.bytes += blk;
      iova = ent_end;
      continue;
    }
    const uint64_t sub_end = std::min(end, ent_end);
    if (is_leaf(pte, lvl)) {
      const size_t n = split_block(table, idx, lvl, pte, iova, sub_end, gather);
      if (!n) return {res.bytes, true};
      res.bytes += n;
      iova += n;
      continue;
    }
    if (!check_owned(pte_addr(pte), iova, lvl)) return {res.bytes, true};
    const UnmapResult sub = unmap_level(pte_addr(pte), lvl + 1, iova, sub_end, gather);
    res.bytes += sub.bytes;
    iova += sub.bytes;
    if (sub.stop) return {res.bytes, true};
  }
  return res;
}

size_t ArmLpaePgtable::unmap(uint64_t iova, size_t size, IotlbGather* gather) {
  const uint64_t min_pg = granule_bytes(cfg_.granule);
  if (size == 0 || ((iova | size) & (min_pg - 1))) return 0;
  if (!check_range(iova, size, "unmap")) return 0;
  IotlbGather local;
  IotlbGather* g = gather ? gather : &local;
  const UnmapResult r = unmap_level(*pgd_, g_.start_level, iova, iova + size, g);
  if (!gather) {
    if (cfg_.tlb && (!local.empty() || !local.freelist.empty())) cfg_.tlb->tlb_flush_all();
    (void)free_gathered(local);
  }
  return r.bytes;
}

}  // namespace

Result<std::unique_ptr<IoPgtable>> alloc(const IoPgtableCfg& cfg, hw::PhysicalMemory& mem, mm::PageAllocator& pages) {
  const Geometry g = TRY(geometry(cfg.fmt, cfg.granule, cfg.ias));
  TRY(ps_encoding(cfg.oas));
  auto pt = std::make_unique<ArmLpaePgtable>(cfg, mem, pages, g);
  TRY(pt->init());
  return std::unique_ptr<IoPgtable>(std::move(pt));
}

}  // namespace modiommu::iommu::arm_lpae
