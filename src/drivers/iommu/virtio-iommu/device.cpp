// One virtio-iommu: probe (config, queues, fault buffers, bypass off,
// IOMMU registration), remove, and the per-master IommuOps. Lock order:
// see virtio-iommu.h.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>

#include "core/device.h"
#include "core/owner.h"
#include "core/pci.h"
#include "drivers/iommu/virtio-iommu/virtio-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::virtio_iommu {

VIommu::VIommu(DriverContext& ctx, virtio::VirtioDevice& vdev, CodeOwner* owner)
    : ctx_(ctx), vdev_(vdev), owner_(owner), name_(vdev.name()) {}

VIommu::~VIommu() = default;

Log& VIommu::log() { return ctx_.log(); }

// --- config (5.13.4) -------------------------------------------------------------

Status VIommu::read_config() {
  uv::Config c{};
  TRY(vdev_.config_read_bytes(0, &c, sizeof c));
  cfg_.page_size_mask = c.page_size_mask;
  if (vdev_.has_feature(std::countr_zero(uv::kFInputRange))) {
    cfg_.input_start = c.input_start;
    cfg_.input_end = c.input_end;
  }
  if (vdev_.has_feature(std::countr_zero(uv::kFDomainRange))) {
    cfg_.domain_start = c.domain_start;
    cfg_.domain_end = c.domain_end;
  }
  if (vdev_.has_feature(std::countr_zero(uv::kFProbe))) cfg_.probe_size = c.probe_size;
  cfg_.bypass_config = vdev_.has_feature(std::countr_zero(uv::kFBypassConfig));
  cfg_.legacy_bypass = vdev_.has_feature(std::countr_zero(uv::kFBypass));
  cfg_.mmio = vdev_.has_feature(std::countr_zero(uv::kFMmio));
  // 5.13.4.1: the device sets at least one page size; ranges are inclusive
  // and must not be empty.
  if (!cfg_.page_size_mask)
    return make_error(Errc::inval, name_ + ": config page_size_mask is 0: the device offers no page size");
  if (cfg_.input_start > cfg_.input_end)
    return make_error(Errc::inval, fmt::format("{}: config input range [{:#x}, {:#x}] is empty", name_,
                                               cfg_.input_start, cfg_.input_end));
  if (cfg_.domain_start > cfg_.domain_end)
    return make_error(Errc::inval, fmt::format("{}: config domain range [{}, {}] is empty", name_, cfg_.domain_start,
                                               cfg_.domain_end));
  const uint64_t granule = cfg_.page_size_mask & (~cfg_.page_size_mask + 1);
  if ((cfg_.input_start & (granule - 1)) || ((cfg_.input_end + 1) & (granule - 1)))
    return make_error(Errc::inval, fmt::format("{}: config input range [{:#x}, {:#x}] is not aligned to the {:#x} "
                                               "granule", name_, cfg_.input_start, cfg_.input_end, granule));
  if (cfg_.probe_size > kMaxProbeSize)
    return make_error(Errc::inval, fmt::format("{}: config probe_size {} exceeds the driver's limit {}", name_,
                                               cfg_.probe_size, kMaxProbeSize));
  if (cfg_.probe_size && cfg_.probe_size < 4) cfg_.probe_size = 0;  // no room for one property header
  id_next_ = cfg_.domain_start;
  ctx_.log().info(name_, "page sizes {:#x}, input [{:#x}, {:#x}], domains [{}, {}], probe {}{}", cfg_.page_size_mask,
                cfg_.input_start, cfg_.input_end, cfg_.domain_start, cfg_.domain_end,
                cfg_.probe_size ? fmt::format("{} bytes", cfg_.probe_size) : std::string("off"),
                cfg_.bypass_config ? ", bypass config" : "");
  return {};
}

// --- probe / remove ----------------------------------------------------------------

