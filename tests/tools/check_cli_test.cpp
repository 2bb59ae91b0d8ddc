// `modiommu check` as users run it: exit status, per-file lines, JSON, and
// parse errors that name the file and node.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_platform.h"
#include "tools_util.h"

using namespace modiommu::tools_test;

namespace {

TEST(CheckCli, QemuVirtDirectoryAsJson) {
  Ran r = run(host() + " check --json -j 2 " + modiommu::test::bundled_corpus_dir() + "/qemu-virt");
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["summary"]["trees"], 3);
  EXPECT_EQ(j["summary"]["booted"], 3);
  // Independently: the `iommus = ` lines of the three sources.
  size_t want = 0;
  for (auto& e : std::filesystem::directory_iterator(modiommu::test::bundled_corpus_dir() + "/qemu-virt"))
    if (e.path().extension() == ".dts") {
      std::ifstream f(e.path());
      std::stringstream ss;
      ss << f.rdbuf();
      want += count_of(ss.str(), "iommus = <");
      // PCI functions the tree describes are masters too: the virtio-iommu
      // function 00:06.0 (its RID is outside the map: not behind an IOMMU).
      want += count_of(ss.str(), "compatible = \"virtio,pci-iommu");
    }
  EXPECT_EQ(j["summary"]["masters"].get<size_t>(), want);
  // Every master of the SMMUv3 board is attached to that SMMU, per the tree.
  bool found = false;
  for (const auto& t : j["trees"]) {
    if (t["file"].get<std::string>().find("virt-smmuv3") == std::string::npos) continue;
    found = true;
    for (const auto& m : t["topology"]["masters"]) {
      EXPECT_EQ(m["outcome"], "isolated") << m.dump();
      EXPECT_EQ(m["attached_iommu"], m["declared"][0]["iommu_device"]) << m.dump();
      EXPECT_FALSE(m["mismatch"].get<bool>());
    }
  }
  EXPECT_TRUE(found);
}

TEST(CheckCli, HumanOutputHasALinePerFileAndASummary) {
  auto dir = temp_dir("check-human");
  const std::string board = write_file(dir / "board.dts", kToolsBoard);
  Ran r = run(host() + " check --masters " + board);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("ok    " + board + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 trees: 1 parsed, 1 booted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 DMA masters"), std::string::npos) << r.out;
  // The Apple DART has no driver here: said plainly, master decoded.
  EXPECT_NE(r.out.find("apple,t8103-dart"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no driver or device model in modiommu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--missing-iommu=bypass: 1 masters run WITHOUT isolation"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--missing-iommu=fail:   1 masters never probe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("StreamID 0x42"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(CheckCli, MastersSayWhichParentPopulatedThem) {
  Ran r = run(host() + " check --masters --no-progress " + source_dir() + "/platforms/virt-populate.dts");
  ASSERT_EQ(r.status, 0) << r.out;
  // A child made by its parent's driver names the parent; a bus child does not.
  EXPECT_NE(r.out.find("/soc/usb@10100000/dma@10101000  tree:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("IDs 0x31 group 2 dma  populated by 10100000.usb"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("IDs 0x30 group 0 dma\n"), std::string::npos) << r.out;
}

TEST(CheckCli, ParseErrorsNameFileAndNodeAndExitOne) {
  auto dir = temp_dir("check-bad");
  const std::string good = write_file(dir / "good.dts", kToolsBoard);
  const std::string broken = write_file(dir / "broken.dts", "/dts-v1/;\n/ { node { ;\n");
  // A truncated specifier: #iommu-cells = <1> but no cell after the phandle.
  std::string bad_spec = kToolsBoard;
  bad_spec.replace(bad_spec.find("iommus = <&smmu 0x42>"), 21, "iommus = <&smmu>");
  const std::string truncated = write_file(dir / "truncated.dts", bad_spec);
  Ran r = run(host() + " check --json " + dir.string());
  EXPECT_EQ(r.status, 1);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["summary"]["trees"], 3);
  EXPECT_EQ(j["summary"]["parsed"], 2);
  std::string errors = j["summary"]["parse_errors"].dump();
  EXPECT_NE(errors.find("broken.dts"), std::string::npos) << errors;
  EXPECT_NE(errors.find("/soc/video@12000000"), std::string::npos) << errors;
  std::filesystem::remove_all(dir);
}

TEST(CheckCli, MissingPathIsABadOption) {
  Ran r = run(host() + " check /nonexistent/board.dtb", true);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("/nonexistent/board.dtb"), std::string::npos) << r.out;
}

}  // namespace
