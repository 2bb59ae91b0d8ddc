#include "hw/dmatest.h"

#include <algorithm>
#include <cstring>

namespace modiommu::hw {

DmaTest::DmaTest(std::string name, PhysicalMemory& mem, size_t buf_size, IrqLine* irq)
    : name_(std::move(name)),
      port_(mem),
      irq_(irq),
      buf_size_(std::clamp<size_t>(buf_size, 4096, 1 << 20)) {}

uint8_t* DmaTest::lazy(std::unique_ptr<PageBuffer>& b) {
  if (!b) b = std::make_unique<PageBuffer>(buf_size_);
  return b->data();
}

DmaTest::~DmaTest() { stop(); }

void DmaTest::pattern_fill(uint64_t seed, void* dst, size_t len) {
  uint64_t x = seed ^ 0x9e3779b97f4a7c15ull;
  if (x == 0) x = 1;
  auto* out = static_cast<uint8_t*>(dst);
  while (len) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    const uint64_t v = x * 0x2545f4914f6cdd1dull;
    uint8_t bytes[8];
    for (unsigned i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(v >> (8 * i));
    const size_t n = std::min<size_t>(len, 8);
    std::memcpy(out, bytes, n);
    out += n;
    len -= n;
  }
}

uint64_t DmaTest::checksum(const void* data, size_t len) { return uapi::dmatest::checksum(data, len); }

bool DmaTest::run_once(const Program& p) {
  bool ok = true, badprog = false;
  DmaFault f;
  {
    std::lock_guard b(buf_lock_);
    if (p.len == 0 || p.len > buf_size_ || p.dir > kMemToMem) {
      badprog = true;
    } else if (p.dir == kMemToDev) {
      ok = port_.read(p.src, lazy(buf_), p.len, &f).ok();
    } else if (p.dir == kDevToMem) {
      ok = port_.write(p.dst, lazy(buf_), p.len, &f).ok();
    } else {
      uint8_t* tmp = lazy(scratch_);
      ok = port_.read(p.src, tmp, p.len, &f).ok() && port_.write(p.dst, tmp, p.len, &f).ok();
    }
  }
  bool irq = false;
  {
    std::lock_guard g(regs_lock_);
    status_ &= ~kStatusBusy;
    if (badprog) {
      status_ |= kStatusBadProg;
    } else if (!ok) {
      status_ |= kStatusFault;
      fault_addr_ = f.iova;
      fault_info_ = (f.dir == Access::write ? 1u : 0u) | (f.memory_error ? 2u : 0u);
      faults_.fetch_add(1, std::memory_order_relaxed);
    } else {
      status_ |= kStatusDone;
      xfers_.fetch_add(1, std::memory_order_relaxed);
    }
    irq = (ctrl_ & kCtrlIrqEn) && irq_;
  }
  if (irq) irq_->raise();
  return ok && !badprog;
}

void DmaTest::continuous_loop() {
  while (running_.load(std::memory_order_acquire)) {
    Program p;
    {
      std::lock_guard g(regs_lock_);
      p = Program{src_, dst_, len_, dir_};
      status_ |= kStatusBusy;
    }
    run_once(p);
    std::this_thread::yield();
  }
}

void DmaTest::start_continuous() {
  std::lock_guard t(thread_lock_);
  if (running_.load()) return;
  if (thread_.joinable()) thread_.join();  // an earlier loop stopped from its own thread
  running_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { continuous_loop(); });
}

void DmaTest::stop() {
  running_.store(false, std::memory_order_release);
  {
    std::lock_guard g(regs_lock_);
    ctrl_ &= ~kCtrlContinuous;
  }
  std::lock_guard t(thread_lock_);
  // A listener on our IRQ may clear CONTINUOUS from the loop's own thread:
  // it cannot join itself; the next start/stop/destructor joins it.
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

uint64_t DmaTest::read(uint64_t offset, unsigned size) {
  const uint64_t base = offset & ~uint64_t{7};
  uint64_t v = 0;
  if (offset == kCHECKSUM || offset == kCHECKSUM + 4) {
    uint32_t len;
    {
      std::lock_guard g(regs_lock_);
      len = len_;
    }
    std::lock_guard b(buf_lock_);
    v = checksum(lazy(buf_), std::min<size_t>(len, buf_size_));
  } else {
    std::lock_guard g(regs_lock_);
    switch (base) {
      case kID: v = kId | (uint64_t{1} << 32); break;
      case kCTRL: v = ctrl_ | (uint64_t{status_} << 32); break;
      case kSRC: v = src_; break;
      case kDST: v = dst_; break;
      case kLEN: v = len_ | (uint64_t{dir_} << 32); break;
      case kPATTERN: v = pattern_; break;
      case kFAULT_ADDR: v = fault_addr_; break;
      case kXFER_COUNT: v = xfers_.load(std::memory_order_relaxed); break;
      case kFAULT_COUNT: v = faults_.load(std::memory_order_relaxed); break;
      case kBUF_SIZE: v = buf_size_ | (uint64_t{fault_info_} << 32); break;
      default: v = 0; break;
    }
  }
  if (size == 8) return offset == base ? v : 0;
  v >>= (offset - base) * 8;
  return size >= 8 ? v : v & ((uint64_t{1} << (size * 8)) - 1);
}

void DmaTest::write(uint64_t offset, uint64_t value, unsigned size) {
  if (size != 4 && size != 8) return;  // byte/halfword writes are ignored
  const uint64_t base = offset & ~uint64_t{7};
  const bool high = offset != base;
  auto merge = [&](uint64_t& reg) {
    if (size == 8) reg = value;
    else if (high) reg = (reg & 0xffffffffull) | (value << 32);
    else reg = (reg & ~0xffffffffull) | (value & 0xffffffffull);
  };
  const uint32_t v32 = static_cast<uint32_t>(value);
  bool go = false, start = false, stop_loop = false;
  Program p{};
  {
    std::lock_guard g(regs_lock_);
    switch (offset) {
      case kSRC: case kSRC + 4: merge(src_); break;
      case kDST: case kDST + 4: merge(dst_); break;
      case kLEN: len_ = v32; if (size == 8) dir_ = static_cast<uint32_t>(value >> 32); break;
      case kDIRECTION: dir_ = v32; break;
      case kSTATUS: status_ &= ~(v32 & (kStatusDone | kStatusFault | kStatusBadProg)); break;
      case kCTRL: {
        const bool was_cont = ctrl_ & kCtrlContinuous;
        ctrl_ = v32 & (kCtrlContinuous | kCtrlIrqEn);
        const bool cont = ctrl_ & kCtrlContinuous;
        start = cont && !was_cont;
        stop_loop = !cont && was_cont;
        if ((v32 & kCtrlGo) && !cont) {
          go = true;
          status_ |= kStatusBusy;
          p = Program{src_, dst_, len_, dir_};
        }
        break;
      }
      case kPATTERN: case kPATTERN + 4: merge(pattern_); break;
      default: break;  // read-only or unassigned: ignored
    }
  }
  if (offset == kPATTERN || offset == kPATTERN + 4) {
    uint64_t seed;
    {
      std::lock_guard g(regs_lock_);
      seed = pattern_;
    }
    std::lock_guard b(buf_lock_);
    pattern_fill(seed, lazy(buf_), buf_size_);
  }
  if (stop_loop) stop();
  if (start) start_continuous();
  if (go) run_once(p);
}

}  // namespace modiommu::hw