Status VIommu::probe() {
  // MAP_UNMAP is what this driver translates with (5.13.3); without it
  // there is nothing to program.
  if (!vdev_.has_feature(std::countr_zero(uv::kFMapUnmap)))
    return make_error(Errc::notsup, name_ + ": the device does not offer VIRTIO_IOMMU_F_MAP_UNMAP: refusing it "
                                            "(no way to program translations)");
  Status s = read_config();
  if (s.ok()) {
    std::vector<std::function<void(virtio::Virtqueue&)>> cbs = {
        nullptr, [this](virtio::Virtqueue& vq) { handle_events(vq); }};
    s = vdev_.find_vqs({"request", "event"}, cbs);
  }
  if (s.ok()) {
    auto buf = vdev_.alloc_dma(kReqInOffset + cfg_.probe_size + sizeof(uv::ReqTail));
    if (buf.ok()) req_buf_ = *buf;
    else s = std::move(buf).error();
  }
  if (s.ok()) s = post_events();
  if (s.ok()) {
    // 5.13.4: with BYPASS_CONFIG, bypass = 0 makes unattached endpoints'
    // DMA abort. Written before DRIVER_OK so it never runs untranslated.
    if (cfg_.bypass_config) {
      const uint8_t zero = 0;
      vdev_.config_write_bytes(offsetof(uv::Config, bypass), &zero, 1);
    } else if (cfg_.legacy_bypass) {
      ctx_.log().warn(name_, "legacy VIRTIO_IOMMU_F_BYPASS negotiated: unattached endpoints bypass translation");
    }
    live_.store(true, std::memory_order_release);
    vdev_.device_ready();
    inst_.name = name_;
    inst_.dev = &vdev_;
    inst_.fwnode = vdev_.fwnode();
    inst_.ops = this;
    inst_.owner = owner_;
    inst_.driver = "virtio-iommu";
    s = ctx_.iommu().register_iommu(inst_);
    registered_ = s.ok();
  }
  if (!s.ok()) {
    remove();
    return s;
  }
  ctx_.log().info(name_, "virtio-iommu ready: {} event buffers", nevt_);
  return {};
}

void VIommu::remove() {
  {
    std::lock_guard g(attach_lock_);
    for (auto& [key, m] : masters_)
      // Unbound PCI devices stay in their groups: unregister releases them.
      if (!m->dev || m->dev->state() == DeviceState::bound)
        ctx_.log().err(name_, "remove with master {} still attached: its device link should have released it first",
                   m->dev ? m->dev->name() : "?");
  }
  // The consumers are gone: no fault is reported from here on (a late
  // handler sees !evt_live_ and leaves; one reporting now is waited for).
  stop_events();
  // Releases any master left (loudly); the driver core has unbound the
  // consumers first through the device links.
  if (registered_) ctx_.iommu().unregister_iommu(inst_);
  registered_ = false;
  {
    std::lock_guard g(req_lock_);  // no request in flight from here on
    live_.store(false, std::memory_order_release);
  }
  // The device forgets every domain and stops using the queues before
  // their memory goes (virtio 1.2 3.3.1).
  vdev_.reset();
  vdev_.del_vqs();
  free_buffers();
}

void VIommu::free_buffers() {
  std::lock_guard g(req_lock_);
  if (req_buf_.size) vdev_.free_dma(req_buf_);
  req_buf_ = {};
  std::lock_guard e(evt_lock_);
  if (evt_buf_.size) vdev_.free_dma(evt_buf_);
  evt_buf_ = {};
  nevt_ = 0;
}

// --- IommuOps ------------------------------------------------------------------------

Status VIommu::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  if (fwspec.ids.empty()) return make_error(Errc::inval, fmt::format("{}: {} has no endpoint ID", name_, dev.name()));
  TRY(check_ids_free(dev, fwspec.ids));
  auto m = std::make_shared<Master>();
  m->dev = &dev;
  m->ids = fwspec.ids;
  if (cfg_.probe_size) {
    // The device knows which endpoints exist. A PCI function's own
    // requester ID may never appear on the bus (below a PCIe-to-PCI bridge
    // its DMA carries the bridge's alias): an ID the device answers NOENT
    // for is dropped, as long as one is left.
    std::vector<uint32_t> known;
    Status first;
    for (uint32_t ep : m->ids) {
      Status s = probe_endpoint(*m, ep);
      if (s.ok()) {
        known.push_back(ep);
      } else if (s.error().code == Errc::noent) {
        ctx_.log().info(name_, "{}: endpoint {:#x} is unknown to the device: not used", dev.name(), ep);
        if (first.ok()) first = std::move(s);
      } else {
        return s;
      }
    }
    if (known.empty()) return first;
    m->ids = std::move(known);
  }
  std::lock_guard g(attach_lock_);
  TRY(check_ids_free_locked(dev, m->ids));  // again: another master may have come meanwhile
  m->seq = next_master_seq_++;
  masters_.emplace(m->seq, m);
  fwspec.priv = m;
  return {};
}

Status VIommu::check_ids_free(const Device& dev, const std::vector<uint32_t>& ids) const {
  std::lock_guard g(attach_lock_);
  return check_ids_free_locked(dev, ids);
}

