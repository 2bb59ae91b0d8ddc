// virtio-iommu device model (virtio 1.2 section 5.13, device ID 23), to sit
// behind a transport (VirtioMmio) and in front of DMA masters (DmaTranslator).
//
// Queues: 0 = request queue (ATTACH, DETACH, MAP, UNMAP, PROBE), 1 = event
// queue (fault reports). Domains are created by the first ATTACH and destroyed
// with their mappings when the last endpoint detaches. Each domain holds an
// interval map [virt_start, virt_end] -> phys_start with READ/WRITE/MMIO
// flags. Endpoints are the stream IDs masters present; only configured ones
// exist (others: NOENT / fault reason UNKNOWN).
//
// translate(): an attached endpoint translates through its domain's map (miss
// or missing permission: MAPPING fault); a bypass domain passes through; an
// unattached endpoint bypasses if BYPASS_CONFIG was negotiated and
// config.bypass == 1, or legacy BYPASS was negotiated; before FEATURES_OK it
// follows Options::boot_bypass; otherwise it aborts (DOMAIN fault). Faults
// are written to the next event buffer; with none available they are counted
// as lost.
//
// Locking: state_lock_ (shared_mutex) guards endpoints, domains and mappings:
// translate() takes it shared, each request takes it exclusively while it is
// applied, so a DMA sees a mapping either wholly before or wholly after a
// request. request_lock_ serialises request processing (requests complete in
// queue order). host_lock_ (shared_mutex) guards the transport pointer; a
// fault delivery pins the transport (host_pins_) and drops the lock, and
// bind() waits for pins to drop, so the transport outlives every delivery.
// No lock of this model is held while raising an interrupt, nor state_lock_
// while calling into the transport or its queues. Lock order: request_lock_
// -> transport/queue locks; transport lock -> state_lock_ (reset).
// Negotiated features and config.bypass are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/api.h"
#include "hw/dma.h"
#include "hw/memory.h"
#include "hw/virtio/virtio_device.h"
#include "hw/virtio/virtio_iommu_proto.h"

namespace modiommu::hw::virtio {

struct MODIOMMU_API VirtioIommuOptions {
  uint64_t features = viommu::kFInputRange | viommu::kFDomainRange | viommu::kFMapUnmap | viommu::kFProbe |
                      viommu::kFMmio | viommu::kFBypassConfig;
  uint64_t page_size_mask = 0xfffffffffffff000ull;  // 4 KiB granule, any multiple
  uint64_t input_start = 0, input_end = (uint64_t{1} << 48) - 1;
  uint32_t domain_start = 0, domain_end = 0xffff;
  uint32_t probe_size = 512;
  uint8_t bypass = 0;          // reset value of config.bypass
  bool boot_bypass = false;    // unattached endpoints before FEATURES_OK
  std::vector<uint32_t> endpoints;  // endpoint IDs that exist (more via add_endpoint)
  struct ResvRegion {
    uint8_t subtype = viommu::kResvMemTMsi;
    uint64_t start = 0, end = 0;  // inclusive
  };
  // Reported by PROBE for every endpoint; default: an MSI window like
  // Linux's software-MSI IOVA (0x8000000, 1 MiB).
  std::vector<ResvRegion> resv = {{viommu::kResvMemTMsi, 0x8000000, 0x80fffff}};
  size_t max_mappings = 1u << 20;  // per device: MAP beyond it gives NOMEM
  bool map_phys_must_be_ram = false;  // MAP of non-RAM without MMIO gives FAULT
  uint32_t queue_size = 256;
};

struct VirtioIommuStats {
  uint64_t requests = 0, faults_reported = 0, faults_lost = 0, bad_requests = 0, mappings = 0, domains = 0;
};

class MODIOMMU_API VirtioIommu : public VirtioDeviceModel, public DmaTranslator {
 public:
  VirtioIommu(std::string name, PhysicalMemory& mem, VirtioIommuOptions opts = {});
  ~VirtioIommu() override;

