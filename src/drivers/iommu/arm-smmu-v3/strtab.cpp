// The stream table (IHI 0070 3.3, 5.1, 5.2): linear, or two-level with
// level-2 tables allocated when a master with a stream ID there is probed.
// Locking: SmmuDevice::ste_lock_ guards l2_pa_ and every STE write.
//
// Every change of an STE goes through write_ste(), which updates it
// hitlessly (ste.h). With the STEs this driver builds (word 1 one value for
// every configuration, words 2-7 zero) every change is a single 64-bit store
// of word 0 followed by CMD_CFGI_STE + CMD_SYNC: the SMMU sees the old or the
// new STE, never a mix (3.21.3: aligned 64-bit single-copy atomicity).
#include <algorithm>
#include <iterator>
#include <vector>

#include "drivers/iommu/arm-smmu-v3/arm-smmu-v3.h"
#include "kernel/driver_context.h"

namespace modiommu::arm_smmu_v3 {
namespace {

// `n` STEs that abort every transaction (Linux arm_smmu_init_bypass_stes
// with bypass disabled): unused stream IDs must not translate or bypass.
// Written before the SMMU can see the table, so no update protocol.
std::vector<uint64_t> abort_stes(size_t n) {
  const Entry abort = ste_abort();
  std::vector<uint64_t> words(n * kEntryWords, 0);
  for (size_t i = 0; i < n; ++i) std::copy(abort.begin(), abort.end(), words.begin() + i * kEntryWords);
  return words;
}

// The STEs of some stream IDs with the same contents, updated together:
// each store goes to all of them, each sync invalidates all of them.
class SteWriter final : public EntryWriter {
 public:
  SteWriter(hw::PhysicalMemory& mem, Cmdq& cmdq) : mem_(mem), cmdq_(cmdq) {}
  void add(uint32_t sid, uint64_t pa) {
    pas_.push_back(pa);
    cfgi_.push_back(cmd_cfgi_ste(sid));
  }
  Entry used(const Entry& e) const override { return ste_used(e); }
  Status store(unsigned i, uint64_t value) override {
    for (uint64_t pa : pas_) TRY(mem_.write64(pa + uint64_t{i} * 8, value));
    return {};
  }
  Status sync() override { return cmdq_.issue_sync(cfgi_); }  // 4.3.1 CMD_CFGI_STE, then CMD_SYNC

 private:
  hw::PhysicalMemory& mem_;
  Cmdq& cmdq_;
  std::vector<uint64_t> pas_;
  std::vector<Cmd> cfgi_;
};

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
  return strtab_cfg::FMT::prep(two_level ? STRTAB_FMT_2LVL : STRTAB_FMT_LINEAR) |
         strtab_cfg::SPLIT::prep(two_level ? kStrtabSplit : 0) | strtab_cfg::LOG2SIZE::prep(log2);
}

// ste_lock_ held.
Status SmmuDevice::init_l2(uint32_t l1_idx) {
  auto& pages = ctx_.pages();
  const size_t n = size_t{1} << kStrtabSplit;
  const uint64_t pa = TRY(pages.alloc(n * kSteBytes, n * kSteBytes));
  auto words = abort_stes(n);
  Status s = ctx_.ram().write(pa, words.data(), words.size() * 8);
  // 5.1: publish the level-2 table only once it is complete: one store of
  // the level-1 descriptor (Span = SPLIT + 1: the whole level-2 table).
  if (s.ok()) s = ctx_.ram().write64(*strtab_pa_ + uint64_t{l1_idx} * kL1DescBytes,
                                          (pa & l1std::L2PTR::mask) | l1std::SPAN::prep(kStrtabSplit + 1));
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

// ste_lock_ held. STEs whose current contents agree move together, so the
// usual case (one store per stream ID) costs one CMD_SYNC for all of them.
Status SmmuDevice::write_ste(const std::vector<uint32_t>& sids, const Entry& target, bool alloc) {
  auto& mem = ctx_.ram();
  std::vector<std::pair<Entry, SteWriter>> groups;
  for (uint32_t sid : sids) {
    auto pa = ste_pa(sid, alloc);
    if (!pa.ok()) {
      if (alloc) return std::move(pa).error();
      continue;  // no level-2 table: the stream aborts already (5.1)
    }
    Entry cur;
    TRY(mem.read(*pa, cur.data(), sizeof cur));
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == cur; });
    if (it == groups.end()) {
      groups.emplace_back(cur, SteWriter(mem, cmdq_));
      it = std::prev(groups.end());
    }
    it->second.add(sid, *pa);
  }
  for (auto& [cur, writer] : groups) TRY(write_entry(writer, cur, target));
  return {};
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
