// Careless and hostile input to the of/ layer (issue 15, section 6): libfdt's
// real reasons, a cell count no loop may follow, dtc bounded, files that
// are not files.
#include <gtest/gtest.h>
#include <libfdt.h>
#include <endian.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "of/dtc.h"
#include "of/tree.h"
#include "test_util.h"

namespace modiommu::of {
namespace {

TEST(OfHostile, LibfdtErrorsSayLibfdtsReason) {
  auto blob = test::BlobWriter().begin("").begin("a").prop("x", {1}).end().end().finish();
  // The structure block's offset points past the end of the blob.
  const uint32_t past = htobe32(static_cast<uint32_t>(blob.size() + 64));
  std::memcpy(blob.data() + offsetof(fdt_header, off_dt_struct), &past, 4);
  auto t = Tree::from_blob(blob, "bad.dtb");
  ASSERT_FALSE(t.ok());
  const std::string& m = t.error().message;
  EXPECT_NE(m.find("bad.dtb: bad device tree blob: check failed: "), std::string::npos) << m;
  EXPECT_EQ(m.find("<valid offset/length>"), std::string::npos) << m;
  EXPECT_EQ(m.find("<unknown error>"), std::string::npos) << m;
  // Short of a header: libfdt's word for it.
  std::vector<uint8_t> shortb(blob.begin(), blob.begin() + 8);
  auto s = Tree::from_blob(shortb, "short.dtb");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(std::string("shorter than the header: ") + fdt_strerror(-FDT_ERR_TRUNCATED)),
            std::string::npos)
      << s.error().message;
}

TEST(OfHostile, AHugeIommuCellCountIsAnErrorNamingTheNode) {
  // dtc itself loops on this (see below); a blob from elsewhere may hold it.
  auto blob = test::BlobWriter()
                  .begin("")
                  .begin("iommu@1000").prop("phandle", {1}).prop("#iommu-cells", {0xffffffffu}).end()
                  .begin("dma@2000").prop("iommus", {1, 5, 6}).end()
                  .end()
                  .finish();
  auto t = Tree::from_blob(blob, "cells.dtb");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const Node* dma = (*t)->find("/dma@2000");
  ASSERT_NE(dma, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = iommus(*dma);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/dma@2000"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("/iommu@1000"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("4294967295"), std::string::npos) << r.error().message;
}

TEST(OfHostile, DtcThatLoopsIsStoppedByItsCpuLimit) {
  const std::string dts = ::testing::TempDir() + "/of_cells_loop.dts";
  std::ofstream(dts) << "/dts-v1/;\n/ { smmu: iommu { #iommu-cells = <0xffffffff>; };\n"
                        "  dma { iommus = <&smmu 1>; };\n};\n";
  DtcLimits lim;
  lim.cpu_seconds = 1;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_dtc({"-I", "dts", "-O", "dtb", "-q", dts}, "", lim);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timedout);
  EXPECT_NE(r.error().message.find("stopped after 1 s of CPU time"), std::string::npos) << r.error().message;
  std::filesystem::remove(dts);
}

TEST(OfHostile, OnlyFilesAreRead) {
  auto dir = Tree::load_file(::testing::TempDir());
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find(": is a directory"), std::string::npos) << dir.error().message;
  auto zero = Tree::load_file("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("/dev/zero: is a character device"), std::string::npos) << zero.error().message;
  // A fifo is read as a stream (once), so a .dts may come through a pipe.
  const std::string fifo = ::testing::TempDir() + "/of_fifo_" + std::to_string(getpid());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo) << "/dts-v1/;\n/ { a = <1>; };\n"; });
  auto t = Tree::load_file(fifo);
  writer.join();
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_NE((*t)->find("/"), nullptr);
  std::filesystem::remove(fifo);
}

}  // namespace
}  // namespace modiommu::of
