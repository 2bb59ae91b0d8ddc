// A fake IOMMU driver for IOMMU-core tests: domains are maps of pages, the
// "hardware" is a record of what is attached. Tests of the real SMMU driver
// live with that driver.
#pragma once

#include <map>
#include <set>

#include "core/driver.h"
#include "iommu/iommu_core.h"
#include "kernel/kernel.h"

namespace modiommu::testing {

class FakeDomain : public iommu::IommuDomain {
 public:
  explicit FakeDomain(iommu::DomainType t) : IommuDomain(t) {
    pgsize_bitmap = (1ull << 12) | (1ull << 21);
    aperture_start = 0;
    aperture_end = (1ull << 40) - 1;
  }
  Status map_pages(uint64_t iova, uint64_t pa, size_t pgsize, size_t count, int prot, size_t* mapped) override {
    std::lock_guard g(lock);
    for (size_t i = 0; i < count; ++i) {
      if (pages.count(iova + i * pgsize)) return make_error(Errc::exist, "already mapped");
      pages[iova + i * pgsize] = {pa + i * pgsize, pgsize, prot};
      if (mapped) *mapped += pgsize;
    }
    return {};
  }
  size_t unmap_pages(uint64_t iova, size_t pgsize, size_t count, iommu::IotlbGather& g) override {
    std::lock_guard l(lock);
    size_t done = 0;
    uint64_t end = iova + pgsize * count;
    while (iova < end) {
      auto it = pages.find(iova);
      if (it == pages.end()) break;
      size_t sz = it->second.size;
      pages.erase(it);
      g.add_page(iova, sz);
      iova += sz;
      done += sz;
    }
    return done;
  }
  void iotlb_sync(iommu::IotlbGather& g) override {
    if (!g.empty()) ++syncs;
  }
  void flush_iotlb_all() override { ++flush_alls; }
  Result<uint64_t> iova_to_phys(uint64_t iova) const override {
    std::lock_guard g(lock);
    for (auto& [va, e] : pages)
      if (iova >= va && iova < va + e.size) return e.pa + (iova - va);
    return make_error(Errc::noent, "not mapped");
  }
  struct Entry {
    uint64_t pa;
    size_t size;
    int prot;
  };
  mutable std::mutex lock;
  std::map<uint64_t, Entry> pages;
  std::atomic<int> syncs{0}, flush_alls{0};
};

class FakeIommuOps : public iommu::IommuOps {
 public:
  Status probe_device(Device& dev, iommu::Fwspec& fwspec) override {
    if (auto it = decline.find(dev.name()); it != decline.end()) {
      fwspec.declined = it->second;  // the driver's policy leaves it out
      return make_error(Errc::nodev, it->second);
    }
    if (refuse.count(dev.name())) return make_error(Errc::nodev, "refused");  // a plain error: the probe fails
    probed.insert(dev.name());
    return {};
  }
  std::map<std::string, std::string> decline;  // device name -> the policy's reason
  std::set<std::string> refuse;
  void release_device(Device& dev, iommu::Fwspec&) override {
    probed.erase(dev.name());
    attached.erase(dev.name());
  }
  Result<std::unique_ptr<iommu::IommuDomain>> domain_alloc(iommu::DomainType t) override {
    ++domains_allocated;
    return std::unique_ptr<iommu::IommuDomain>(new FakeDomain(t));
  }
  Status attach_dev(iommu::IommuDomain& d, Device& dev, iommu::Fwspec&) override {
    attached[dev.name()] = &d;
    return {};
  }
  std::set<std::string> probed;
  std::map<std::string, iommu::IommuDomain*> attached;
  int domains_allocated = 0;
};

// A platform driver for "fake,iommu" nodes that registers an IOMMU.
class FakeIommuDriver : public Driver {
 public:
  explicit FakeIommuDriver(Kernel& k) : k_(k) {
    name = "fake-iommu";
    bus = &k.platform_bus();
    of_match = {"fake,iommu"};
  }
  Status probe(Device& dev) override {
    auto inst = std::make_unique<iommu::IommuInstance>();
    inst->name = dev.name();
    inst->dev = &dev;
    inst->fwnode = dev.fwnode();
    inst->ops = &ops;
    inst->driver = name;
    TRY(k_.iommu().register_iommu(*inst));
    instances[&dev] = std::move(inst);
    return {};
  }
  void remove(Device& dev) override {
    k_.iommu().unregister_iommu(*instances[&dev]);
    instances.erase(&dev);
  }
  FakeIommuOps ops;
  std::map<Device*, std::unique_ptr<iommu::IommuInstance>> instances;

 private:
  Kernel& k_;
};

// A plain consumer driver ("fake,master").
class FakeMasterDriver : public SimpleDriver {
 public:
  explicit FakeMasterDriver(Kernel& k) {
    name = "fake-master";
    bus = &k.platform_bus();
    of_match = {"fake,master"};
  }
};

}  // namespace modiommu::testing