  const std::string& name() const { return name_; }
  // Declares an endpoint (a master's stream ID). Idempotent.
  void add_endpoint(uint32_t endpoint);

  // VirtioDeviceModel
  uint32_t device_id() const override { return viommu::kDeviceId; }
  uint64_t device_features() const override { return opts_.features; }
  unsigned num_queues() const override { return 2; }
  uint32_t queue_max_size(unsigned q) const override { return q < 2 ? opts_.queue_size : 0; }
  uint32_t config_size() const override { return sizeof(viommu::Config); }
  uint64_t config_read(uint64_t offset, unsigned size) override;
  void config_write(uint64_t offset, uint64_t value, unsigned size) override;
  bool set_driver_features(uint64_t features) override;
  void queue_notify(unsigned q) override;
  void reset() override;
  void bind(VirtioHost* host) override;

  // DmaTranslator
  void declare_stream(uint32_t stream_id) override { add_endpoint(stream_id); }
  TranslateOutcome translate(uint32_t stream_id, uint64_t iova, Access access) override;
  // Same answers as translate() piece by piece, under one hold of state_lock_.
  size_t translate_burst(uint32_t stream_id, uint64_t iova, uint64_t len, Access access, TranslateOutcome* out,
                         size_t max) override;

  VirtioIommuStats stats() const;
  // The domain an endpoint is attached to, or -1.
  int64_t endpoint_domain(uint32_t endpoint) const;

 private:
  struct Mapping {
    uint64_t end = 0;  // inclusive
    uint64_t pa = 0;
    uint32_t flags = 0;
  };
  struct Domain {
    bool bypass = false;
    std::map<uint64_t, Mapping> map;  // by virt_start; non-overlapping
    std::set<uint32_t> endpoints;
  };
  struct Endpoint {
    int64_t domain = -1;
  };
  // Request handlers: status codes; lock taken inside.
  uint8_t do_attach(const viommu::AttachBody& b);
  uint8_t do_detach(const viommu::DetachBody& b);
  uint8_t do_map(const viommu::MapBody& b);
  uint8_t do_unmap(const viommu::UnmapBody& b);
  uint8_t do_probe(const viommu::ProbeBody& b, std::vector<uint8_t>* props);
  void detach_locked(uint32_t ep, Endpoint& e);  // state_lock_ held exclusively
  // Pops and completes every available request; true if any was returned
  // (the caller interrupts, with request_lock_ released).
  bool process_requests(VirtioHost& host);
  // state_lock_ held (shared): the answer for one address, or false with the
  // fault reason.
  bool lookup_locked(uint32_t stream_id, uint64_t iova, Access access, TranslateOutcome* out, uint8_t* reason) const;
  void report_fault(uint8_t reason, uint32_t flags, uint32_t endpoint, uint64_t address);
  void deliver_fault(VirtioHost& host, uint8_t reason, uint32_t flags, uint32_t endpoint, uint64_t address);
  bool negotiated(uint64_t bit) const { return (features_.load(std::memory_order_acquire) & bit) != 0; }

  const std::string name_;
  PhysicalMemory& mem_;
  const VirtioIommuOptions opts_;
  std::atomic<uint64_t> features_{0};
  std::atomic<bool> features_ok_{false};
  std::atomic<uint8_t> bypass_;

  std::mutex request_lock_;  // serialises request processing (taken before queue and state locks); docs/architecture.md "Locks"
  mutable std::shared_mutex host_lock_;  // guards host_; docs/architecture.md "Locks"
  VirtioHost* host_ = nullptr;
  std::atomic<uint64_t> host_pins_{0};  // fault deliveries using host_ (bind waits for 0)

  mutable std::shared_mutex state_lock_;  // guards endpoints_, domains_, nmappings_; docs/architecture.md "Locks"
  std::map<uint32_t, Endpoint> endpoints_;
  std::map<uint32_t, Domain> domains_;
  size_t nmappings_ = 0;

  std::atomic<uint64_t> requests_{0}, faults_reported_{0}, faults_lost_{0}, bad_requests_{0};
};

}  // namespace modiommu::hw::virtio