// One endpoint ID, one master: a second device with the same ID would
// share its attachment behind the core's back (its DMA then fails with
// NOENT/INVAL), so it is refused, as the SMMUv3 driver refuses a stream
// ID in use. PCI functions behind one PCIe-to-PCI bridge share its alias
// ID and their group, hence the domain: they are the exception.
Status VIommu::check_ids_free_locked(const Device& dev, const std::vector<uint32_t>& ids) const {
  for (const auto& [seq, m] : masters_) {
    const PciDevice *a = to_pci(&dev), *b = to_pci(m->dev);
    if (a && b && pci_group_anchor(*a) == pci_group_anchor(*b)) continue;
    for (uint32_t ep : ids)
      if (std::count(m->ids.begin(), m->ids.end(), ep))
        return make_error(Errc::busy, fmt::format("{}: endpoint ID {:#x} of {} is already used by {}", name_, ep,
                                                  dev.name(), m->dev->name()));
  }
  return {};
}

void VIommu::release_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = std::static_pointer_cast<Master>(fwspec.priv);
  if (!m) return;
  std::lock_guard g(attach_lock_);
  if (VIommuDomain* d = m->domain) {
    std::lock_guard dl(d->lock_);
    // DETACH: with bypass = 0 the endpoint's traffic now aborts (5.13.6.4).
    Status s = live() ? detach_ids(*d, unshared_ids_locked(*m, *d), dev.name()) : Status{};
    if (!s.ok()) ctx_.log().err(name_, "{}: release could not detach it: {}", dev.name(), s.error().str());
    d->nr_endpoints_ -= std::min<unsigned>(d->nr_endpoints_, static_cast<unsigned>(m->ids.size()));
    m->domain = nullptr;
    std::erase(d->members_, m.get());
    rebuild_resv_locked(*d);
  }
  masters_.erase(m->seq);
  fwspec.priv.reset();
}

