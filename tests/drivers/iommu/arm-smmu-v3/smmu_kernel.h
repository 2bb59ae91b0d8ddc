// A Kernel booted from platforms/virt-smmuv3.dts with the arm-smmu-v3 driver
// (its sources built into this test, so it sits on builtin_modules() and the
// kernel's initcall phase initialises it) and a minimal "modiommu,dmatest"
// driver, plus helpers that program the DMA test masters through their
// registers.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dmatest_io.h"
#include "core/device.h"
#include "hw/dmatest.h"
#include "hw/machine.h"
#include "kernel/kernel.h"
#include "module/loader.h"
#include "module/module.h"
#include "sim/harness.h"
#include "test_paths.h"

namespace modiommu::smmutest {

using hw::DmaTest;

using ::modiommu::test_paths::binary_dir;
using ::modiommu::test_paths::source_dir;

inline const ModuleDescriptor* smmu_descriptor() {
  for (const ModuleDescriptor* d : builtin_modules())
    if (d && d->name && std::string(d->name) == "arm_smmu_v3") return d;
  return nullptr;
}

class SmmuKernel {
 public:
  explicit SmmuKernel(KernelOptions opts = {}, std::string platform = source_dir() + "/platforms/virt-smmuv3.dts")
      : k(std::move(opts)) {
    Status s = k.boot(platform);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().str());
    booted = s.ok();
    if (!booted) return;
    // The kernel's initcall phase ran the built-in arm_smmu_v3 module.
    desc = smmu_descriptor();
    EXPECT_NE(desc, nullptr) << "arm_smmu_v3 is not on builtin_modules()";
    auto live = k.modules().find("arm_smmu_v3");
    EXPECT_TRUE(live && live->state() == ModuleState::live) << "built-in arm_smmu_v3 not initialised by the kernel";
    inited = live && live->state() == ModuleState::live;
    if (!inited) return;
    auto drv = std::make_unique<SimpleDriver>();
    drv->name = "dmatest";
    drv->bus = &k.platform_bus();
    drv->of_match = {"modiommu,dmatest"};
    SimpleDriver* raw = drv.get();
    k.own_driver(std::move(drv));
    s = k.core().register_driver(raw);
    EXPECT_TRUE(s.ok());
    k.boot_complete();
  }
  ~SmmuKernel() {
  }

  Device* smmu() {
    for (Device* d : k.core().devices())
      if (d->fwnode() && d->fwnode()->is_compatible("arm,smmu-v3")) return d;
    return nullptr;
  }
  std::vector<Device*> masters() { return test::dmatest_masters(k); }
  hw::UpstreamPort& port(Device* d) { return *k.platform().model(d->fwnode())->port; }
  IoMem regs(Device* d) {
    auto io = k.ioremap(*d, 0);
    EXPECT_TRUE(io.ok());
    return io.ok() ? *io : IoMem{};
  }
  hw::PhysicalMemory& mem() { return k.machine().memory(); }

  // One synchronous transfer: memory at `src` (an IOVA) -> the device buffer.
  // Returns STATUS; *sum gets the device's checksum of what it read.
  uint32_t read_from(Device* d, uint64_t src, uint32_t len, uint64_t* sum = nullptr) {
    IoMem io = regs(d);
    io.writel(DmaTest::kSTATUS, DmaTest::kStatusDone | DmaTest::kStatusFault | DmaTest::kStatusBadProg);
    io.writeq(DmaTest::kSRC, src);
    io.writel(DmaTest::kLEN, len);
    io.writel(DmaTest::kDIRECTION, DmaTest::kMemToDev);
    io.writel(DmaTest::kCTRL, DmaTest::kCtrlGo);
    if (sum) *sum = io.readq(DmaTest::kCHECKSUM);
    return io.readl(DmaTest::kSTATUS);
  }
  // The device buffer, filled with pattern_fill(seed), -> memory at `dst`.
  uint32_t write_to(Device* d, uint64_t dst, uint32_t len, uint64_t seed) {
    IoMem io = regs(d);
    io.writel(DmaTest::kSTATUS, DmaTest::kStatusDone | DmaTest::kStatusFault | DmaTest::kStatusBadProg);
    io.writeq(DmaTest::kPATTERN, seed);
    io.writeq(DmaTest::kDST, dst);
    io.writel(DmaTest::kLEN, len);
    io.writel(DmaTest::kDIRECTION, DmaTest::kDevToMem);
    io.writel(DmaTest::kCTRL, DmaTest::kCtrlGo);
    return io.readl(DmaTest::kSTATUS);
  }
  // A page of RAM from the kernel allocator filled with bytes from `seed`.
  uint64_t filled_page(uint64_t seed, std::vector<uint8_t>* out = nullptr) { return test::filled_page(k, seed, out); }

  Kernel k;
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  const ModuleDescriptor* desc = nullptr;
  bool booted = false, inited = false;
};

}  // namespace modiommu::smmutest
