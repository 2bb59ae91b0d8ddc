// Split virtqueues, driver side (drivers/virtio/virtio_ring.c; virtio 1.2
// 2.7): one DMA allocation holds the descriptor table, the available ring
// and the used ring. Free descriptors are chained through a host-side copy
// of the next fields, so a chain's descriptors are the free list's order.
#include <cstring>

#include <fmt/format.h>

#include "drivers/virtio/virtio.h"
#include "kernel/driver_context.h"

namespace modiommu::virtio {
namespace uv = uapi::virtio;

namespace {
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
}  // namespace

Virtqueue::Virtqueue(VirtioDevice& vdev, unsigned index, std::string name, std::function<void(Virtqueue&)> callback)
    : vdev_(vdev), index_(index), name_(std::move(name)), callback_(std::move(callback)) {}

Virtqueue::~Virtqueue() = default;

Status Virtqueue::setup(uint32_t num) {
  num_ = num;
  const uint64_t avail_off = uv::desc_table_bytes(num);
  const uint64_t used_off = align_up(avail_off + uv::avail_ring_bytes(num), uv::kUsedAlign);
  ring_size_ = used_off + uv::used_ring_bytes(num);
  auto buf = TRY(vdev_.alloc_dma(ring_size_));
  ring_pa_ = buf.pa;
  ring_dma_ = buf.dma;
  std::vector<uint8_t> zero(ring_size_, 0);
  // A queue without a callback is polled: no used-buffer interrupt for it
  // (2.7.7), so completing a request never calls back into the driver's
  // context from inside its own kick (virtqueue_disable_cb()).
  if (!callback_) {
    const uint16_t flags = uv::kAvailFNoInterrupt;
    std::memcpy(zero.data() + avail_off, &flags, 2);
  }
  TRY(vdev_.mem_write(ring_pa_, zero.data(), zero.size()));
  addrs_ = {num, ring_dma_, ring_dma_ + avail_off, ring_dma_ + used_off};
  {
    std::lock_guard g(lock_);
    tokens_.assign(num, nullptr);
    chain_len_.assign(num, 0);
    chain_bytes_.assign(num, 0);
    next_.resize(num);
    for (uint32_t i = 0; i < num; ++i) next_[i] = static_cast<uint16_t>((i + 1) % num);
    free_head_ = 0;
    num_free_ = num;
    avail_idx_ = last_used_ = 0;
    broken_ = false;
  }
  Status s = vdev_.config().activate_queue(index_, addrs_);
  if (!s.ok()) {
    vdev_.free_dma({ring_pa_, ring_dma_, ring_size_});
    ring_size_ = 0;
    return make_error(s.error().code, fmt::format("{}: queue {} ({}): {}", vdev_.name(), index_, name_, s.error().message));
  }
  return {};
}

void Virtqueue::teardown() {
  if (!ring_size_) return;
  vdev_.config().deactivate_queue(index_);
  vdev_.free_dma({ring_pa_, ring_dma_, ring_size_});
  ring_size_ = 0;
}

// Ring areas, CPU side (the ring memory is the transport's coherent DMA
// buffer, so the CPU address is pa + the same offset).
Status Virtqueue::add_sgs(const std::vector<VirtqBuf>& out, const std::vector<VirtqBuf>& in, void* token) {
  const size_t n = out.size() + in.size();
  if (n == 0 || !token) return make_error(Errc::inval, name_ + ": a request needs buffers and a token");
  std::lock_guard g(lock_);
  if (broken_) return make_error(Errc::io, fmt::format("{}: queue {} is broken: {}", vdev_.name(), name_, broken_reason_));
  if (n > num_free_)
    return make_error(Errc::nospc, fmt::format("{}: queue {} has {} free descriptors, {} needed", vdev_.name(), name_,
                                               num_free_, n));
  const uint16_t head = free_head_;
  uint16_t cur = head;
  uint64_t writable = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool w = i >= out.size();
    const VirtqBuf& b = w ? in[i - out.size()] : out[i];
    // 2.7.5: addr, len, flags, next.
    struct {
      uint64_t addr;
      uint32_t len;
      uint16_t flags, next;
    } d{b.addr, b.len, static_cast<uint16_t>((w ? uv::kDescFWrite : 0) | (i + 1 < n ? uv::kDescFNext : 0)),
        static_cast<uint16_t>(i + 1 < n ? next_[cur] : 0)};
    TRY(vdev_.mem_write(ring_pa_ + 16ull * cur, &d, sizeof d));
    if (w) writable += b.len;
    if (i + 1 < n) cur = next_[cur];
  }
  free_head_ = next_[cur];
  num_free_ -= static_cast<unsigned>(n);
  tokens_[head] = token;
  chain_len_[head] = static_cast<uint16_t>(n);
  chain_bytes_[head] = writable;
  // 2.7.13: the ring entry, then (after it) the index.
  const uint64_t avail = ring_pa_ + (addrs_.avail - ring_dma_);
  TRY(vdev_.mem_write(avail + 4 + 2ull * (avail_idx_ % num_), &head, 2));
  ++avail_idx_;
  TRY(vdev_.mem_write(avail + 2, &avail_idx_, 2));
  return {};
}

