// The harness the IOMMU driver tests share (arm-smmu, rockchip-iommu,
// ipmmu-vmsa, mtk_iommu): a kernel with the driver under test built in,
// booted from a platform file or DTS text, a do-nothing "dmatest" driver
// bound to the DMA test masters so that tests program them through their
// registers, the kernel log captured, and a sim::Harness (endpoints, escape
// accounting) attached before boot. Each family's fixture derives from it
// and adds what only it has (its model's type, register helpers).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/device.h"
#include "core/driver.h"
#include "dmatest_io.h"
#include "hw/dmatest.h"
#include "iommu/dma.h"
#include "kernel/kernel.h"
#include "module/loader.h"
#include "of/tree.h"
#include "sim/harness.h"

namespace modiommu::test {

class IommuDriverKernel {
 public:
  // `module`: the built-in module of the driver under test, which must be
  // live after boot.
  IommuDriverKernel(const std::string& module, const std::string& platform_or_dts, KernelOptions opts, bool is_text)
      : k(std::move(opts)) {
    k.log().set_sink([this](const LogEntry& e) {
      std::lock_guard g(log_lock);
      log_text += e.format() + "\n";
    });
    Status s;
    if (is_text) {
      auto t = of::Tree::from_dts(platform_or_dts, "test.dts");
      EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
      if (!t.ok()) return;
      s = k.boot(std::move(t).value());
    } else {
      s = k.boot(platform_or_dts);
    }
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().str());
    if (!s.ok()) return;
    auto live = k.modules().find(module);
    EXPECT_TRUE(live && live->state() == ModuleState::live) << "built-in " << module << " not initialised";
    auto drv = std::make_unique<SimpleDriver>();
    drv->name = "dmatest";
    drv->bus = &k.platform_bus();
    drv->of_match = {"modiommu,dmatest"};
    SimpleDriver* raw = drv.get();
    k.own_driver(std::move(drv));
    EXPECT_TRUE(k.core().register_driver(raw).ok());
    k.boot_complete();
    ok = true;
  }
  ~IommuDriverKernel() { k.log().set_sink(nullptr); }
  IommuDriverKernel(const IommuDriverKernel&) = delete;
  IommuDriverKernel& operator=(const IommuDriverKernel&) = delete;

  Device* dev(const std::string& name) {
    for (Device* d : k.core().devices())
      if (d->name() == name) return d;
    ADD_FAILURE() << "no device " << name;
    return nullptr;
  }
  IoMem regs(Device* d) {
    auto io = k.ioremap(*d, 0);
    EXPECT_TRUE(io.ok());
    return io.ok() ? *io : IoMem{};
  }
  // The device model of an IOMMU node, as its family's type.
  template <class Model>
  std::shared_ptr<Model> model_of(Device* iommu) {
    return std::dynamic_pointer_cast<Model>(k.platform().model(iommu->fwnode())->translator);
  }
  hw::UpstreamPort& port(Device* d) { return *k.platform().model(d->fwnode())->port; }
  hw::PhysicalMemory& mem() { return k.machine().memory(); }
  std::string log() {
    std::lock_guard g(log_lock);
    return log_text;
  }
  uint32_t transfer(Device* d, uint64_t addr, uint32_t len, bool to_memory, uint64_t seed = 1, uint64_t* sum = nullptr) {
    return dmatest_transfer(regs(d), addr, len, to_memory, seed, sum);
  }
  uint64_t filled_page(uint64_t seed, std::vector<uint8_t>* out = nullptr) { return test::filled_page(k, seed, out); }
  // Maps one page, has the master read it and write part of it by DMA, and
  // checks the data both ways; the IOVA must lie below iova_limit (the
  // family's aperture).
  void round_trip(Device* m, uint64_t seed, uint64_t iova_limit = ~uint64_t{0}) {
    using iommu::DmaDirection;
    std::vector<uint8_t> data;
    const uint64_t pa = filled_page(seed, &data);
    auto iova = k.dma().map_single(*m, pa, 4096, DmaDirection::bidirectional);
    ASSERT_TRUE(iova.ok()) << iova.error().str();
    EXPECT_LT(*iova, iova_limit);
    uint64_t sum = 0;
    EXPECT_EQ(transfer(m, *iova, 4096, false, 0, &sum), hw::DmaTest::kStatusDone);
    EXPECT_EQ(sum, hw::DmaTest::checksum(data.data(), data.size()));
    EXPECT_EQ(transfer(m, *iova + 256, 1024, true, seed + 1), hw::DmaTest::kStatusDone);
    std::vector<uint8_t> want(1024), got(1024);
    hw::DmaTest::pattern_fill(seed + 1, want.data(), want.size());
    ASSERT_TRUE(mem().read(pa + 256, got.data(), got.size()).ok());
    EXPECT_EQ(got, want);
    EXPECT_TRUE(k.dma().unmap_single(*m, *iova, 4096, DmaDirection::bidirectional).ok());
  }

  Kernel k;
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  bool ok = false;
  std::mutex log_lock;
  std::string log_text;
};

}  // namespace modiommu::test
