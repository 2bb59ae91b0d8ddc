#include "hw/virtio/virtqueue.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace modiommu::hw::virtio {

namespace {

// On-RAM sizes (virtio 1.2 2.7): descriptor 16 bytes; available ring
// flags+idx+ring[n]+used_event; used ring flags+idx+ring[n]*8+avail_event.
uint64_t desc_bytes(uint32_t n) { return 16ull * n; }
uint64_t avail_bytes(uint32_t n) { return 6ull + 2ull * n; }
uint64_t used_bytes(uint32_t n) { return 6ull + 8ull * n; }

}  // namespace

Status Virtqueue::enable(const VirtqLayout& l, uint32_t max_size) {
  std::lock_guard g(lock_);
  const auto bad = [&](std::string what) {
    return make_error(Errc::inval, fmt::format("virtqueue {}: {}", index_, what));
  };
  if (l.size == 0 || (l.size & (l.size - 1)) != 0 || l.size > max_size || l.size > kMaxQueueSize)
    return bad(fmt::format("size {} is not a power of two <= {}", l.size, std::min(max_size, kMaxQueueSize)));
  // Alignment requirements of 2.7 (table "Virtqueue Part Alignment").
  if (l.desc % 16) return bad(fmt::format("descriptor table {:#x} not 16-byte aligned", l.desc));
  if (l.driver % 2) return bad(fmt::format("available ring {:#x} not 2-byte aligned", l.driver));
  if (l.device % 4) return bad(fmt::format("used ring {:#x} not 4-byte aligned", l.device));
  if (!mem_.contains(l.desc, desc_bytes(l.size)))
    return bad(fmt::format("descriptor table [{:#x}, +{:#x}) outside RAM", l.desc, desc_bytes(l.size)));
  if (!mem_.contains(l.driver, avail_bytes(l.size)))
    return bad(fmt::format("available ring [{:#x}, +{:#x}) outside RAM", l.driver, avail_bytes(l.size)));
  if (!mem_.contains(l.device, used_bytes(l.size)))
    return bad(fmt::format("used ring [{:#x}, +{:#x}) outside RAM", l.device, used_bytes(l.size)));
  layout_ = l;
  ready_ = true;
  broken_ = false;
  last_avail_ = used_idx_ = 0;
  ++generation_;
  return ok_status();
}

void Virtqueue::reset() {
  std::lock_guard g(lock_);
  layout_ = {};
  ready_ = broken_ = false;
  last_avail_ = used_idx_ = 0;
  ++generation_;
}

bool Virtqueue::ready() const {
  std::lock_guard g(lock_);
  return ready_;
}

bool Virtqueue::broken() const {
  std::lock_guard g(lock_);
  return broken_;
}

Status Virtqueue::fail(std::string why) {
  broken_ = true;
  return make_error(Errc::inval, fmt::format("virtqueue {}: {}", index_, why));
}

Result<uint16_t> Virtqueue::read16(uint64_t addr) const {
  uint16_t v = 0;
  TRY(mem_.read(addr, &v, sizeof v));
  return v;  // little-endian host, as virtio 1.x rings are (2.4)
}

