// DMA in flight across other actors' steps (the simulator's model of a long
// transfer): `dma-begin` maps a buffer for a bound DMA master through the
// DMA API, each `dma-step` moves one page through the master's upstream port
// (so through the IOMMU model, with escape accounting), `dma-end` unmaps and
// verifies the data. Between steps anything may happen: an rmmod of the
// IOMMU module, an unbind, a fault.
//
// A correct driver stops its DMA in remove() before the IOMMU releases the
// device, so when the device unbinds (post_remove, which runs before the
// IOMMU core's dma_cleanup) the transfer is cut there: the pages already
// moved are verified, the mapping is undone, the buffer freed. If the
// device is *not* unbound (a broken unload order), the transfer simply goes
// on, as rogue hardware would.
//
// Not thread-safe: the simulator runs everything on one thread; the table
// lock only keeps TSan quiet if a test pokes it from elsewhere.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/api.h"
#include "kernel/kernel.h"

namespace modiommu::dsim {

struct InFlightStats {
  uint64_t begun = 0, completed = 0, cut = 0, faulted = 0, pages = 0;
  uint64_t corruptions = 0;  // data that did not verify (must stay 0)
};

class MODIOMMU_API InFlightTable {
 public:
  // The table of kernel `k`, created (and hooked into its driver core) on
  // first use.
  static std::shared_ptr<InFlightTable> of(Kernel& k);

  Status begin(Device& dev, DmaXfer dir, size_t bytes);
  Status step(Device& dev);
  Status end(Device& dev);
  bool in_flight(const Device& dev) const;
  // Every page moved, or the device stopped at a fault: time for dma-end.
  bool finished(const Device& dev) const;
  // Pages moved so far / total (for traces and the observable state).
  std::string describe(const Device& dev) const;
  InFlightStats stats() const;

 private:
  struct Xfer {
    DmaXfer dir = DmaXfer::write;
    uint64_t pa = 0, iova = 0, seed = 0;
    size_t bytes = 0, done = 0;
    bool faulted = false;
  };
  explicit InFlightTable(Kernel& k) : k_(k) {}
  // Verifies what moved, unmaps (if the mapping still exists), frees.
  void finish(Device& dev, Xfer& x, bool unmap, const char* why);
  void quiesce(Device& dev);
  // begin / end with the driver model quiet (DriverCore::exclusive): the
  // device stays bound for the call.
  Status begin_bound(Device& dev, DmaXfer dir, size_t bytes);
  Status end_bound(Device& dev);

  Kernel& k_;
  mutable std::mutex lock_;  // guards xfers_, stats_; docs/architecture.md "Locks"
  std::map<const Device*, Xfer> xfers_;
  InFlightStats stats_;
  uint64_t next_seed_ = 1;
};

}  // namespace modiommu::dsim
