// The virtio-iommu driver's internal types (struct viommu_dev,
// viommu_endpoint, viommu_domain in Linux drivers/iommu/virtio-iommu.c).
// Nothing here is exported: the driver is reached only through the
// VirtioDriver and the IommuOps it registers. It talks to the device only
// through the virtio core (virtqueues, config space): virtio 1.2 5.13.
//
// Lock order (outer first), for every file of the driver:
//   VIommu::attach_lock_   masters_, each Master::domain, each domain's
//                          endpoint set (attach, release, domain teardown).
//   VIommuDomain::lock_    a domain's shadow mappings, endpoint count and
//                          reserved regions; held across the MAP/UNMAP/
//                          ATTACH requests that change them, so the shadow
//                          and the device never disagree. Two domain locks
//                          are only taken together through std::scoped_lock.
//   VIommu::req_lock_      the request queue and the request buffer (leaf,
//                          apart from the virtio core's queue lock).
//   VIommu::evt_lock_      the event queue (independent of the above; taken
//                          by the interrupt path and released before faults
//                          are reported to the IOMMU core).
//   VIommu::id_lock_       the domain ID allocator (leaf).
// DMA threads never take a driver lock on the translation path; they only
// enter the event handler through the transport's interrupt.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "drivers/virtio/virtio.h"
#include "iommu/iommu.h"
#include "uapi/virtio_iommu.h"

namespace modiommu {
class DriverContext;
class Device;
class CodeOwner;
class Log;
}  // namespace modiommu

namespace modiommu::virtio_iommu {

namespace uv = uapi::viommu;

class VIommu;
class VIommuDomain;

// Requests wait this many polls of the used ring (yielding between them)
// for a device that does not complete inside the notify: a dead device is
// an error, not a hang.
inline constexpr unsigned kRequestPolls = 2000000;
// Fault buffers posted on the event queue (5.13.6.9), at most the queue size.
inline constexpr unsigned kEventBuffers = 64;
// A device's probe_size above this is refused (it sizes our buffer).
inline constexpr uint32_t kMaxProbeSize = 64 * 1024;
// The request buffer: head + body at 0, the device-writable part (probe
// properties, tail) from here on (after the largest head + body, PROBE's).
inline constexpr uint64_t kReqInOffset = 128;
static_assert(sizeof(uapi::viommu::ReqHead) + sizeof(uapi::viommu::ProbeBody) <= kReqInOffset);

// The device's configuration (5.13.4), with the defaults 5.13.4 gives
// when INPUT_RANGE / DOMAIN_RANGE are not offered.
struct DevConfig {
  uint64_t page_size_mask = 0;
  uint64_t input_start = 0, input_end = ~uint64_t{0};
  uint32_t domain_start = 0, domain_end = ~uint32_t{0};
  uint32_t probe_size = 0;  // 0: no PROBE requests
  bool bypass_config = false, legacy_bypass = false, mmio = false;
};

// One RESV_MEM property (5.13.6.8.2), end inclusive.
struct ResvRegion {
  uint8_t subtype = 0;
  uint64_t start = 0, end = 0;
};

// A consumer (viommu_endpoint): its endpoint IDs, reserved regions, domain.
struct Master {
  Device* dev = nullptr;
  std::vector<uint32_t> ids;
  std::vector<ResvRegion> resv;
  VIommuDomain* domain = nullptr;  // VIommu::attach_lock_
  uint64_t seq = 0;                // its key in VIommu::masters_ (probe order)
};

// The text of a request status (5.13.6), and it as an error.
const char* status_name(uint8_t status);
Errc status_errc(uint8_t status);
const char* request_name(uint8_t type);

class VIommuDomain : public iommu::IommuDomain {
 public:
  VIommuDomain(iommu::DomainType t, std::shared_ptr<VIommu> v, uint32_t id);
  ~VIommuDomain() override;

  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override;
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& gather) override;
  // Requests complete synchronously: when UNMAP's status is back the device
  // no longer translates the range (5.13.6.6), so there is nothing to sync.
  void iotlb_sync(iommu::IotlbGather& gather) override;
  void flush_iotlb_all() override;
  Result<uint64_t> iova_to_phys(uint64_t iova) const override;

  uint32_t id() const { return id_; }
  const VIommu* viommu() const { return v_.get(); }
  size_t mappings() const;

 private:
  friend class VIommu;
  struct Mapping {
    uint64_t end = 0;  // inclusive
    uint64_t pa = 0;
    uint32_t flags = 0;
  };
  // MAP of every shadow mapping: the first ATTACH created the domain on the
  // device empty (5.13.6.3). lock_ held.
  Status replay_locked();

