// The upstream side of a DMA master: the transactions it issues and the IOMMU
// model (a DmaTranslator) that may sit between it and memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>

#include "base/api.h"
#include "base/result.h"
#include "hw/arm/vmsa_walk.h"
#include "hw/memory.h"

namespace modiommu::hw {

using Access = arm::Access;

struct DmaRequest {
  uint32_t stream_id = 0;
  uint64_t iova = 0;
  size_t len = 0;
  Access dir = Access::read;
};

struct TranslateOutcome {
  enum class Kind {
    translated,  // the IOMMU translated the address
    bypassed,    // passed untranslated by configuration (STE bypass, GBPA bypass)
    faulted,     // aborted (fault, bad config, GBPA abort)
  } kind = Kind::faulted;
  uint64_t pa = 0;    // output address for the requested iova
  uint64_t span = 0;  // bytes from iova that the same answer covers (to the page/block end); >= 1 unless faulted
};

// Implemented by IOMMU models. translate() is called concurrently from many
// DMA threads; implementations must be thread-safe.
class MODIOMMU_API DmaTranslator {
 public:
  virtual ~DmaTranslator() = default;
  virtual TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) = 0;

  // A burst: translates the consecutive pieces of [iova, iova + len) in
  // order, one outcome per piece (out[i] answers for iova plus the spans of
  // out[0..i), each span clamped to what is left of len). Stops after max
  // outcomes, when len is covered, or after the first faulted outcome (which
  // is the last one written). Returns how many were written (0 only when len
  // or max is 0). Same answers and side effects (events, counters) as
  // calling translate() piece by piece; models override it to check shared
  // state once per burst. The default loops over translate().
  virtual size_t translate_burst(uint32_t stream_id, uint64_t iova, uint64_t len, Access access,
                                 TranslateOutcome* out, size_t max);
  // The platform wired a master presenting `stream_id` upstream of this
  // IOMMU. Models whose stream IDs must be declared (virtio-iommu endpoints,
  // virtio 1.2 5.13.6.3: ATTACH of an unknown endpoint is NOENT) note it.
  virtual void declare_stream(uint32_t stream_id) { (void)stream_id; }
};

// Counters of one port, for "escape" detection: any bypassed or direct byte
// reached memory without translation.
struct PortStats {
  uint64_t translated = 0;  // transactions (page-sized pieces) translated
  uint64_t bypassed = 0;    // pieces passed untranslated by IOMMU configuration
  uint64_t direct = 0;      // pieces issued with no IOMMU wired
  uint64_t faulted = 0;     // transfers stopped by a fault
  uint64_t bytes = 0;       // bytes moved
  // Pieces that reached memory untranslated (bypassed or direct) while the
  // system said this master must be translated (set_untranslated_allowed).
  uint64_t escapes = 0;
};

struct DmaFault {
  uint64_t iova = 0;
  Access dir = Access::read;
  bool memory_error = false;  // translated/direct address not in RAM (no IOMMU fault)
};

// A master's connection upstream: either through a translator with a stream
// ID, or direct to memory. Transfers are split where the translator's answer
// ends (a page or block) and each piece moves with one PhysicalMemory access.
//
// Locking: the wiring is guarded by wiring_lock_. A transfer holds it shared
// for its whole duration; rewiring (set_translator/set_direct) takes it
// exclusively, so when rewiring returns no transfer still uses the old
// translator and the old one may be destroyed. Counters are atomics.
class MODIOMMU_API UpstreamPort {
 public:
  explicit UpstreamPort(PhysicalMemory& mem) : mem_(mem) {}

  void set_translator(std::shared_ptr<DmaTranslator> t, uint32_t stream_id);
  void set_direct();
  // Instrumentation, not hardware: whether untranslated access by this
  // master is sanctioned right now (no IOMMU described, an identity domain,
  // or the bypass policy). Untranslated pieces while it is false are counted
  // as escapes (INTERFACE.md dma_escapes).
  void set_untranslated_allowed(bool allowed) { untranslated_allowed_.store(allowed, std::memory_order_release); }
  bool untranslated_allowed() const { return untranslated_allowed_.load(std::memory_order_acquire); }
  bool has_translator() const;
  uint32_t stream_id() const;

  // Read len bytes at iova into dst / write src to iova. On a fault, stops at
  // the faulting piece, fills *fault and returns EFAULT; bytes before the
  // fault may have moved (like a real partial transfer).
  Status read(uint64_t iova, void* dst, size_t len, DmaFault* fault = nullptr);
  Status write(uint64_t iova, const void* src, size_t len, DmaFault* fault = nullptr);

  PortStats stats() const;

 private:
  Status transfer(uint64_t iova, uint8_t* buf, size_t len, Access dir, DmaFault* fault);

  PhysicalMemory& mem_;
  mutable std::shared_mutex wiring_lock_;  // guards translator_, stream_id_; docs/architecture.md "Locks"
  std::shared_ptr<DmaTranslator> translator_;
  uint32_t stream_id_ = 0;
  std::atomic<uint64_t> translated_{0}, bypassed_{0}, direct_{0}, faulted_{0}, bytes_{0}, escapes_{0};
  std::atomic<bool> untranslated_allowed_{true};
};

}  // namespace modiommu::hw
