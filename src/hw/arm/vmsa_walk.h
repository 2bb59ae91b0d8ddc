// VMSAv8-64 translation table walker (ARM DDI 0487 D8, "The AArch64 Virtual
// Memory System Architecture"), for the SMMU models (which reuse the CPU
// table format, IHI 0070 3.4) and for cross-checking io-pgtable code.
//
// Supported: 4K/16K/64K granules, stage 1 and stage 2, start level from the
// input size (S1) or given (S2, incl. concatenated start tables), block and
// page descriptors at the levels DDI 0487 D8.3 allows without FEAT_LPA/LPA2,
// hierarchical APTable (S1), access flag (no hardware AF/dirty update).
// Not supported: 52-bit addresses (LPA/LPA2), contiguous-bit hints (ignored,
// which is a legal TLB choice), TTB1 (upper VA range), AArch32 formats.
// Stateless and thread-safe: each call only reads memory.
#pragma once

#include <cstdint>

#include "base/api.h"
#include "hw/memory.h"

namespace modiommu::hw::arm {

enum class Granule { k4K, k16K, k64K };
enum class Stage { s1, s2 };
enum class Access { read, write };

struct WalkResult {
  enum class Fault { none, translation, permission, address_size, access_flag, external } fault = Fault::none;
  uint64_t pa = 0;
  uint64_t block_size = 0;
  unsigned level = 0;
  bool readable = false, writable = false;
  uint64_t fault_ipa_or_va = 0;
  // Added: PA of the descriptor whose fetch failed (external faults).
  uint64_t fetch_pa = 0;
  // Added, nested walks: the fault happened in stage 2 while translating the
  // IPA `table_ipa` of a stage-1 table (IHI 0070 7.3, CLASS=TT, S2=1).
  bool stage2_on_table = false;
  uint64_t table_ipa = 0;
  bool ok() const { return fault == Fault::none; }
};

struct WalkConfig {
  Stage stage = Stage::s1;
  Granule granule = Granule::k4K;
  unsigned input_bits = 48;   // from T0SZ: 64 - T0SZ
  unsigned output_bits = 48;  // from IPS/PS
  uint64_t ttb = 0;           // table base (PA)
  unsigned start_level = 0;   // s2: from SL0 and granule; s1: derived from input_bits/granule
  bool s1_ignore_ap_user = true;  // S1: AP[1] (EL0) ignored for a privileged device access
  // Added, nested (S1 over S2): when set, every stage-1 table address (TTB and
  // next-level pointers) is an IPA, translated by this hook before the fetch.
  WalkResult (*table_ipa_to_pa)(void* ctx, uint64_t ipa) = nullptr;
  void* table_ctx = nullptr;
};

MODIOMMU_API WalkResult walk(const PhysicalMemory& mem, const WalkConfig& cfg, uint64_t iova, Access access);
// helper: start level for a stage-1 walk given granule and input bits
// (DDI 0487 D8.2.6). Returns 4 (no valid level) when the size needs more
// than four levels or fewer than one.
MODIOMMU_API unsigned s1_start_level(Granule g, unsigned input_bits);
// Stage-2 start level from VTCR/STE SL0 (DDI 0487 D8.2.7; IHI 0070 5.2
// STE.S2SL0). Returns 4 for a reserved encoding.
MODIOMMU_API unsigned s2_start_level(Granule g, unsigned sl0);
MODIOMMU_API unsigned granule_shift(Granule g);
// Bytes mapped by one descriptor at `level`.
MODIOMMU_API uint64_t level_size(Granule g, unsigned level);
MODIOMMU_API const char* fault_name(WalkResult::Fault f);

}  // namespace modiommu::hw::arm
