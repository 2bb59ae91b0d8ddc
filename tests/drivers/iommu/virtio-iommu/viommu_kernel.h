// A Kernel booted with the real modules (virtio, virtio_mmio, virtio_iommu,
// dmatest from build/modules) on platforms/virt-virtio-mmio-iommu.dts, or
// on a generated tree whose virtio-iommu model has test-chosen options
// (features, domain range, reserved regions), and helpers that program the
// DMA test masters through their registers.
#pragma once

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "dmatest_io.h"
#include "core/device.h"
#include "hw/dmatest.h"
#include "hw/machine.h"
#include "hw/virtio/virtio_iommu.h"
#include "hw/virtio/virtio_mmio.h"
#include "iommu/iommu.h"
#include "kernel/kernel.h"
#include "board/platform.h"
#include "module/loader.h"
#include "of/tree.h"
#include "sim/harness.h"
#include "sim/state.h"
#include "test_paths.h"

namespace modiommu::viommutest {

using hw::DmaTest;

using ::modiommu::test_paths::binary_dir;
using ::modiommu::test_paths::source_dir;
inline std::string platform() { return source_dir() + "/platforms/virt-virtio-mmio-iommu.dts"; }

// A virtio-mmio node compatible with "modiommu,test-viommu" first gets a
// virtio-iommu model built with these options (the stock board glue knows
// only the defaults). Set before boot; read by the factory at boot.
inline std::mutex& options_lock() {
  static std::mutex m;
  return m;
}
inline hw::virtio::VirtioIommuOptions& test_options() {
  static hw::virtio::VirtioIommuOptions o;
  return o;
}
inline void install_test_factory() {
  static std::once_flag once;
  std::call_once(once, [] {
    ModelFactory f{"virtio-iommu-test", {"modiommu,test-viommu"}, [](const of::Node& n, Platform& p)
                                                                     -> Result<PlatformModel> {
      PlatformModel pm;
      pm.base = TRY(n.translated_address(0));
      pm.size = 0x200;
      hw::IrqLine* irq = nullptr;
      if (auto num = p.irq_number(n, 0); num.ok()) irq = &p.machine().irq(*num);
      hw::virtio::VirtioIommuOptions o;
      {
        std::lock_guard g(options_lock());
        o = test_options();
      }
      auto iommu = std::make_shared<hw::virtio::VirtioIommu>(n.path(), p.machine().memory(), o);
      pm.kind = "virtio-iommu";
      pm.mmio = std::make_shared<hw::virtio::VirtioMmio>(n.path(), p.machine().memory(), iommu, irq);
      pm.translator = iommu;
      pm.extra = iommu;
      return pm;
    }};
    // First, so it wins over the stock "virtio,mmio" factory.
    model_factories().insert(model_factories().begin(), std::move(f));
  });
}

// The same machine as the platform file, with the test model and `n`
// masters (endpoint IDs 0x10, 0x11, ...).
inline std::string test_tree(int n = 3) {
  std::string masters;
  for (int i = 0; i < n; ++i)
    masters += fmt::format(" dma@{0:x} {{ compatible = \"modiommu,dmatest\"; reg = <0x0 {0:#x} 0x0 0x1000>;"
                           " iommus = <&viommu {1:#x}>; }};\n",
                           0x10000000 + 0x1000 * i, 0x10 + i);
  return "/dts-v1/;\n/ {\n #address-cells = <2>; #size-cells = <2>; interrupt-parent = <&gic>;\n"
         " memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x40000000>; };\n"
         " gic: interrupt-controller@8000000 { compatible = \"arm,gic-v3\"; #interrupt-cells = <3>;"
         " #address-cells = <0>; interrupt-controller; reg = <0x0 0x8000000 0x0 0x10000>; };\n"
         " viommu: virtio_mmio@a000000 { compatible = \"modiommu,test-viommu\", \"virtio,mmio\";"
         " reg = <0x0 0xa000000 0x0 0x200>; interrupts = <0 16 1>; dma-coherent; #iommu-cells = <1>; };\n" +
         masters + "};\n";
}

inline KernelOptions options(bool autoload = false, std::vector<std::string> preload = {"dmatest", "virtio_mmio"}) {
  KernelOptions o;
  o.module_dirs = {binary_dir() + "/modules"};
  o.preload = std::move(preload);
  o.autoload = autoload;
  return o;
}

class VKernel {
 public:
  // `tree_text` empty: the platform file.
  explicit VKernel(KernelOptions opts = options(), const std::string& tree_text = "") : k(std::move(opts)) {
    k.log().set_sink([this](const LogEntry& e) {
      std::lock_guard g(log_lock);
      log_text += e.format() + "\n";
    });
    Status s;
    if (tree_text.empty()) {
      s = k.boot(platform());
    } else {
      install_test_factory();
      auto t = of::Tree::from_dts(tree_text, "test.dts");
      EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().str());
      if (!t.ok()) return;
      s = k.boot(std::move(t).value());
    }
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().str());
    if (!s.ok()) return;
    k.boot_complete();
    booted = true;
  }
  ~VKernel() { k.log().set_sink(nullptr); }

  Status modprobe() { return k.modules().modprobe("virtio_iommu"); }

  Device* dev(const std::string& name) {
    for (Device* d : k.core().devices())
      if (d->name() == name) return d;
    return nullptr;
  }
  // The virtio device on the virtio bus (its driver is virtio-iommu).
  Device* vdev() {
    for (Device* d : k.core().devices())
      if (d->bus() && d->bus()->name() == "virtio") return d;
    return nullptr;
  }
  Device* transport() { return dev("a000000.virtio_mmio"); }
  std::vector<Device*> masters() { return test::dmatest_masters(k); }
  std::shared_ptr<hw::virtio::VirtioIommu> model() {
    for (Device* d : k.core().devices())
      if (d->fwnode() && d->fwnode()->name() == "virtio_mmio@a000000")
        if (auto* pm = k.platform().model(d->fwnode()))
          return std::dynamic_pointer_cast<hw::virtio::VirtioIommu>(pm->translator);
    return nullptr;
  }
  IoMem regs(Device* d) {
    auto io = k.ioremap(*d, 0);
    EXPECT_TRUE(io.ok());
    return io.ok() ? *io : IoMem{};
  }
  hw::PhysicalMemory& mem() { return k.machine().memory(); }
  std::string log() {
    std::lock_guard g(log_lock);
    return log_text;
  }
  uint64_t escapes() { return sim::dma_totals(k).escapes; }

  // One synchronous transfer through the master's registers. Returns STATUS.
  uint32_t transfer(Device* d, uint64_t addr, uint32_t len, bool to_memory, uint64_t seed = 1, uint64_t* sum = nullptr) {
    return test::dmatest_transfer(regs(d), addr, len, to_memory, seed, sum);
  }
  uint64_t filled_page(uint64_t seed, std::vector<uint8_t>* out = nullptr) { return test::filled_page(k, seed, out); }

  Kernel k;
  sim::Harness harness{k};  // endpoints, escape accounting: before boot
  bool booted = false;
  std::mutex log_lock;
  std::string log_text;
};

}  // namespace modiommu::viommutest
