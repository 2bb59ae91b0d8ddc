#include "hw/dma.h"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

namespace modiommu::hw {

size_t DmaTranslator::translate_burst(uint32_t stream_id, uint64_t iova, uint64_t len, Access access,
                                      TranslateOutcome* out, size_t max) {
  size_t n = 0;
  while (len && n < max) {
    const TranslateOutcome o = translate(stream_id, iova, access);
    out[n++] = o;
    if (o.kind == TranslateOutcome::Kind::faulted || o.span == 0) break;
    const uint64_t step = std::min(len, o.span);
    out[n - 1].span = step;
    iova += step;
    len -= step;
  }
  return n;
}

void UpstreamPort::set_translator(std::shared_ptr<DmaTranslator> t, uint32_t stream_id) {
  if (t) t->declare_stream(stream_id);
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
  // Counts accumulate locally and are published once per transfer (on
  // success or fault): one atomic add per counter, not one per page.
  uint64_t pieces_translated = 0, pieces_bypassed = 0, moved = 0;
  const bool allowed = untranslated_allowed();
  auto account = [&] {
    if (pieces_translated) translated_.fetch_add(pieces_translated, std::memory_order_relaxed);
    if (pieces_bypassed) {
      bypassed_.fetch_add(pieces_bypassed, std::memory_order_relaxed);
      if (!allowed) escapes_.fetch_add(pieces_bypassed, std::memory_order_relaxed);
    }
    if (moved) bytes_.fetch_add(moved, std::memory_order_relaxed);
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
  // Translation is asked for every page. Pieces whose output addresses are
  // contiguous merge into one run (a burst); up to kBatch runs are gathered
  // and moved with one scatter-gather call, which takes each RAM chunk lock
  // once per group of neighbouring runs instead of once per page.
  constexpr size_t kBatch = 16;
  PhysicalMemory::Piece runs[kBatch];
  uint64_t run_iova[kBatch];
  size_t nruns = 0;
  uint64_t bad_iova = 0;
  auto flush = [&]() -> bool {
    const size_t done = dir == Access::read ? mem_.read_pieces(runs, nruns) : mem_.write_pieces(runs, nruns);
    for (size_t i = 0; i < done; ++i) moved += runs[i].len;
    const bool ok = done == nruns;
    if (!ok) {
      // The bad run may be several PA-contiguous pages that run off the end
      // of RAM: move it page by page so the fault names the first bad
      // byte's page and everything before it has moved (error path only).
      PhysicalMemory::Piece r = runs[done];
      uint64_t at = run_iova[done];
      while (r.len) {
        PhysicalMemory::Piece p{r.pa, std::min<uint64_t>(r.len, 0x1000 - (at & 0xfff)), r.buf};
        if ((dir == Access::read ? mem_.read_pieces(&p, 1) : mem_.write_pieces(&p, 1)) != 1) break;
        moved += p.len;
        r.pa += p.len;
        r.buf += p.len;
        r.len -= p.len;
        at += p.len;
      }
      bad_iova = at;
    }
    nruns = 0;
    return ok;
  };
  // Translations are asked a burst at a time (one page per outcome for 4K
  // tables); the data of a burst's pages moves after the burst, as the
  // kBatch runs did before: each translation is used for its one access.
  constexpr size_t kBurst = 64;
  TranslateOutcome outs[kBurst];
  while (len) {
    const size_t got = t->translate_burst(sid, iova, len, dir, outs, kBurst);
    for (size_t i = 0; i < got; ++i) {
      const TranslateOutcome& o = outs[i];
      if (o.kind == TranslateOutcome::Kind::faulted || o.span == 0) {
        if (!flush()) return fail(bad_iova, true);
        return fail(iova, false);
      }
      const size_t n = static_cast<size_t>(std::min<uint64_t>(len, o.span));
      (o.kind == TranslateOutcome::Kind::translated ? pieces_translated : pieces_bypassed)++;
      if (nruns && o.pa == runs[nruns - 1].pa + runs[nruns - 1].len) {
        runs[nruns - 1].len += n;
      } else {
        if (nruns == kBatch && !flush()) return fail(bad_iova, true);
        runs[nruns] = PhysicalMemory::Piece{o.pa, n, buf};
        run_iova[nruns++] = iova;
      }
      iova += n;
      buf += n;
      len -= n;
    }
    if (got == 0) {  // a translator that answers nothing aborts the transfer
      if (!flush()) return fail(bad_iova, true);
      return fail(iova, false);
    }
  }
  if (!flush()) return fail(bad_iova, true);
  account();
  return {};
}

}  // namespace modiommu::hw
