// Masters: firmware IDs (generic `iommus` with #iommu-cells 1 or 2 and
// stream-match-mask, or the legacy mmu-masters list), stream-map entries
// shared between masters whose (ID, mask) pairs coincide, groups, and
// routing a master's streams to a domain (S2CR). Locking: arm-smmu.h.
#include <algorithm>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/arm-smmu/arm-smmu.h"
#include "drivers/iommu/arm-smmu/regs.h"
#include "kernel/driver_context.h"
#include "of/tree.h"

namespace modiommu::arm_smmu {

namespace {
std::shared_ptr<SmmuMaster> master_of(iommu::Fwspec& fwspec) {
  return std::static_pointer_cast<SmmuMaster>(fwspec.priv);
}
}  // namespace

Status SmmuDevice::of_xlate(Device& dev, iommu::Fwspec& fwspec, const std::vector<uint32_t>& args) {
  auto m = master_of(fwspec);
  if (!m) {
    m = std::make_shared<SmmuMaster>();
    m->dev = &dev;
    fwspec.priv = m;
  }
  auto add = [&](uint32_t sid, uint32_t mask) -> Status {
    if (sid > 0xffff || mask > 0xffff)
      return make_error(Errc::inval, fmt::format("{}: stream ID {:#x} / mask {:#x} of {} do not fit 16 bits", name(),
                                                 sid, mask, dev.name()));
    m->ids.push_back({static_cast<uint16_t>(sid), static_cast<uint16_t>(mask)});
    if (std::find(fwspec.ids.begin(), fwspec.ids.end(), sid) == fwspec.ids.end()) fwspec.ids.push_back(sid);
    return {};
  };
  if (legacy_) {
    // mmu-masters: every cell is a stream ID of its own (no masks).
    if (args.empty()) return make_error(Errc::inval, dev.name() + ": named in mmu-masters with no stream IDs");
    for (uint32_t sid : args) TRY(add(sid, 0));
    return {};
  }
  if (args.size() != 1 && args.size() != 2)
    return make_error(Errc::inval, fmt::format("{}: iommus specifier for {} has {} cells, #iommu-cells must be 1 or 2",
                                               name(), dev.name(), args.size()));
  // Generic binding: <sid mask>, or <sid> with the SMMU's stream-match-mask.
  uint32_t mask = args.size() == 2 ? args[1] : dev_.fwnode()->u32("stream-match-mask").value_or(0);
  return add(args[0], mask);
}

void SmmuDevice::write_sme(unsigned idx) {
  const Sme& s = smes_[idx];
  // S2CR before SMR (Linux arm_smmu_write_sme): a newly valid entry never
  // routes through a stale S2CR.
  uint32_t s2cr = s2cr::TYPE::prep(s.type) | s2cr::CBNDX::prep(s.cbndx);
  uint32_t smr = smr::MASK::prep(s.mask) | smr::ID::prep(s.id);
  if (feat_.exids) {
    if (s.valid) s2cr |= S2CR_EXIDVALID;  // IHI 0062D 2.4.1: validity moves to S2CR
  } else if (s.valid) {
    smr |= SMR_VALID;
  }
  regs_.writel(S2CR_BASE + 4 * idx, s2cr);
  regs_.writel(SMR_BASE + 4 * idx, s.valid ? smr : 0);
}

// Linux arm_smmu_find_sme(): an entry that already covers (id, mask) is
// shared; a partial overlap would be a stream match conflict, so it is
// refused; otherwise a free entry.
Result<unsigned> SmmuDevice::sme_alloc(uint16_t id, uint16_t mask, const std::string& who) {
  int free_idx = -1;
  for (unsigned i = 0; i < smes_.size(); ++i) {
    Sme& s = smes_[i];
    if (!s.valid) {
      if (free_idx < 0) free_idx = int(i);
      continue;
    }
    if ((mask & s.mask) == mask && !((id ^ s.id) & ~s.mask)) {
      s.count++;
      return i;
    }
    if (!((id ^ s.id) & ~(s.mask | mask)))
      return make_error(Errc::inval, fmt::format("{}: stream ID {:#x} mask {:#x} of {} partly overlaps SMR {} "
                                                 "(ID {:#x} mask {:#x}): a stream match conflict", name(), id, mask,
                                                 who, i, s.id, s.mask));
  }
  if (free_idx < 0)
    return make_error(Errc::busy, fmt::format("{}: all {} stream match registers are in use ({} needs one)", name(),
                                               smes_.size(), who));
  Sme& s = smes_[unsigned(free_idx)];
  s = Sme{};
  s.valid = true;
  s.id = id;
  s.mask = mask;
  s.count = 1;
  s.type = S2CR_TYPE_FAULT;  // until a domain is attached
  write_sme(unsigned(free_idx));
  return unsigned(free_idx);
}

void SmmuDevice::sme_put(unsigned idx) {
  Sme& s = smes_[idx];
  if (!s.valid || --s.count > 0) return;
  s = Sme{};
  s.type = S2CR_TYPE_FAULT;
  if (live()) write_sme(idx);  // invalid: the stream is unidentified and faults (USFCFG)
}

Status SmmuDevice::probe_device(Device& dev, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m || m->ids.empty()) return make_error(Errc::inval, dev.name() + ": no stream IDs");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  for (const auto& id : m->ids) {
    if (id.sid & ~feat_.streamid_mask)
      return make_error(Errc::inval, fmt::format("{}: stream ID {:#x} of {} is out of range (implemented ID bits "
                                                 "{:#x})", name(), id.sid, dev.name(), feat_.streamid_mask));
    if (id.mask & ~feat_.smr_mask_mask)
      return make_error(Errc::inval, fmt::format("{}: SMR mask {:#x} of {} is out of range (implemented mask bits "
                                                 "{:#x})", name(), id.mask, dev.name(), feat_.smr_mask_mask));
  }
  std::vector<unsigned> got;
  for (const auto& id : m->ids) {
    auto idx = sme_alloc(id.sid, id.mask, dev.name());
    if (!idx.ok()) {
      for (unsigned i : got) sme_put(i);
      return std::move(idx).error();
    }
    got.push_back(*idx);
  }
  m->smes = std::move(got);
  std::erase_if(masters_, [](auto& w) { return w.expired(); });
  masters_.push_back(m);
  return {};
}

