// "modiommu,dmatest": a platform DMA test master. A driver programs a
// transfer through registers; the device moves data between guest memory
// (through its UpstreamPort, hence the IOMMU) and a local buffer, and exposes
// a checksum of that buffer so the driver can verify end to end.
//
// Register layout (offsets from the base; 4 KiB region; 64-bit registers
// accept one 8-byte or two 4-byte accesses, low word first):
//   0x00 ID          RO 32  0x444d4154 ("DMAT")
//   0x04 VERSION     RO 32  1
//   0x08 CTRL        RW 32  bit0 GO (write 1: run once; reads 0)
//                           bit1 CONTINUOUS (1: repeat the transfer on the
//                           device's own thread until cleared; clearing stops
//                           and joins that thread)
//                           bit2 IRQEN (raise the IRQ line on done/fault)
//   0x0c STATUS      RW 32  bit0 BUSY (RO), bit1 DONE (W1C), bit2 FAULT (W1C),
//                           bit3 BADPROG (W1C: LEN 0 or above BUF_SIZE, or a
//                           bad DIRECTION)
//   0x10 SRC         RW 64  source IOVA (directions 0 and 2)
//   0x18 DST         RW 64  destination IOVA (directions 1 and 2)
//   0x20 LEN         RW 32  bytes, 1..BUF_SIZE
//   0x24 DIRECTION   RW 32  0 memory->buffer, 1 buffer->memory, 2 memory->memory
//   0x28 PATTERN     RW 64  writing a seed fills the whole local buffer with
//                           pattern_fill(seed) (reads the last seed)
//   0x30 CHECKSUM    RO 64  checksum() of local buffer bytes [0, LEN)
//   0x38 FAULT_ADDR  RO 64  IOVA of the last faulting access
//   0x40 XFER_COUNT  RO 64  completed transfers
//   0x48 FAULT_COUNT RO 64  transfers stopped by a fault
//   0x50 BUF_SIZE    RO 32  local buffer bytes
//   0x54 FAULT_INFO  RO 32  bit0 1 = the faulting access was a write;
//                           bit1 1 = memory error (non-RAM), 0 = IOMMU abort
// A single-shot GO runs synchronously in the writing thread (deterministic);
// STATUS.DONE or FAULT is set when the write returns.
//
// Locking: regs_lock_ guards the register fields; buf_lock_ guards the local
// buffer and is held for a whole transfer, so register reads (STATUS) never
// wait for a transfer. Counters are atomics. Lock order: buf_lock_ before
// regs_lock_. The IRQ is raised with no lock held.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/api.h"
#include "hw/dma.h"
#include "hw/dma_copy.h"
#include "hw/irq.h"
#include "hw/mmio.h"
#include "uapi/dmatest.h"

namespace modiommu::hw {

class MODIOMMU_API DmaTest : public MmioDevice {
 public:
  // The values are the interface's (uapi/dmatest.h), under the model's names.
  static constexpr uint64_t kRegionSize = uapi::dmatest::kRegionSize;
  static constexpr uint32_t kId = uapi::dmatest::kId;
  enum Reg : uint64_t {
    kID = uapi::dmatest::kRegId, kVERSION = uapi::dmatest::kRegVersion, kCTRL = uapi::dmatest::kRegCtrl,
    kSTATUS = uapi::dmatest::kRegStatus, kSRC = uapi::dmatest::kRegSrc, kDST = uapi::dmatest::kRegDst,
    kLEN = uapi::dmatest::kRegLen, kDIRECTION = uapi::dmatest::kRegDir, kPATTERN = uapi::dmatest::kRegPattern,
    kCHECKSUM = uapi::dmatest::kRegChecksum, kFAULT_ADDR = uapi::dmatest::kRegFaultAddr,
    kXFER_COUNT = uapi::dmatest::kRegXferCount, kFAULT_COUNT = uapi::dmatest::kRegFaultCount,
    kBUF_SIZE = uapi::dmatest::kRegBufSize, kFAULT_INFO = uapi::dmatest::kRegFaultInfo,
  };
  static constexpr uint32_t kCtrlGo = uapi::dmatest::kCtrlGo, kCtrlContinuous = uapi::dmatest::kCtrlContinuous,
                            kCtrlIrqEn = uapi::dmatest::kCtrlIrqEn;
  static constexpr uint32_t kStatusBusy = uapi::dmatest::kStatusBusy, kStatusDone = uapi::dmatest::kStatusDone,
                            kStatusFault = uapi::dmatest::kStatusFault, kStatusBadProg = uapi::dmatest::kStatusBadProg;
  enum Direction : uint32_t {
    kMemToDev = uapi::dmatest::kDirMemToBuf, kDevToMem = uapi::dmatest::kDirBufToMem,
    kMemToMem = uapi::dmatest::kDirMemToMem
  };

  // buf_size is clamped to [4 KiB, 1 MiB]. irq may be null.
  DmaTest(std::string name, PhysicalMemory& mem, size_t buf_size = 1 << 20, IrqLine* irq = nullptr);
  ~DmaTest() override;

  uint64_t read(uint64_t offset, unsigned size) override;
  void write(uint64_t offset, uint64_t value, unsigned size) override;
  std::string name() const override { return name_; }

  // The wiring (what the platform builder connects): see UpstreamPort.
  UpstreamPort& port() { return port_; }
  const UpstreamPort& port() const { return port_; }
  // Stops continuous mode and waits for its thread.
  void stop();

  // The documented pattern and checksum, for drivers and tests that need the
  // expected values: pattern bytes are successive little-endian outputs of
  // xorshift64* seeded with (seed ^ 0x9e3779b97f4a7c15, or 1 if that is 0);
  // the checksum is 64-bit FNV-1a over the bytes.
  static void pattern_fill(uint64_t seed, void* dst, size_t len);
  static uint64_t checksum(const void* data, size_t len);

 private:
  struct Program {
    uint64_t src, dst;
    uint32_t len, dir;
  };
  // Runs one transfer; returns false on a fault/bad programming.
  bool run_once(const Program& p);
  void continuous_loop();
  void start_continuous();

  std::string name_;
  UpstreamPort port_;
  IrqLine* irq_;

  // The local buffer and the memory-to-memory bounce buffer are allocated
  // on first use: a master that never moves data costs no host memory.
  uint8_t* lazy(std::unique_ptr<PageBuffer>& b);  // buf_lock_ held
  const size_t buf_size_;
  std::mutex buf_lock_;  // guards buf_, scratch_; docs/architecture.md "Locks"
  std::unique_ptr<PageBuffer> buf_, scratch_;

  mutable std::mutex regs_lock_;  // guards the fields below; docs/architecture.md "Locks"
  uint64_t src_ = 0, dst_ = 0, pattern_ = 0, fault_addr_ = 0;
  uint32_t len_ = 0, dir_ = 0, ctrl_ = 0, status_ = 0, fault_info_ = 0;

  std::atomic<uint64_t> xfers_{0}, faults_{0};
  std::atomic<bool> running_{false};
  std::mutex thread_lock_;  // guards thread_ (start/stop); docs/architecture.md "Locks"
  std::thread thread_;
};

}  // namespace modiommu::hw
