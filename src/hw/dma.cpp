#include "hw/dma.h"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

namespace modiommu::hw {

void UpstreamPort::set_translator(std::shared_ptr<DmaTranslator> t, uint32_t stream_id) {
  std::unique_lock g(wiring_lock_);
  translator_ = std::move(t);
  stream_id_ = stream_id;
}

void UpstreamPort::set_direct() {
  std::shared_ptr<DmaTranslator> old;
  std::unique_lock g(wiring_lock_);
  old = std::move(translator_);
  translator_.reset();
}

bool UpstreamPort::has_translator() const {
  std::shared_lock g(wiring_lock_);
  return translator_ != nullptr;
}

uint32_t UpstreamPort::stream_id() const {
  std::shared_lock g(wiring_lock_);
  return stream_id_;
}

PortStats UpstreamPort::stats() const {
  PortStats s;
  s.translated = translated_.load(std::memory_order_relaxed);
  s.bypassed = bypassed_.load(std::memory_order_relaxed);
  s.direct = direct_.load(std::memory_order_relaxed);
  s.faulted = faulted_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.escapes = escapes_.load(std::memory_order_relaxed);
  return s;
}

Status UpstreamPort::read(uint64_t iova, void* dst, size_t len, DmaFault* fault) {
  return transfer(iova, static_cast<uint8_t*>(dst), len, Access::read, fault);
}

Status UpstreamPort::write(uint64_t iova, const void* src, size_t len, DmaFault* fault) {
  // transfer() only reads from buf for writes.
  return transfer(iova, const_cast<uint8_t*>(static_cast<const uint8_t*>(src)), len, Access::write, fault);
}

Status UpstreamPort::transfer(uint64_t iova, uint8_t* buf, size_t len, Access dir, DmaFault* fault) {
  std::shared_lock g(wiring_lock_);
  DmaTranslator* t = translator_.get();
  const uint32_t sid = stream_id_;
  uint64_t pieces_translated = 0, pieces_bypassed = 0;
  const bool allowed = untranslated_allowed();
  auto account = [&] {
    translated_.fetch_add(pieces_translated, std::memory_order_relaxed);
    bypassed_.fetch_add(pieces_bypassed, std::memory_order_relaxed);
    if (!allowed) escapes_.fetch_add(pieces_bypassed, std::memory_order_relaxed);
  };
  auto fail = [&](uint64_t at, bool memerr) -> Status {
    account();
    faulted_.fetch_add(1, std::memory_order_relaxed);
    if (fault) *fault = DmaFault{at, dir, memerr};
    return make_error(Errc::fault, fmt::format("DMA {} at iova {:#x} (stream {}) {}", dir == Access::read ? "read" : "write",
                                               at, sid, memerr ? "hit non-RAM" : "aborted by the IOMMU"));
  };
  if (!t) {
    direct_.fetch_add(1, std::memory_order_relaxed);
    Status s = dir == Access::read ? mem_.read(iova, buf, len) : mem_.write(iova, buf, len);
    if (!s) return fail(iova, true);
    if (!allowed) escapes_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(len, std::memory_order_relaxed);
    return {};
  }
  // Pieces whose output addresses are contiguous move with one memory
  // access (a burst); translation is still asked for every piece.
  uint64_t run_iova = iova, run_pa = 0, run_len = 0;
  uint8_t* run_buf = buf;
  auto flush = [&]() -> bool {
    if (!run_len) return true;
    Status s = dir == Access::read ? mem_.read(run_pa, run_buf, run_len) : mem_.write(run_pa, run_buf, run_len);
    if (!s) return false;
    bytes_.fetch_add(run_len, std::memory_order_relaxed);
    return true;
  };
  while (len) {
    const TranslateOutcome o = t->translate(sid, iova, dir);
    if (o.kind == TranslateOutcome::Kind::faulted || o.span == 0) {
      if (!flush()) return fail(run_iova, true);
      return fail(iova, false);
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len, o.span));
    (o.kind == TranslateOutcome::Kind::translated ? pieces_translated : pieces_bypassed)++;
    if (run_len && o.pa == run_pa + run_len) {
      run_len += n;
    } else {
      if (!flush()) return fail(run_iova, true);
      run_iova = iova;
      run_pa = o.pa;
      run_len = n;
      run_buf = buf;
    }
    iova += n;
    buf += n;
    len -= n;
  }
  if (!flush()) return fail(run_iova, true);
  account();
  return {};
}

}  // namespace modiommu::hw
