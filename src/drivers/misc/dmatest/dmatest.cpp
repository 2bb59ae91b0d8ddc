// The DMA test endpoint driver ("modiommu,dmatest"): moves data with the
// device through the DMA API and verifies it end to end, so a scenario can
// show that DMA works, faults, and never escapes the IOMMU. A module.
//
// Locking: each device's Endpoint has a mutex held for a whole transfer or
// start/stop, so one device runs one program at a time. The driver core
// lock is held by callers (the endpoint registry, probe, remove), which also
// orders remove() after any call in progress.
#include <cstring>
#include <memory>
#include <mutex>
#include <random>

#include "base/fault_inject.h"
#include "core/driver.h"
#include "kernel/driver_context.h"
#include "module/module.h"
#include "uapi/dmatest.h"

namespace modiommu {
namespace {

using namespace uapi::dmatest;  // the device's registers, shared with its model

class Endpoint : public DmaEndpoint {
 public:
  Endpoint(DriverContext& ctx, Device& dev, IoMem regs, size_t bufsize) : ctx_(ctx), dev_(dev), regs_(regs) { buf_.size = bufsize; }
  ~Endpoint() override {
    (void)stop();
    if (have_buf_) (void)ctx_.pages().free(buf_.pa);
  }

  Status transfer(DmaXfer dir, size_t bytes) override {
    std::lock_guard g(lock_);
    if (running_) return make_error(Errc::busy, dev_.name() + ": continuous DMA is running (dma-stop first)");
    TRY(check_len(bytes));
    TRY(ensure_buffer());
    return dir == DmaXfer::write ? do_write(bytes) : do_read(bytes);
  }

  Status start(DmaXfer dir, size_t bytes) override {
    std::lock_guard g(lock_);
    if (running_) return make_error(Errc::busy, dev_.name() + ": continuous DMA already running");
    TRY(check_len(bytes));
    TRY(ensure_buffer());
    const auto ddir = dir == DmaXfer::write ? iommu::DmaDirection::from_device : iommu::DmaDirection::to_device;
    const uint64_t iova = TRY(ctx_.dma().map_single(dev_, buf_.pa, bytes, ddir));
    if (dir == DmaXfer::write) {
      seed_ = next_seed();
      regs_.writeq(kRegPattern, seed_);
      regs_.writeq(kRegDst, iova);
      regs_.writel(kRegDir, kDirBufToMem);
    } else {
      TRY(fill_random(bytes));
      regs_.writeq(kRegSrc, iova);
      regs_.writel(kRegDir, kDirMemToBuf);
    }
    regs_.writel(kRegLen, static_cast<uint32_t>(bytes));
    regs_.writel(kRegStatus, kStatusDone | kStatusFault | kStatusBadProg);
    xfers_before_ = regs_.readq(kRegXferCount);
    regs_.writel(kRegCtrl, kCtrlContinuous);
    running_ = true;
    run_ = {dir, bytes, iova};
    return {};
  }

  // Clearing CONTINUOUS stops the device's thread and waits for it: when
  // the write returns no transfer is in flight, so unmapping is safe.
  Status stop() override {
    std::lock_guard g(lock_);
    if (!running_) return {};
    regs_.writel(kRegCtrl, 0);
    running_ = false;
    const uint32_t st = regs_.readl(kRegStatus);
    const uint64_t done = regs_.readq(kRegXferCount) - xfers_before_;
    const auto ddir = run_.dir == DmaXfer::write ? iommu::DmaDirection::from_device : iommu::DmaDirection::to_device;
    Status verify;
    if (st & kStatusFault) {
      ++stats_.faults;
      verify = make_error(Errc::io, fmt::format("{}: continuous DMA faulted at iova {:#x} after {} transfers",
                                                dev_.name(), regs_.readq(kRegFaultAddr), done));
    } else if (done > 0) {
      verify = verify_transfer(run_.dir, run_.bytes);
    }
    if (verify.ok()) stats_.transfers += done;
    Status u = ctx_.dma().unmap_single(dev_, run_.iova, run_.bytes, ddir);
    return verify.ok() ? u : verify;
  }

