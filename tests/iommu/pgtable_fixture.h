// Shared fixture pieces for the io-pgtable tests: emulated RAM, the page
// allocator the tables come from, a recording set of TLB callbacks, and the
// hardware walker (hw/arm/vmsa_walk.h) configured from what io-pgtable
// reports, so every check goes through the same path an SMMU would take.
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "hw/arm/vmsa_walk.h"
#include "hw/memory.h"
#include "iommu/io_pgtable.h"
#include "mm/page_alloc.h"

namespace modiommu::iommu::test {

inline constexpr PhysAddr kRamBase = 0x8000'0000;
inline constexpr uint64_t kRamSize = 256ull << 20;
inline constexpr uint64_t kTableMem = 128ull << 20;  // the page allocator's share

struct RecordingFlushOps : IommuFlushOps {
  struct Range {
    uint64_t iova;
    size_t size;
    size_t granule;
  };
  void tlb_flush_all() override {
    std::lock_guard g(lock);
    ++flush_all;
  }
  void tlb_flush_walk(uint64_t iova, size_t size, size_t granule) override {
    std::lock_guard g(lock);
    walks.push_back({iova, size, granule});
  }
  void tlb_add_page(IotlbGather* gather, uint64_t iova, size_t granule) override {
    {
      std::lock_guard g(lock);
      pages.push_back({iova, granule, granule});
    }
    gather->add_page(iova, granule);
  }
  std::mutex lock;
  int flush_all = 0;
  std::vector<Range> walks;
  std::vector<Range> pages;
};

inline hw::arm::Granule hw_granule(Granule g) {
  switch (g) {
    case Granule::k4K: return hw::arm::Granule::k4K;
    case Granule::k16K: return hw::arm::Granule::k16K;
    case Granule::k64K: return hw::arm::Granule::k64K;
  }
  return hw::arm::Granule::k4K;
}

// The walker configured only from the register fields io-pgtable produced
// (T0SZ, SL0, IPS/PS, TTBR), as a driver would program an SMMU.
inline hw::arm::WalkConfig walk_config(const IoPgtable& pt) {
  const IoPgtableCfg& c = pt.cfg();
  hw::arm::WalkConfig w;
  w.granule = hw_granule(c.granule);
  w.output_bits = c.oas;
  w.ttb = pt.ttbr();
  if (c.fmt == PgtableFormat::arm_lpae_s1) {
    w.stage = hw::arm::Stage::s1;
    w.input_bits = 64 - c.arm_lpae_s1_cfg.tcr.tsz;
    w.start_level = hw::arm::s1_start_level(w.granule, w.input_bits);
  } else {
    w.stage = hw::arm::Stage::s2;
    w.input_bits = 64 - c.arm_lpae_s2_cfg.vtcr.tsz;
    w.start_level = hw::arm::s2_start_level(w.granule, c.arm_lpae_s2_cfg.vtcr.sl);
  }
  return w;
}

inline std::string walk_str(const hw::arm::WalkResult& r) {
  return std::string("fault=") + hw::arm::fault_name(r.fault) + " level=" + std::to_string(r.level) +
         " pa=" + std::to_string(r.pa) + " block=" + std::to_string(r.block_size);
}

}  // namespace modiommu::iommu::test
