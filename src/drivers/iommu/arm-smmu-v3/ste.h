// Stream table entries and context descriptors as the driver builds them
// (IHI 0070 5.2 STE, 5.4 CD), and the one algorithm that changes a live one
// (Linux's arm_smmu_write_entry, in spirit).
//
// Both are 64-byte entries the SMMU reads as eight 64-bit words, each word
// single-copy atomic (3.21.3). An update is hitless when every state the SMMU
// can fetch in between is either the old or the new configuration:
//   1. work out which bits the SMMU uses in the current and in the target
//      entry (ste_used / cd_used);
//   2. write the target into every bit the current entry does not use, sync;
//   3. if the used bits now differ in one word only, store that word (one
//      atomic switch), sync, then tidy the bits the target ignores;
//   4. if they differ in more than one word no single store can switch, so
//      break: V=0 (the SMMU aborts the stream), sync, write words 1-7, sync,
//      then word 0 with V=1, sync.
// "sync" is CMD_CFGI_STE/CD + CMD_SYNC, done only when a step stored something.
#pragma once

#include <array>
#include <cstdint>

#include "base/result.h"

namespace modiommu::arm_smmu_v3 {

inline constexpr unsigned kEntryWords = 8;
using Entry = std::array<uint64_t, kEntryWords>;

// Target STEs (5.2). The abort encoding lives here only.
Entry ste_abort();
Entry ste_bypass();
// Stage 1 through the single CD at cd_pa (S1Fmt linear, S1CDMax 0).
Entry ste_s1(uint64_t cd_pa);

// What a stage-1 CD (5.4) says.
struct CdConfig {
  uint16_t asid = 0;
  uint64_t ttb0 = 0, mair = 0;
  unsigned t0sz = 0, tg0 = 0, irgn0 = 0, orgn0 = 0, sh0 = 0, ips = 0;
};
Entry cd_s1(const CdConfig& c);

// Bits the SMMU reads in this entry, by its own V/Config (used bits may
// change at will while the entry is live; nothing else may).
Entry ste_used(const Entry& ste);
Entry cd_used(const Entry& cd);

// Where an update's stores go and how the SMMU is told.
class EntryWriter {
 public:
  virtual ~EntryWriter() = default;
  virtual Entry used(const Entry& e) const = 0;
  // One 64-bit store of word `i` of the entry.
  virtual Status store(unsigned i, uint64_t value) = 0;
  // The SMMU drops any cached copy of the entry (and waits for it).
  virtual Status sync() = 0;
};

// Moves the entry whose contents are `cur` to `target` as described above.
Status write_entry(EntryWriter& w, const Entry& cur, const Entry& target);

}  // namespace modiommu::arm_smmu_v3