void SmmuDevice::release_device(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return;
  std::lock_guard g(lock_);
  for (unsigned i : m->smes) sme_put(i);  // last user: invalid, so its DMA faults
  m->smes.clear();
  if (m->domain) m->domain->attached--;
  m->domain = nullptr;
  std::erase_if(masters_, [&](auto& w) { auto p = w.lock(); return !p || p == m; });
  fwspec.priv.reset();
}

// Linux arm_smmu_device_group(): masters sharing a stream-map entry cannot
// be told apart by the SMMU, so they share a group.
const void* SmmuDevice::group_key(Device& /*dev*/, iommu::Fwspec& fwspec) {
  auto m = master_of(fwspec);
  if (!m) return nullptr;
  std::lock_guard g(lock_);
  std::shared_ptr<int> token;
  for (unsigned i : m->smes)
    if (smes_[i].group) token = smes_[i].group;
  if (!token) token = std::make_shared<int>(0);
  for (unsigned i : m->smes) smes_[i].group = token;
  return token.get();
}

Result<std::unique_ptr<iommu::IommuDomain>> SmmuDevice::domain_alloc(iommu::DomainType type) {
  auto d = std::make_unique<SmmuDomain>(type, shared_from_this());
  if (iommu::is_paging(type)) TRY(d->finalise());
  return std::unique_ptr<iommu::IommuDomain>(std::move(d));
}

Status SmmuDevice::attach_dev(iommu::IommuDomain& domain, Device& dev, iommu::Fwspec& fwspec) {
  auto* d = dynamic_cast<SmmuDomain*>(&domain);
  if (!d || d->smmu() != this)
    return make_error(Errc::inval, fmt::format("{}: domain for {} does not belong to this SMMU", name(), dev.name()));
  auto m = master_of(fwspec);
  if (!m || m->smes.empty()) return make_error(Errc::inval, dev.name() + ": attach before probe_device");
  std::lock_guard g(lock_);
  if (!live()) return make_error(Errc::nodev, name() + " is going away");
  // One S2CR store per entry: each stream sees the old or the new domain.
  for (unsigned i : m->smes) {
    smes_[i].type = d->s2cr_type();
    smes_[i].cbndx = static_cast<uint8_t>(std::max(d->cbndx(), 0));
    write_sme(i);
  }
  if (m->domain) m->domain->attached--;
  d->attached++;
  m->domain = d;
  return {};
}

void SmmuDevice::detach_all(SmmuDomain& d) {
  std::lock_guard g(lock_);
  if (!d.attached) return;
  ctx_.log().err(name(), "domain freed while {} master(s) still use it: their streams fault from now on", d.attached);
  for (auto& wm : masters_) {
    auto m = wm.lock();
    if (!m || m->domain != &d) continue;
    m->domain = nullptr;
    for (unsigned i : m->smes) {
      smes_[i].type = S2CR_TYPE_FAULT;
      if (live()) write_sme(i);
    }
  }
  d.attached = 0;
}

}  // namespace modiommu::arm_smmu
