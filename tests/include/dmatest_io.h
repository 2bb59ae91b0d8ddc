// Driving a DMA test master by its registers from a test (one synchronous
// transfer), a page of kernel RAM filled with a known pattern, and the
// kernel's DMA test masters: shared by the IOMMU driver and e2e tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "hw/dmatest.h"
#include "kernel/io.h"
#include "kernel/kernel.h"

namespace modiommu::test {

// Every device of a modiommu,dmatest node, in add order.
inline std::vector<Device*> dmatest_masters(Kernel& k) {
  std::vector<Device*> out;
  for (Device* d : k.core().devices())
    if (d->fwnode() && d->fwnode()->is_compatible("modiommu,dmatest")) out.push_back(d);
  return out;
}

// to_memory: the device buffer (filled from `seed`) -> `addr`; else `addr`
// -> the device buffer. Returns STATUS; *sum gets the device's checksum.
inline uint32_t dmatest_transfer(const IoMem& io, uint64_t addr, uint32_t len, bool to_memory, uint64_t seed = 1,
                                 uint64_t* sum = nullptr) {
  using hw::DmaTest;
  io.writel(DmaTest::kSTATUS, DmaTest::kStatusDone | DmaTest::kStatusFault | DmaTest::kStatusBadProg);
  io.writeq(DmaTest::kPATTERN, seed);
  io.writeq(to_memory ? DmaTest::kDST : DmaTest::kSRC, addr);
  io.writel(DmaTest::kLEN, len);
  io.writel(DmaTest::kDIRECTION, to_memory ? DmaTest::kDevToMem : DmaTest::kMemToDev);
  io.writel(DmaTest::kCTRL, DmaTest::kCtrlGo);
  if (sum) *sum = io.readq(DmaTest::kCHECKSUM);
  return io.readl(DmaTest::kSTATUS);
}

// A page from the kernel's allocator filled with pattern_fill(seed).
inline uint64_t filled_page(Kernel& k, uint64_t seed, std::vector<uint8_t>* out = nullptr) {
  auto pa = k.pages().alloc(4096);
  EXPECT_TRUE(pa.ok());
  if (!pa.ok()) return 0;
  std::vector<uint8_t> buf(4096);
  hw::DmaTest::pattern_fill(seed, buf.data(), buf.size());
  EXPECT_TRUE(k.machine().memory().write(*pa, buf.data(), buf.size()).ok());
  if (out) *out = buf;
  return *pa;
}

}  // namespace modiommu::test
