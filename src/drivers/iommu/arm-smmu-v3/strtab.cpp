// The stream table (IHI 0070 3.3, 5.1, 5.2): linear, or two-level with
// level-2 tables allocated when a master with a stream ID there is probed.
// Locking: SmmuDevice::ste_lock_ guards l2_pa_ and every STE write.
//
// Hitless updates: word 1 holds one value for every configuration this
// driver uses (STE1_VALUE) and words 2-7 stay zero, so every change of a
// live STE is a single 64-bit store of word 0 (V, Config, S1ContextPtr),
// followed by CMD_CFGI_STE + CMD_SYNC. The SMMU sees the old or the new
// STE, never a mix (3.21.3: aligned 64-bit single-copy atomicity).
#include <vector>

#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "kernel/driver_context.h"

namespace modiommu::arm_smmu_v3 {
namespace {

constexpr uint64_t ste_abort_word0() { return STE0_V | put(STE_CFG_ABORT, STE0_CONFIG, 3); }

// `n` STEs that abort every transaction (Linux arm_smmu_init_bypass_stes
// with bypass disabled): unused stream IDs must not translate or bypass.
std::vector<uint64_t> abort_stes(size_t n) {
  std::vector<uint64_t> words(n * (kSteBytes / 8), 0);
  for (size_t i = 0; i < n; ++i) {
    words[i * 8] = ste_abort_word0();
    words[i * 8 + 1] = STE1_VALUE;
  }
  return words;
}

}  // namespace

Status SmmuDevice::strtab_init() {
  auto& pages = ctx_.pages();
  // 3.4.3: two levels when the SMMU supports them and the SID space is larger
  // than one level-2 table; the level-1 table is capped at 1 MiB as in Linux.
  two_level_ = feat_.two_level && feat_.sid_bits > kStrtabSplit;
  if (two_level_) {
    strtab_log2_ = std::min(feat_.sid_bits, 17u + kStrtabSplit);
    const size_t l1_entries = size_t{1} << (strtab_log2_ - kStrtabSplit);
    const size_t bytes = std::max<size_t>(l1_entries * kL1DescBytes, 64);
    // 6.3.23: the table is aligned to its size. Zeroed: SPAN 0 = invalid (5.1).
    strtab_pa_ = TRY(pages.alloc(bytes, std::max<size_t>(bytes, 4096)));
    l2_pa_.assign(l1_entries, std::nullopt);
  } else {
    // A linear table of at most 2^16 STEs (4 MiB, the largest block).
    strtab_log2_ = std::min(feat_.sid_bits, 16u);
    const size_t n = size_t{1} << strtab_log2_;
    const size_t bytes = n * kSteBytes;
    strtab_pa_ = TRY(pages.alloc(bytes, std::max<size_t>(bytes, 4096)));
    auto words = abort_stes(n);
    TRY(ctx_.ram().write(*strtab_pa_, words.data(), words.size() * 8));
  }
  if (strtab_log2_ < feat_.sid_bits)
    ctx_.log().warn(name(), "stream table covers {} of {} stream ID bits", strtab_log2_, feat_.sid_bits);
  return {};
}

uint32_t strtab_cfg_value(bool two_level, unsigned log2) {
  return static_cast<uint32_t>(put(two_level ? STRTAB_FMT_2LVL : STRTAB_FMT_LINEAR, STRTAB_CFG_FMT, 2) |
                               put(two_level ? kStrtabSplit : 0, STRTAB_CFG_SPLIT, 5) |
                               put(log2, STRTAB_CFG_LOG2SIZE, 6));
}

// ste_lock_ held.
Status SmmuDevice::init_l2(uint32_t l1_idx) {
  auto& pages = ctx_.pages();
  const size_t n = size_t{1} << kStrtabSplit;
  const uint64_t pa = TRY(pages.alloc(n * kSteBytes, n * kSteBytes));
  auto words = abort_stes(n);
  Status s = ctx_.ram().write(pa, words.data(), words.size() * 8);
  // 5.1: publish the level-2 table only once it is complete: one store of
  // the level-1 descriptor (L2Ptr [51:6], Span = SPLIT + 1).
  if (s.ok()) s = ctx_.ram().write64(*strtab_pa_ + uint64_t{l1_idx} * kL1DescBytes,
                                          (pa & STE0_S1CTXPTR_MASK) | (kStrtabSplit + 1));
  if (!s.ok()) {
    (void)pages.free(pa);
    return s;
  }
  l2_pa_[l1_idx] = pa;
  return {};
}

// ste_lock_ held.
Result<uint64_t> SmmuDevice::ste_pa(uint32_t sid, bool alloc) {
  if (strtab_log2_ < 32 && (uint64_t{sid} >> strtab_log2_))
    return make_error(Errc::inval, fmt::format("{}: stream ID {:#x} beyond the stream table ({} bits)", name(), sid,
                                               strtab_log2_));
  if (!strtab_pa_) return make_error(Errc::nodev, fmt::format("{}: no stream table", name()));
  if (!two_level_) return *strtab_pa_ + uint64_t{sid} * kSteBytes;
  const uint32_t l1 = sid >> kStrtabSplit;
  if (!l2_pa_[l1]) {
    if (!alloc) return make_error(Errc::noent, fmt::format("{}: no level-2 stream table for {:#x}", name(), sid));
    TRY(init_l2(l1));
  }
  return *l2_pa_[l1] + uint64_t{sid & ((1u << kStrtabSplit) - 1)} * kSteBytes;
}

// ste_lock_ held. One store, then the SMMU drops its cached copy (4.3.1).
Status SmmuDevice::write_ste(uint32_t sid, uint64_t word0) {
  const uint64_t pa = TRY(ste_pa(sid, true));
  TRY(ctx_.ram().write64(pa, word0));
  return cmdq_.issue_sync(cmd_cfgi_ste(sid));
}

void SmmuDevice::free_tables() {
  auto& pages = ctx_.pages();
  for (const std::optional<uint64_t>& pa : l2_pa_)
    if (pa) (void)pages.free(*pa);
  l2_pa_.clear();
  if (strtab_pa_) (void)pages.free(*strtab_pa_);
  strtab_pa_.reset();
  if (evtq_pa_) (void)pages.free(*evtq_pa_);
  evtq_pa_.reset();
  cmdq_.free();
}

}  // namespace modiommu::arm_smmu_v3