  bool running() const override {
    std::lock_guard g(lock_);
    return running_;
  }
  DmaEndpointStats stats() const override {
    std::lock_guard g(lock_);
    return stats_;
  }

 private:
  struct Run {
    DmaXfer dir = DmaXfer::write;
    size_t bytes = 0;
    uint64_t iova = 0;
  };

  Status check_len(size_t bytes) const {
    if (bytes == 0 || bytes > buf_.size)
      return make_error(Errc::inval, fmt::format("{}: transfer size {} must be 1..{} bytes", dev_.name(), bytes, buf_.size));
    return {};
  }

  // The DMA buffer is allocated on the first transfer (lock_ held): a
  // master that never moves data costs no memory.
  Status ensure_buffer() {
    if (have_buf_) return {};
    buf_.pa = TRY(ctx_.pages().alloc(buf_.size));
    have_buf_ = true;
    return {};
  }

  uint64_t next_seed() { return rng_(); }

  Status fill_random(size_t bytes) {
    std::vector<uint8_t> data(bytes);
    for (auto& b : data) b = static_cast<uint8_t>(rng_());
    return ctx_.ram().write(buf_.pa, data.data(), bytes);
  }

  // Runs the programmed single transfer and reports faults.
  Status go(uint64_t iova) {
    regs_.writel(kRegStatus, kStatusDone | kStatusFault | kStatusBadProg);
    regs_.writel(kRegCtrl, kCtrlGo);  // synchronous in this device
    const uint32_t st = regs_.readl(kRegStatus);
    if (st & kStatusFault) {
      ++stats_.faults;
      return make_error(Errc::io, fmt::format("{}: DMA fault at iova {:#x} (mapped at {:#x})", dev_.name(),
                                              regs_.readq(kRegFaultAddr), iova));
    }
    if (st & kStatusBadProg) return make_error(Errc::inval, dev_.name() + ": device rejected the program");
    if (!(st & kStatusDone) || (st & kStatusBusy)) return make_error(Errc::io, dev_.name() + ": transfer did not complete");
    return {};
  }

  // The device's checksum of its buffer must equal the CPU's checksum of
  // the memory the transfer touched.
  Status verify_transfer(DmaXfer, size_t bytes) {
    std::vector<uint8_t> mem(bytes);
    TRY(ctx_.ram().read(buf_.pa, mem.data(), bytes));
    const uint64_t want = regs_.readq(kRegChecksum);
    const uint64_t got = checksum(mem.data(), bytes);
    if (want != got) {
      ++stats_.corruptions;
      return make_error(Errc::io, fmt::format("{}: data corrupted: device checksum {:#x}, memory {:#x}", dev_.name(), want, got));
    }
    return {};
  }

  Status do_write(size_t bytes) {
    TRY(ctx_.ram().fill(buf_.pa, 0, bytes));
    const uint64_t iova = TRY(ctx_.dma().map_single(dev_, buf_.pa, bytes, iommu::DmaDirection::from_device));
    regs_.writeq(kRegPattern, next_seed());
    regs_.writeq(kRegDst, iova);
    regs_.writel(kRegLen, static_cast<uint32_t>(bytes));
    regs_.writel(kRegDir, kDirBufToMem);
    Status s = go(iova);
    Status u = ctx_.dma().unmap_single(dev_, iova, bytes, iommu::DmaDirection::from_device);
    if (s.ok()) s = verify_transfer(DmaXfer::write, bytes);
    if (s.ok()) ++stats_.transfers;
    return s.ok() ? u : s;
  }

  Status do_read(size_t bytes) {
    TRY(fill_random(bytes));
    const uint64_t iova = TRY(ctx_.dma().map_single(dev_, buf_.pa, bytes, iommu::DmaDirection::to_device));
    regs_.writeq(kRegSrc, iova);
    regs_.writel(kRegLen, static_cast<uint32_t>(bytes));
    regs_.writel(kRegDir, kDirMemToBuf);
    Status s = go(iova);
    Status u = ctx_.dma().unmap_single(dev_, iova, bytes, iommu::DmaDirection::to_device);
    if (s.ok()) s = verify_transfer(DmaXfer::read, bytes);
    if (s.ok()) ++stats_.transfers;
    return s.ok() ? u : s;
  }