  std::shared_ptr<VIommu> v_;
  const uint32_t id_;
  mutable std::mutex lock_;            // see the lock order at the top; docs/architecture.md "Locks"
  std::map<uint64_t, Mapping> map_;    // by virt_start, non-overlapping
  unsigned nr_endpoints_ = 0;          // endpoint IDs attached on the device
  std::vector<ResvRegion> resv_;       // of the masters attached
  // The masters attached (VIommu::attach_lock_): shared-ID and reserved-
  // region questions look at these, not at every master of the IOMMU.
  std::vector<Master*> members_;
};

class VIommu : public iommu::IommuOps, public std::enable_shared_from_this<VIommu> {
 public:
  VIommu(DriverContext& ctx, virtio::VirtioDevice& vdev, CodeOwner* owner);
  ~VIommu() override;

  Status probe();
  void remove();

  // IommuOps.
  Status probe_device(Device& dev, iommu::Fwspec& fwspec) override;
  void release_device(Device& dev, iommu::Fwspec& fwspec) override;
  Result<std::unique_ptr<iommu::IommuDomain>> domain_alloc(iommu::DomainType type) override;
  Status attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) override;

  // One request, synchronously: head + `body` out, `props_len` bytes of
  // probe properties (copied to *props) and the tail in. A status other
  // than OK is an error naming the request, the status and `what`.
  Status request(uint8_t type, const void* body, size_t body_len, const std::string& what,
                 std::vector<uint8_t>* props = nullptr);

  // For domains.
  Log& log();
  const std::string& name() const { return name_; }
  const DevConfig& config() const { return cfg_; }
  bool live() const { return live_.load(std::memory_order_acquire); }
  Result<uint32_t> id_alloc();
  void id_free(uint32_t id);
  // A domain is going away: DETACH any master still in it (their traffic
  // aborts; its ID could otherwise be reused with them in it).
  void detach_all(VIommuDomain& d);
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  uint64_t events() const { return events_.load(std::memory_order_relaxed); }

 private:
  Status read_config();
  Status post_events();
  void handle_events(virtio::Virtqueue& vq);  // event queue callback (any thread)
  void stop_events();  // no handler runs or reports after this
  Status probe_endpoint(Master& m, uint32_t ep);
  // EBUSY when another master (not a PCI alias of the same group) has one of `ids`.
  Status check_ids_free(const Device& dev, const std::vector<uint32_t>& ids) const;
  Status check_ids_free_locked(const Device& dev, const std::vector<uint32_t>& ids) const;
  Status parse_probe(Master& m, uint32_t ep, const std::vector<uint8_t>& props);
  Status attach_ids(VIommuDomain& d, uint32_t flags, const std::vector<uint32_t>& ids, const std::string& who);
  Status detach_ids(VIommuDomain& d, const std::vector<uint32_t>& ids, const std::string& who);
  void rebuild_resv_locked(VIommuDomain& d);  // attach_lock_ and d.lock_ held
  // m's IDs no other master in d uses (attach_lock_ held).
  std::vector<uint32_t> unshared_ids_locked(const Master& m, const VIommuDomain& d) const;
  void free_buffers();

  DriverContext& ctx_;
  virtio::VirtioDevice& vdev_;
  CodeOwner* owner_;
  const std::string name_;
  DevConfig cfg_;
  iommu::IommuInstance inst_;
  bool registered_ = false;
  std::atomic<bool> live_{false};

  mutable std::mutex attach_lock_;  // docs/architecture.md "Locks"
  std::map<uint64_t, std::shared_ptr<Master>> masters_;  // by Master::seq
  uint64_t next_master_seq_ = 0;

  std::mutex req_lock_;  // docs/architecture.md "Locks"
  virtio::VirtioDevice::DmaBuf req_buf_;  // one request at a time
  bool req_broken_ = false;                // a request never completed: its buffer is the device's
  std::atomic<uint64_t> requests_{0};

  std::mutex evt_lock_;  // docs/architecture.md "Locks"
  std::condition_variable evt_idle_;  // evt_reporting_ dropped to 0
  bool evt_live_ = false;
  unsigned evt_reporting_ = 0;        // handlers reporting outside evt_lock_
  virtio::VirtioDevice::DmaBuf evt_buf_;
  unsigned nevt_ = 0;
  std::atomic<uint64_t> events_{0};

  std::mutex id_lock_;  // docs/architecture.md "Locks"
  std::set<uint32_t> ids_used_;
  uint32_t id_next_ = 0;
};

}  // namespace modiommu::virtio_iommu
