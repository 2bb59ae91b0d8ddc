#include "dsim/inflight.h"
#include "sim/harness.h"

#include <vector>

#include <fmt/format.h>

#include "hw/dmatest.h"

namespace modiommu::dsim {
namespace {

constexpr size_t kPage = 4096;

std::mutex& registry_lock() {
  static std::mutex m;  // docs/architecture.md "Locks"
  return m;
}
// Kernel -> its table. Weak: the table lives as long as the hook installed
// in that kernel's driver core, i.e. as long as the kernel.
std::map<const Kernel*, std::weak_ptr<InFlightTable>>& registry() {
  static std::map<const Kernel*, std::weak_ptr<InFlightTable>> r;
  return r;
}

iommu::DmaDirection api_dir(DmaXfer d) {
  return d == DmaXfer::write ? iommu::DmaDirection::from_device : iommu::DmaDirection::to_device;
}

hw::UpstreamPort* port_of(Kernel& k, const Device& dev) {
  bool described = false;
  return sim::dma_port(k, dev, &described);  // platform and PCI masters alike
}

}  // namespace

std::shared_ptr<InFlightTable> InFlightTable::of(Kernel& k) {
  std::lock_guard g(registry_lock());
  auto& reg = registry();
  if (auto it = reg.find(&k); it != reg.end())
    if (auto t = it->second.lock()) return t;
  // Kernels gone since: forget them (a new kernel may reuse an address).
  std::erase_if(reg, [](const auto& e) { return e.second.expired(); });
  auto& slot = reg[&k];
  std::shared_ptr<InFlightTable> t(new InFlightTable(k));
  // Chain in front of the IOMMU core's post_remove (dma_cleanup): the
  // transfer is cut while its mapping still exists, as a driver's remove()
  // would stop it.
  auto old = k.core().hooks().post_remove;
  k.core().hooks().post_remove = [t, old](Device& d) {
    t->quiesce(d);
    if (old) old(d);
  };
  slot = t;
  return t;
}

Status InFlightTable::begin(Device& dev, DmaXfer dir, size_t bytes) {
  return k_.core().exclusive([&] { return begin_bound(dev, dir, bytes); });
}

Status InFlightTable::begin_bound(Device& dev, DmaXfer dir, size_t bytes) {
  std::lock_guard g(lock_);
  if (xfers_.count(&dev)) return make_error(Errc::busy, dev.name() + ": a transfer is already in flight (dma-end first)");
  if (bytes == 0 || bytes > (size_t{1} << 20))
    return make_error(Errc::inval, fmt::format("{}: in-flight transfer size {} must be 1..1M bytes", dev.name(), bytes));
  if (dev.state() != DeviceState::bound) return make_error(Errc::nodev, dev.name() + " is not bound: no driver to map its DMA");
  if (!port_of(k_, dev)) return make_error(Errc::nodev, dev.name() + " is not a modelled DMA master");
  Xfer x;
  x.dir = dir;
  x.bytes = bytes;
  x.seed = next_seed_++;
  x.pa = TRY(k_.pages().alloc(bytes));
  if (dir == DmaXfer::read) {
    // Memory holds the pattern the device must read back.
    std::vector<uint8_t> data(bytes);
    hw::DmaTest::pattern_fill(x.seed, data.data(), bytes);
    Status s = k_.machine().memory().write(x.pa, data.data(), bytes);
    if (!s.ok()) {
      (void)k_.pages().free(x.pa);
      return s;
    }
  }
  auto iova = k_.dma().map_single(dev, x.pa, bytes, api_dir(dir));
  if (!iova.ok()) {
    (void)k_.pages().free(x.pa);
    return std::move(iova).error();
  }
  x.iova = *iova;
  xfers_[&dev] = x;
  ++stats_.begun;
  return {};
}

Status InFlightTable::step(Device& dev) {
  std::lock_guard g(lock_);
  auto it = xfers_.find(&dev);
  if (it == xfers_.end()) return make_error(Errc::noent, dev.name() + ": no transfer in flight (dma-begin first)");
  Xfer& x = it->second;
  if (x.faulted || x.done >= x.bytes) return {};  // the device has stopped; dma-end collects it
  hw::UpstreamPort* port = port_of(k_, dev);
  if (!port) return make_error(Errc::nodev, dev.name() + " is not a modelled DMA master");
  const size_t n = std::min(kPage, x.bytes - x.done);
  std::vector<uint8_t> want(x.bytes);
  hw::DmaTest::pattern_fill(x.seed, want.data(), x.bytes);
  hw::DmaFault f;
  Status s;
  if (x.dir == DmaXfer::write) {
    s = port->write(x.iova + x.done, want.data() + x.done, n, &f);
  } else {
    std::vector<uint8_t> got(n);
    s = port->read(x.iova + x.done, got.data(), n, &f);
    if (s.ok() && !std::equal(got.begin(), got.end(), want.begin() + static_cast<ptrdiff_t>(x.done))) {
      ++stats_.corruptions;
      k_.log().err(dev.name(), "in-flight DMA read wrong data at offset {} (iova {:#x})", x.done, x.iova + x.done);
    }
  }
  if (!s.ok()) {
    x.faulted = true;
    ++stats_.faulted;
    k_.log().info(dev.name(), "in-flight DMA aborted at iova {:#x} after {} of {} bytes", f.iova, x.done, x.bytes);
    return {};  // a fault is an outcome, not a failed step
  }
  x.done += n;
  ++stats_.pages;
  return {};
}

Status InFlightTable::end(Device& dev) {
  return k_.core().exclusive([&] { return end_bound(dev); });
}

Status InFlightTable::end_bound(Device& dev) {
  std::lock_guard g(lock_);
  auto it = xfers_.find(&dev);
  if (it == xfers_.end()) return make_error(Errc::noent, dev.name() + ": no transfer in flight (dma-begin first)");
  const bool faulted = it->second.faulted, complete = it->second.done == it->second.bytes;
  finish(dev, it->second, true, complete ? "completed" : "ended early");
  xfers_.erase(it);
  if (faulted) return make_error(Errc::io, dev.name() + ": the in-flight transfer faulted");
  return {};
}

void InFlightTable::finish(Device& dev, Xfer& x, bool unmap, const char* why) {
  if (x.dir == DmaXfer::write && x.done > 0) {
    // Every page the device wrote must be in the buffer, nowhere else.
    std::vector<uint8_t> want(x.bytes), got(x.done);
    hw::DmaTest::pattern_fill(x.seed, want.data(), x.bytes);
    Status r = k_.machine().memory().read(x.pa, got.data(), x.done);
    if (!r.ok() || !std::equal(got.begin(), got.end(), want.begin())) {
      ++stats_.corruptions;
      k_.log().err(dev.name(), "in-flight DMA data corrupted: the buffer does not hold what the device wrote");
    }
  }
  if (unmap) {
    Status u = k_.dma().unmap_single(dev, x.iova, x.bytes, api_dir(x.dir));
    if (!u.ok()) k_.log().warn(dev.name(), "in-flight DMA unmap: {}", u.error().message);
  }
  (void)k_.pages().free(x.pa);
  if (x.done == x.bytes && !x.faulted) ++stats_.completed;
  k_.log().info(dev.name(), "in-flight DMA {}: {} of {} bytes moved{}", why, x.done, x.bytes, x.faulted ? ", faulted" : "");
}

void InFlightTable::quiesce(Device& dev) {
  std::lock_guard g(lock_);
  auto it = xfers_.find(&dev);
  if (it == xfers_.end()) return;
  ++stats_.cut;
  finish(dev, it->second, true, "cut by unbind");
  xfers_.erase(it);
}

bool InFlightTable::in_flight(const Device& dev) const {
  std::lock_guard g(lock_);
  return xfers_.count(&dev) != 0;
}

bool InFlightTable::finished(const Device& dev) const {
  std::lock_guard g(lock_);
  auto it = xfers_.find(&dev);
  return it != xfers_.end() && (it->second.faulted || it->second.done >= it->second.bytes);
}

std::string InFlightTable::describe(const Device& dev) const {
  std::lock_guard g(lock_);
  auto it = xfers_.find(&dev);
  if (it == xfers_.end()) return "";
  return fmt::format("{}/{}{}", it->second.done, it->second.bytes, it->second.faulted ? "F" : "");
}

InFlightStats InFlightTable::stats() const {
  std::lock_guard g(lock_);
  return stats_;
}

}  // namespace modiommu::dsim