  DriverContext& ctx_;
  Device& dev_;
  IoMem regs_;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  PhysAddrBuf buf_;  // pa valid once have_buf_
  bool have_buf_ = false;
  bool running_ = false;
  Run run_;
  uint64_t xfers_before_ = 0;
  uint64_t seed_ = 0;
  DmaEndpointStats stats_;
  std::mt19937_64 rng_{0x5eed};
};

class DmaTestDriver : public Driver {
 public:
  // The same device model sits on the platform bus and, as a PCI function
  // (1234:11e5, INTERFACE.md modiommu,dmatest-pci), on the PCI bus.
  DmaTestDriver(DriverContext& ctx, Module& m, bool pci) : ctx_(ctx) {
    name = pci ? "dmatest-pci" : "dmatest";
    bus = pci ? static_cast<Bus*>(&ctx.pci().bus()) : &ctx.platform_bus();
    of_match = {pci ? "pci1234,11e5" : "modiommu,dmatest"};
    owner = &m;
  }

  Status probe(Device& dev) override {
    if (fault_point("dmatest.probe")) return make_error(Errc::nomem, dev.name() + ": injected fault dmatest.probe");
    IoMem regs = TRY(ctx_.ioremap(dev, 0));
    if (regs.readl(kRegId) != kId)
      return make_error(Errc::nodev, fmt::format("{}: no DMA test device at {:#x} (ID {:#x})", dev.name(), regs.base(),
                                                 regs.readl(kRegId)));
    const size_t bufsize = regs.readl(kRegBufSize);
    if (bufsize == 0) return make_error(Errc::nodev, dev.name() + ": device reports a 0-byte buffer");
    dev.dma_mask = ~uint64_t{0};
    auto ep = std::make_shared<Endpoint>(ctx_, dev, regs, bufsize);
    dev.set_drvdata(ep);
    ctx_.register_endpoint(dev, ep.get(), owner);
    return {};
  }

  // Stops the device's DMA before anything it uses goes away.
  void remove(Device& dev) override {
    ctx_.unregister_endpoint(dev);
    if (auto* ep = dev.drvdata<Endpoint>()) {
      const bool was_running = ep->running();
      Status s = ep->stop();
      if (!s.ok()) ctx_.log().warn(dev.name(), "stopping DMA on remove: {}", s.error().message);
      else if (was_running)
        ctx_.log().info(dev.name(), "continuous DMA stopped and drained: {} transfers verified", ep->stats().transfers);
    }
  }

 private:
  DriverContext& ctx_;
};

struct Drivers {
  std::unique_ptr<DmaTestDriver> platform, pci;
};

Status dmatest_init(DriverContext& ctx, Module& m) {
  auto drvs = std::make_unique<Drivers>();
  drvs->platform = std::make_unique<DmaTestDriver>(ctx, m, false);
  drvs->pci = std::make_unique<DmaTestDriver>(ctx, m, true);
  TRY(ctx.core().register_driver(drvs->platform.get()));
  Status s = ctx.core().register_driver(drvs->pci.get());
  if (!s.ok()) {
    ctx.core().unregister_driver(drvs->platform.get());
    return s;
  }
  m.set_private(drvs.release());
  return {};
}

void dmatest_exit(DriverContext& ctx, Module& m) {
  auto* drvs = static_cast<Drivers*>(m.private_data());
  if (!drvs) return;
  ctx.core().unregister_driver(drvs->pci.get());
  ctx.core().unregister_driver(drvs->platform.get());
  m.set_private(nullptr);
  delete drvs;
}

}  // namespace
}  // namespace modiommu

MODIOMMU_MODULE(dmatest, .version = "1.0", .license = "GPL-2.0",
                .description = "DMA test endpoint: verified transfers through the DMA API",
                .aliases = {"of:modiommu,dmatest", "pci:v00001234d000011E5*"}, .init = modiommu::dmatest_init, .exit = modiommu::dmatest_exit);