Result<std::optional<VirtqChain>> Virtqueue::pop() {
  std::lock_guard g(lock_);
  if (!ready_ || broken_) return std::optional<VirtqChain>{};
  const uint32_t n = layout_.size;
  auto avail = read16(layout_.driver + 2);
  if (!avail) return fail(avail.error().message).error();
  const uint16_t pending = static_cast<uint16_t>(*avail - last_avail_);
  if (pending == 0) return std::optional<VirtqChain>{};
  // The driver can never have more than n buffers outstanding (2.7.13).
  if (pending > n) return fail(fmt::format("available idx {} is {} ahead of the device's {} (queue size {})", *avail,
                                           pending, last_avail_, n)).error();
  auto head = read16(layout_.driver + 4 + 2ull * (last_avail_ % n));
  if (!head) return fail(head.error().message).error();
  if (*head >= n) return fail(fmt::format("available ring entry {} names descriptor {} >= queue size {}",
                                          last_avail_ % n, *head, n)).error();
  VirtqChain c;
  c.head = *head;
  c.generation = generation_;
  uint32_t i = *head;
  // A chain has at most n descriptors; walking more means a loop (2.7.5.2).
  for (uint32_t count = 0;; ++count) {
    if (count >= n) return fail(fmt::format("descriptor chain from head {} loops or exceeds {} descriptors", *head, n)).error();
    struct {
      uint64_t addr;
      uint32_t len;
      uint16_t flags, next;
    } d;
    static_assert(sizeof d == 16);
    if (auto st = mem_.read(layout_.desc + 16ull * i, &d, sizeof d); !st) return fail(st.error().message).error();
    if (d.flags & kDescFIndirect)
      return fail(fmt::format("descriptor {} has INDIRECT but VIRTIO_F_INDIRECT_DESC was not offered", i)).error();
    if (d.len > 0 && !mem_.contains(d.addr, d.len))
      return fail(fmt::format("descriptor {} buffer [{:#x}, +{:#x}) outside RAM", i, d.addr, d.len)).error();
    if (d.flags & kDescFWrite) {
      c.writable.push_back({d.addr, d.len});
      c.writable_len += d.len;
    } else {
      // Readable descriptors must all precede writable ones (2.7.4.2).
      if (!c.writable.empty())
        return fail(fmt::format("descriptor {} is device-readable after a device-writable one", i)).error();
      c.readable.push_back({d.addr, d.len});
      c.readable_len += d.len;
    }
    if (!(d.flags & kDescFNext)) break;
    if (d.next >= n) return fail(fmt::format("descriptor {} next {} >= queue size {}", i, d.next, n)).error();
    i = d.next;
  }
  ++last_avail_;
  return std::optional<VirtqChain>(std::move(c));
}

Result<bool> Virtqueue::push(const VirtqChain& c, uint32_t written) {
  std::lock_guard g(lock_);
  if (!ready_ || c.generation != generation_) return false;
  const uint32_t n = layout_.size;
  const struct {
    uint32_t id, len;
  } e{c.head, written};
  if (auto st = mem_.write(layout_.device + 4 + 8ull * (used_idx_ % n), &e, sizeof e); !st)
    return fail(st.error().message).error();
  ++used_idx_;
  // The element is written before the index that publishes it (2.7.8);
  // PhysicalMemory accesses are ordered by its chunk locks.
  if (auto st = mem_.write(layout_.device + 2, &used_idx_, sizeof used_idx_); !st)
    return fail(st.error().message).error();
  return true;
}

bool Virtqueue::interrupt_wanted() const {
  std::lock_guard g(lock_);
  if (!ready_) return false;
  auto flags = read16(layout_.driver);
  return !flags || !(*flags & kAvailFNoInterrupt);
}

namespace {

template <bool kWrite, typename Buf>
Status walk(PhysicalMemory& mem, const std::vector<VirtqSegment>& segs, uint64_t total, uint64_t offset, Buf* buf,
            size_t len, unsigned q) {
  if (offset > total || len > total - offset)
    return make_error(Errc::range, fmt::format("virtqueue {}: {} part has {} bytes, need {} at offset {}", q,
                                               kWrite ? "writable" : "readable", total, len, offset));
  size_t done = 0;
  for (const auto& s : segs) {
    if (done == len) break;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    const size_t k = std::min<uint64_t>(s.len - offset, len - done);
    if constexpr (kWrite)
      TRY(mem.write(s.addr + offset, buf + done, k));
    else
      TRY(mem.read(s.addr + offset, buf + done, k));
    done += k;
    offset = 0;
  }
  return ok_status();
}

}  // namespace

Status Virtqueue::read_chain(const VirtqChain& c, uint64_t offset, void* dst, size_t len) const {
  return walk<false>(mem_, c.readable, c.readable_len, offset, static_cast<uint8_t*>(dst), len, index_);
}

Status Virtqueue::write_chain(const VirtqChain& c, uint64_t offset, const void* src, size_t len) const {
  return walk<true>(mem_, c.writable, c.writable_len, offset, static_cast<const uint8_t*>(src), len, index_);
}

}  // namespace modiommu::hw::virtio