void Virtqueue::kick() {
  {
    std::lock_guard g(lock_);
    if (broken_) return;
    // 2.7.10: the device may ask not to be notified.
    uint16_t flags = 0;
    if (vdev_.mem_read(ring_pa_ + (addrs_.used - ring_dma_), &flags, 2).ok() && (flags & uv::kUsedFNoNotify)) return;
  }
  vdev_.config().notify(index_);
}

void* Virtqueue::get_buf(uint32_t* len) {
  std::lock_guard g(lock_);
  if (broken_) return nullptr;
  const uint64_t used = ring_pa_ + (addrs_.used - ring_dma_);
  uint16_t used_idx = 0;
  if (!vdev_.mem_read(used + 2, &used_idx, 2).ok() || used_idx == last_used_) return nullptr;
  if (static_cast<uint16_t>(used_idx - last_used_) > num_) {
    mark_broken(fmt::format("used index jumped from {} to {}", last_used_, used_idx));
    return nullptr;
  }
  uint32_t e[2] = {0, 0};  // 2.7.8: id, len
  if (!vdev_.mem_read(used + 4 + 8ull * (last_used_ % num_), e, sizeof e).ok()) {
    mark_broken("used ring unreadable");
    return nullptr;
  }
  const uint32_t id = e[0];
  if (id >= num_ || !tokens_[id]) {
    mark_broken(fmt::format("used id {} was never made available", id));
    return nullptr;
  }
  if (e[1] > chain_bytes_[id]) {
    mark_broken(fmt::format("used length {} exceeds the {} writable bytes of chain {}", e[1], chain_bytes_[id], id));
    return nullptr;
  }
  ++last_used_;
  void* token = tokens_[id];
  tokens_[id] = nullptr;
  uint16_t last = static_cast<uint16_t>(id);
  for (unsigned i = 1; i < chain_len_[id]; ++i) last = next_[last];
  next_[last] = free_head_;
  free_head_ = static_cast<uint16_t>(id);
  num_free_ += chain_len_[id];
  if (len) *len = e[1];
  return token;
}

unsigned Virtqueue::num_free() const {
  std::lock_guard g(lock_);
  return num_free_;
}

bool Virtqueue::broken() const {
  std::lock_guard g(lock_);
  return broken_;
}

std::string Virtqueue::broken_reason() const {
  std::lock_guard g(lock_);
  return broken_reason_;
}

void Virtqueue::mark_broken(std::string why) {
  broken_ = true;
  broken_reason_ = std::move(why);
  vdev_.ctx().log().err(vdev_.name(), "queue {}: device error: {}; queue broken", name_, broken_reason_);
}

void Virtqueue::interrupt() {
  if (callback_) callback_(*this);
}

}  // namespace modiommu::virtio