Result<std::unique_ptr<iommu::IommuDomain>> VIommu::domain_alloc(iommu::DomainType type) {
  if (type == iommu::DomainType::identity && !cfg_.bypass_config)
    // Without BYPASS_CONFIG an ATTACH cannot ask for bypass (5.13.6.3.2),
    // and this driver does not build identity-mapped domains.
    return make_error(Errc::notsup, name_ + ": identity domain needs VIRTIO_IOMMU_F_BYPASS_CONFIG, which the device "
                                            "does not offer");
  const uint32_t id = TRY(id_alloc());
  auto d = std::make_unique<VIommuDomain>(type, shared_from_this(), id);
  if (iommu::is_paging(type)) {
    d->pgsize_bitmap = cfg_.page_size_mask;
    d->aperture_start = cfg_.input_start;
    d->aperture_end = cfg_.input_end;
  }
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

// ATTACH each ID; on a failure the ones done go back. d.lock_ held.
Status VIommu::attach_ids(VIommuDomain& d, uint32_t flags, const std::vector<uint32_t>& ids, const std::string& who) {
  for (uint32_t ep : ids) {
    uv::AttachBody b{};
    b.domain = d.id();
    b.endpoint = ep;
    b.flags = flags;
    TRY(request(uv::kReqAttach, &b, sizeof b, fmt::format("{} endpoint {:#x} domain {}", who, ep, d.id())));
  }
  return {};
}

Status VIommu::detach_ids(VIommuDomain& d, const std::vector<uint32_t>& ids, const std::string& who) {
  Status first;
  for (uint32_t ep : ids) {
    uv::DetachBody b{};
    b.domain = d.id();
    b.endpoint = ep;
    Status s = request(uv::kReqDetach, &b, sizeof b, fmt::format("{} endpoint {:#x} domain {}", who, ep, d.id()));
    if (!s.ok() && first.ok()) first = std::move(s);
  }
  return first;
}

// PCI functions behind one PCIe-to-PCI bridge share its alias requester
// ID, hence an endpoint; they share a group, hence the domain. An ID another
// master of the domain still uses stays attached.
std::vector<uint32_t> VIommu::unshared_ids_locked(const Master& m, const VIommuDomain& d) const {
  std::vector<uint32_t> out;
  for (uint32_t ep : m.ids) {
    const bool shared = std::any_of(d.members_.begin(), d.members_.end(), [&](const Master* o) {
      return o != &m && std::count(o->ids.begin(), o->ids.end(), ep);
    });
    if (!shared) out.push_back(ep);
  }
  return out;
}

void VIommu::rebuild_resv_locked(VIommuDomain& d) {
  d.resv_.clear();
  for (const Master* m : d.members_) d.resv_.insert(d.resv_.end(), m->resv.begin(), m->resv.end());
}

Status VIommu::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<VIommuDomain*>(&domain);
  if (!d || d->viommu() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this IOMMU", name_, dev.name()));
  auto m = std::static_pointer_cast<Master>(fwspec.priv);
  if (!m) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(attach_lock_);
  VIommuDomain* old = m->domain;
  if (old == d) return {};
  // Both domains locked: the device moves each endpoint out of `old` itself
  // (5.13.6.3.2) and destroys `old` with its last endpoint, so no MAP may
  // reach `old` meanwhile believing it attached.
  std::unique_lock<std::mutex> lk_new(d->lock_, std::defer_lock), lk_old;
  if (old) {
    lk_old = std::unique_lock<std::mutex>(old->lock_, std::defer_lock);
    std::lock(lk_new, lk_old);
  } else {
    lk_new.lock();
  }
  const uint32_t flags = d->type() == iommu::DomainType::identity ? uv::kAttachFBypass : 0;
  // A domain mapped before its first endpoint is not switched to hitlessly:
  // the device creates it empty (5.13.6.3), so its DMA faults until the
  // replay below is done. DMA domains are attached before they map.
  const bool first = d->nr_endpoints_ == 0;
  size_t done = 0;
  Status s;
  for (; done < m->ids.size() && s.ok(); ++done) s = attach_ids(*d, flags, {m->ids[done]}, dev.name());
  if (!s.ok()) --done;
  // Replay before anyone else may map: the device's new domain is empty.
  if (s.ok() && first && iommu::is_paging(d->type())) s = d->replay_locked();
  if (!s.ok()) {
    // Put the endpoints that moved back where they were.
    std::vector<uint32_t> moved(m->ids.begin(), m->ids.begin() + static_cast<long>(done));
    Status r = old ? attach_ids(*old, old->type() == iommu::DomainType::identity ? uv::kAttachFBypass : 0, moved,
                                dev.name())
                   : detach_ids(*d, moved, dev.name());
    if (!r.ok()) ctx_.log().err(name_, "{}: could not undo a failed attach: {}", dev.name(), r.error().str());
    return s;
  }
  if (old) {
    old->nr_endpoints_ -= std::min<unsigned>(old->nr_endpoints_, static_cast<unsigned>(m->ids.size()));
    m->domain = nullptr;
    std::erase(old->members_, m.get());
    rebuild_resv_locked(*old);
  }
  d->nr_endpoints_ += static_cast<unsigned>(m->ids.size());
  m->domain = d;
  d->members_.push_back(m.get());
  rebuild_resv_locked(*d);
  for (const auto& r : m->resv) {
    auto it = d->map_.upper_bound(r.end);
    if (it != d->map_.begin() && std::prev(it)->second.end >= r.start)
      ctx_.log().warn(name_, "{}: domain {} already maps IOVA in its reserved region [{:#x}, {:#x}]", dev.name(), d->id(),
                    r.start, r.end);
  }
  return {};
}

void VIommu::detach_all(VIommuDomain& d) {
  std::lock_guard g(attach_lock_);
  std::lock_guard dl(d.lock_);
  // One master at a time leaves, so the last user of a shared ID detaches it.
  while (!d.members_.empty()) {
    Master* m = d.members_.front();
    ctx_.log().err(name_, "domain {} freed while {} still uses it: detaching it (its traffic aborts)", d.id(),
                 m->dev ? m->dev->name() : "?");
    if (live()) {
      Status s = detach_ids(d, unshared_ids_locked(*m, d), m->dev ? m->dev->name() : "?");
      if (!s.ok()) ctx_.log().err(name_, "{}", s.error().str());
    }
    m->domain = nullptr;
    d.members_.erase(d.members_.begin());
  }
  d.nr_endpoints_ = 0;
  d.resv_.clear();
}

// --- domain IDs (5.13.4 domain_range) ---------------------------------------------------

Result<uint32_t> VIommu::id_alloc() {
  std::lock_guard g(id_lock_);
  const uint64_t range = uint64_t{cfg_.domain_end} - cfg_.domain_start + 1;
  if (ids_used_.size() >= range)
    return make_error(Errc::nospc, fmt::format("{}: all {} domain IDs of [{}, {}] are in use", name_, range,
                                               cfg_.domain_start, cfg_.domain_end));
  // Next free ID from the cursor, wrapping: used IDs are skipped, and at
  // most ids_used_.size() of them lie in the way.
  uint32_t c = id_next_;
  if (c < cfg_.domain_start || c > cfg_.domain_end) c = cfg_.domain_start;
  while (ids_used_.count(c)) c = c == cfg_.domain_end ? cfg_.domain_start : c + 1;
  ids_used_.insert(c);
  id_next_ = c == cfg_.domain_end ? cfg_.domain_start : c + 1;
  return c;
}

void VIommu::id_free(uint32_t id) {
  std::lock_guard g(id_lock_);
  ids_used_.erase(id);
}

}  // namespace modiommu::virtio_iommu
