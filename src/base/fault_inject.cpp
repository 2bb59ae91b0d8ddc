#include "base/fault_inject.h"

#include <atomic>
#include <map>
#include <mutex>

namespace modiommu {
namespace {

struct Arming {
  uint64_t skip = 0;
  uint64_t count = 0;
  uint64_t fired = 0;
  uint64_t total = 0;  // over every arming
};

struct Table {
  std::mutex lock;  // guards points; docs/architecture.md "Locks"
  std::map<std::string, Arming, std::less<>> points;
  std::atomic<uint64_t> armed{0};  // points with count > 0: the fast path's test
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

const std::vector<FaultPointInfo>& FaultInjection::known() {
  static const std::vector<FaultPointInfo> k = {
      {"module.init", "a module's init fails (as if its probe-time setup returned an error)"},
      {"module.unload", "rmmod is refused: the module fails to unload (EBUSY)"},
      {"mm.alloc", "the page allocator is exhausted (ENOMEM), page tables included"},
      {"mmio.read.all_ones", "an MMIO read returns all-ones: the device is gone"},
      {"smmuv3.probe", "the arm-smmu-v3 driver's probe fails before touching the hardware"},
      {"smmuv3.cmdq.stall", "the SMMUv3 model stops consuming its command queue (CMD_SYNC times out)"},
      {"smmuv3.evtq.overflow", "the SMMUv3 model's event queue overflows (events are lost, OVF toggles)"},
      {"dmatest.probe", "the dmatest driver's probe fails"},
      // Not a fault a system can survive: the checker's own test arms it to
      // prove the simulator catches a broken unload order.
      {"iommu.skip_consumer_unbind", "BUG: the IOMMU core lets consumers stay bound across their IOMMU's unregistration"},
      {"core.skip_unbound_kick", "BUG: a device no driver took does not tell its waiters, who stay deferred for nothing"},
  };
  return k;
}

bool fault_point(std::string_view name) {
  Table& t = table();
  if (t.armed.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard g(t.lock);
  auto it = t.points.find(name);
  if (it == t.points.end() || it->second.count == 0) return false;
  Arming& a = it->second;
  if (a.skip > 0) {
    --a.skip;
    return false;
  }
  --a.count;
  ++a.fired;
  ++a.total;
  if (a.count == 0) t.armed.fetch_sub(1, std::memory_order_acq_rel);
  return true;
}

Status FaultInjection::arm(std::string_view name, uint64_t count, uint64_t skip) {
  bool ok = false;
  for (const auto& k : known()) ok = ok || k.name == name;
  if (!ok) return make_error(Errc::noent, "no fault point named '" + std::string(name) + "' (inject with no argument lists them)");
  Table& t = table();
  std::lock_guard g(t.lock);
  Arming& a = t.points[std::string(name)];
  if (a.count > 0) t.armed.fetch_sub(1, std::memory_order_acq_rel);
  a = Arming{skip, count, 0, a.total};
  if (count > 0) t.armed.fetch_add(1, std::memory_order_acq_rel);
  return {};
}

void FaultInjection::disarm(std::string_view name) {
  Table& t = table();
  std::lock_guard g(t.lock);
  auto it = t.points.find(name);
  if (it == t.points.end()) return;
  if (it->second.count > 0) t.armed.fetch_sub(1, std::memory_order_acq_rel);
  it->second.count = 0;
  it->second.skip = 0;
}

void FaultInjection::disarm_all() {
  Table& t = table();
  std::lock_guard g(t.lock);
  for (auto& [n, a] : t.points) {
    a.count = 0;
    a.skip = 0;
  }
  t.armed.store(0, std::memory_order_release);
}

uint64_t FaultInjection::fired(std::string_view name) {
  Table& t = table();
  std::lock_guard g(t.lock);
  auto it = t.points.find(name);
  return it == t.points.end() ? 0 : it->second.fired;
}

uint64_t FaultInjection::total_fired(std::string_view name) {
  Table& t = table();
  std::lock_guard g(t.lock);
  auto it = t.points.find(name);
  return it == t.points.end() ? 0 : it->second.total;
}

uint64_t FaultInjection::pending(std::string_view name) {
  Table& t = table();
  std::lock_guard g(t.lock);
  auto it = t.points.find(name);
  return it == t.points.end() ? 0 : it->second.count;
}

}  // namespace modiommu
