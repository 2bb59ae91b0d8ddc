// sgdma: an out-of-tree driver module, built only against an installed
// modiommu (docs/writing-a-driver.md). It drives the DMA test device
// ("modiommu,dmatest") with scatter-gather buffers: pages scattered in
// physical memory become one contiguous range of device addresses when an
// IOMMU translates for the device, so the device moves the whole buffer in
// one transfer; without an IOMMU it takes one transfer per page. Every
// transfer is verified against the device's checksum of what it moved.
//
// Locking: each device's Endpoint has one mutex, held for a whole transfer,
// so a device runs one transfer at a time. The driver core orders remove()
// after any endpoint call in progress.
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "core/driver.h"
#include "kernel/driver_context.h"
#include "module/module.h"
#include "uapi/dmatest.h"

namespace sgdma {
namespace {

using namespace modiommu;
using iommu::DmaDirection;
using iommu::ScatterEntry;

using namespace uapi::dmatest;  // the device's registers (installed with the driver API)
constexpr size_t kPage = 4096;

class Endpoint : public DmaEndpoint {
 public:
  Endpoint(DriverContext& ctx, Device& dev, IoMem regs, size_t bufsize)
      : ctx_(ctx), dev_(dev), regs_(regs), bufsize_(bufsize) {}
  ~Endpoint() override {
    for (const auto& e : pages_) (void)ctx_.pages().free(e.pa);
  }

  Status transfer(DmaXfer dir, size_t bytes) override {
    std::lock_guard g(lock_);
    if (bytes == 0 || bytes > bufsize_ || bytes % kPage)
      return make_error(Errc::inval, fmt::format("{}: sgdma moves whole pages, 4096..{} bytes", dev_.name(), bufsize_));
    std::vector<ScatterEntry> sg = TRY(scatter(bytes / kPage));
    const auto ddir = dir == DmaXfer::write ? DmaDirection::from_device : DmaDirection::to_device;
    std::vector<uint8_t> data(bytes);
    if (dir == DmaXfer::read) {
      for (auto& b : data) b = static_cast<uint8_t>(rng_());
      for (size_t i = 0; i < sg.size(); ++i) TRY(ctx_.ram().write(sg[i].pa, &data[i * kPage], kPage));
    }
    TRY(ctx_.dma().map_sg(dev_, sg, ddir));
    Status s = dir == DmaXfer::write ? device_writes(sg, data) : device_reads(sg, data);
    Status u = ctx_.dma().unmap_sg(dev_, sg, ddir);
    if (s.ok()) ++stats_.transfers;
    return s.ok() ? u : s;
  }

  // Continuous DMA is the in-tree dmatest driver's job; this example stays small.
  Status start(DmaXfer, size_t) override {
    return make_error(Errc::notsup, dev_.name() + ": sgdma does single transfers only");
  }
  Status stop() override { return {}; }
  bool running() const override { return false; }
  DmaEndpointStats stats() const override {
    std::lock_guard g(lock_);
    return stats_;
  }

 private:
  // n pages, listed in the reverse of their physical order so that the
  // list is scattered whatever the page allocator hands out.
  Result<std::vector<ScatterEntry>> scatter(size_t n) {
    while (pages_.size() < n) pages_.push_back({TRY(ctx_.pages().alloc(kPage)), kPage, 0});
    std::vector<ScatterEntry> sg(pages_.rbegin() + static_cast<long>(pages_.size() - n), pages_.rend());
    return sg;
  }

  // Runs (addr, len) once per run of contiguous device addresses: one run
  // behind an IOMMU, one per page without one.
  template <class Fn>
  Status for_each_run(const std::vector<ScatterEntry>& sg, Fn fn) {
    size_t first = 0;
    for (size_t i = 1; i <= sg.size(); ++i) {
      if (i < sg.size() && sg[i].dma == sg[i - 1].dma + kPage) continue;
      TRY(fn(first, i - first));
      first = i;
    }
    return {};
  }

  Status device_writes(const std::vector<ScatterEntry>& sg, std::vector<uint8_t>& data) {
    return for_each_run(sg, [&](size_t first, size_t n) -> Status {
      regs_.writeq(kRegPattern, rng_());
      regs_.writeq(kRegDst, sg[first].dma);
      TRY(go(kDirBufToMem, n));
      // The CPU reads what the device wrote: ownership back first.
      ctx_.dma().sync_for_cpu(dev_, sg[first].dma, n * kPage, DmaDirection::from_device);
      std::vector<uint8_t> got(n * kPage);
      for (size_t i = 0; i < n; ++i) TRY(ctx_.ram().read(sg[first + i].pa, &got[i * kPage], kPage));
      std::memcpy(&data[first * kPage], got.data(), got.size());
      return verify(got);
    });
  }

