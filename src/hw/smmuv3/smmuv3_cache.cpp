// SMMUv3 caches: config cache + fast summaries, IOTLB, invalidation.
#include <algorithm>
#include <mutex>

#include "hw/smmuv3/internal.h"
#include "hw/smmuv3/smmuv3.h"

namespace modiommu::hw::smmuv3 {

using namespace detail;

size_t SmmuV3::iotlb_size() const {
  size_t n = 0;
  uint64_t k0, k1, v;
  for (size_t i = 0; i < tlb_.size(); ++i) n += tlb_.peek(i, &k0, &k1, &v);
  return n;
}

size_t SmmuV3::config_cache_size() const {
  std::shared_lock g(cfg_lock_);
  return cfg_cache_.size();
}

uint64_t SmmuV3::fast_summary(const StreamConfig& sc) {
  uint64_t kind = kFastAbort;
  if (sc.config == STE_CFG_BYPASS || (sc.config != STE_CFG_ABORT && !sc.s1 && !sc.s2)) kind = kFastBypass;
  else if (sc.config != STE_CFG_ABORT) kind = sc.s1 && sc.s2 ? kFastNested : sc.s1 ? kFastS1 : kFastS2;
  return kind | (uint64_t{sc.vmid} << 16) | (uint64_t{sc.s1 ? sc.asid : uint16_t{0}} << 32);
}

bool SmmuV3::fast_config(uint32_t sid, uint64_t* summary) const {
  return cfg_fast_.lookup(cfg_fast_.index(sid), sid | SeqSlots::kValid, 0, summary);
}

bool SmmuV3::get_config(uint32_t sid, StreamConfig* out) {
  {
    std::shared_lock g(cfg_lock_);
    auto it = cfg_cache_.find(sid);
    if (it != cfg_cache_.end()) {
      *out = it->second;
      return true;
    }
  }
  cfg_misses_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t gen = cfg_gen_.load(std::memory_order_acquire);
  StreamConfig sc;
  // Invalid and ILLEGAL STEs/CDs are not cached (IHI 0070 16.2): each use
  // refetches and reports again.
  if (!decode_stream(sid, &sc)) return false;
  {
    std::unique_lock g(cfg_lock_);
    if (cfg_gen_.load(std::memory_order_acquire) == gen) {
      cfg_cache_[sid] = sc;
      cfg_fast_.store(cfg_fast_.index(sid), sid | SeqSlots::kValid, 0, fast_summary(sc));
    }
  }
  *out = sc;
  return true;
}

void SmmuV3::cfg_invalidate(uint32_t first_sid, uint64_t count) {
  std::unique_lock g(cfg_lock_);
  cfg_gen_.fetch_add(1, std::memory_order_acq_rel);
  auto in_range = [&](uint64_t sid) { return sid >= first_sid && sid - first_sid < count; };
  if (count >= cfg_cache_.size()) {
    for (auto it = cfg_cache_.begin(); it != cfg_cache_.end();) {
      if (in_range(it->first)) it = cfg_cache_.erase(it);
      else ++it;
    }
  } else {
    for (uint64_t i = 0; i < count; ++i) cfg_cache_.erase(static_cast<uint32_t>(first_sid + i));
  }
  uint64_t k0, k1, v;
  if (count < cfg_fast_.size()) {
    // Direct-mapped by stream ID: only each ID's own slot can hold it.
    for (uint64_t i = 0; i < count; ++i) {
      const uint32_t sid = static_cast<uint32_t>(first_sid + i);
      const size_t slot = cfg_fast_.index(sid);
      if (cfg_fast_.peek(slot, &k0, &k1, &v) && (k0 & 0xffffffffu) == sid) cfg_fast_.clear(slot);
    }
    return;
  }
  for (size_t i = 0; i < cfg_fast_.size(); ++i)
    if (cfg_fast_.peek(i, &k0, &k1, &v) && in_range(k0 & 0xffffffffu)) cfg_fast_.clear(i);
}

// --- IOTLB ---

void SmmuV3::tlb_invalidate_if(const std::function<bool(uint64_t, uint64_t)>& pred) {
  std::lock_guard g(tlb_lock_);
  tlb_gen_.fetch_add(1, std::memory_order_acq_rel);
  uint64_t k0, k1, v;
  for (size_t i = 0; i < tlb_.size() && tlb_valid_ > 0; ++i)
    if (tlb_.peek(i, &k0, &k1, &v) && pred(k0 & ~SeqSlots::kValid, k1)) {
      tlb_.clear(i);
      --tlb_valid_;
    }
}

void SmmuV3::tlb_invalidate_va(uint64_t kind, uint16_t vmid, uint16_t asid, uint64_t va) {
  std::lock_guard g(tlb_lock_);
  tlb_gen_.fetch_add(1, std::memory_order_acq_rel);
  uint64_t sizes = tlb_sizes_.load(std::memory_order_acquire);
  while (sizes) {
    const unsigned s = static_cast<unsigned>(__builtin_ctzll(sizes));
    sizes &= sizes - 1;
    const uint64_t tag = tlb_tag(kind, vmid, asid, s), page = va >> s;
    const size_t i = tlb_.index(iotlb_slot(tag, page));
    uint64_t k0, k1, v;
    if (tlb_.peek(i, &k0, &k1, &v) && k0 == (tag | SeqSlots::kValid) && k1 == page) {
      tlb_.clear(i);
      --tlb_valid_;
    }
  }
}

void SmmuV3::tlb_insert(uint64_t tag, uint64_t page, uint64_t val, unsigned size_log2, uint64_t gen) {
  std::lock_guard g(tlb_lock_);
  if (tlb_gen_.load(std::memory_order_acquire) != gen) return;  // invalidated meanwhile: drop
  // Direct-mapped: a colliding entry is evicted, which is always permitted.
  tlb_sizes_.fetch_or(uint64_t{1} << size_log2, std::memory_order_acq_rel);
  const size_t i = tlb_.index(iotlb_slot(tag, page));
  uint64_t k0, k1, v;
  if (!tlb_.peek(i, &k0, &k1, &v)) ++tlb_valid_;
  tlb_.store(i, tag | SeqSlots::kValid, page, val);
}

}  // namespace modiommu::hw::smmuv3