  Status device_reads(const std::vector<ScatterEntry>& sg, const std::vector<uint8_t>& data) {
    return for_each_run(sg, [&](size_t first, size_t n) -> Status {
      regs_.writeq(kRegSrc, sg[first].dma);
      TRY(go(kDirMemToBuf, n));
      return verify(std::vector<uint8_t>(data.begin() + static_cast<long>(first * kPage),
                                         data.begin() + static_cast<long>((first + n) * kPage)));
    });
  }

  Status go(uint32_t dir, size_t pages) {
    regs_.writel(kRegLen, static_cast<uint32_t>(pages * kPage));
    regs_.writel(kRegDir, dir);
    regs_.writel(kRegStatus, kStatusDone | kStatusFault | kStatusBadProg);
    regs_.writel(kRegCtrl, kCtrlGo);  // the device completes before the write returns
    const uint32_t st = regs_.readl(kRegStatus);
    if (st & kStatusFault) {
      ++stats_.faults;
      return make_error(Errc::io, fmt::format("{}: DMA fault at {:#x}", dev_.name(), regs_.readq(kRegFaultAddr)));
    }
    if (st & kStatusBadProg) return make_error(Errc::inval, dev_.name() + ": the device rejected the program");
    if (!(st & kStatusDone) || (st & kStatusBusy)) return make_error(Errc::io, dev_.name() + ": no completion");
    return {};
  }

  Status verify(const std::vector<uint8_t>& mem) {
    const uint64_t want = regs_.readq(kRegChecksum), got = checksum(mem.data(), mem.size());
    if (want == got) return {};
    ++stats_.corruptions;
    return make_error(Errc::io, fmt::format("{}: data corrupted: device {:#x}, memory {:#x}", dev_.name(), want, got));
  }

  DriverContext& ctx_;
  Device& dev_;
  IoMem regs_;
  const size_t bufsize_;
  mutable std::mutex lock_;  // one transfer at a time; guards what follows
  std::vector<ScatterEntry> pages_;  // allocated on first use, freed with the endpoint
  DmaEndpointStats stats_;
  std::mt19937_64 rng_{0x5c47};
};

class SgDmaDriver : public Driver {
 public:
  SgDmaDriver(DriverContext& ctx, Module& m) : ctx_(ctx) {
    name = "sgdma";
    bus = &ctx.platform_bus();
    of_match = {"modiommu,dmatest"};
    owner = &m;
  }

  // Called with the device's IOMMU (if any) already attached: the IOMMU
  // core defers the probe until the IOMMU's driver is bound, so the first
  // map_sg already goes through it.
  Status probe(Device& dev) override {
    IoMem regs = TRY(ctx_.ioremap(dev, 0));
    if (regs.readl(kRegId) != kId)
      return make_error(Errc::nodev, fmt::format("{}: not a DMA test device (ID {:#x})", dev.name(), regs.readl(kRegId)));
    const size_t bufsize = regs.readl(kRegBufSize);
    if (bufsize < kPage) return make_error(Errc::nodev, dev.name() + ": device buffer smaller than a page");
    dev.dma_mask = ~uint64_t{0};
    auto ep = std::make_shared<Endpoint>(ctx_, dev, regs, bufsize);
    dev.set_drvdata(ep);  // devres-like: released by the core after remove()
    ctx_.register_endpoint(dev, ep.get(), owner);
    ctx_.log().info(dev.name(), "sgdma: {} KiB device buffer", bufsize / 1024);
    return {};
  }

  void remove(Device& dev) override { ctx_.unregister_endpoint(dev); }

 private:
  DriverContext& ctx_;
};

Status sgdma_init(DriverContext& ctx, Module& m) {
  auto drv = std::make_unique<SgDmaDriver>(ctx, m);
  TRY(ctx.core().register_driver(drv.get()));
  m.set_private(drv.release());
  return {};
}

void sgdma_exit(DriverContext& ctx, Module& m) {
  auto* drv = static_cast<SgDmaDriver*>(m.private_data());
  if (!drv) return;
  ctx.core().unregister_driver(drv);
  m.set_private(nullptr);
  delete drv;
}

}  // namespace
}  // namespace sgdma

MODIOMMU_MODULE(sgdma, .version = "0.1", .license = "GPL-2.0",
                .description = "Example out-of-tree driver: scatter-gather DMA on the DMA test device",
                .aliases = {"of:modiommu,dmatest"}, .init = sgdma::sgdma_init, .exit = sgdma::sgdma_exit);
