// Autoload by compatible (udev + modprobe) on a real tree: Arm's FVP Base
// RevC, as shipped by Debian's kernel, has an SMMUv3 at 0x2b400000.
#include "corpus_dir.h"
#include "e2e_util.h"

using namespace modiommu;

namespace {

TEST(Autoload, CorpusTreeSmmuV3LoadsItsModuleByCompatible) {
  const std::string tree = test::bundled_corpus_dir() + "/dtb-linux-6.1/arm/fvp-base-revc.dtb";
  Kernel k(e2e::module_options({}, /*autoload=*/true));
  ASSERT_TRUE(k.boot(tree).ok());
  auto m = k.modules().find("arm-smmu-v3");
  ASSERT_TRUE(m) << "arm-smmu-v3 was not autoloaded for of:arm,smmu-v3";
  EXPECT_EQ(m->state(), ModuleState::live);
  Device* smmu = k.core().find_device("2b400000.iommu");
  ASSERT_NE(smmu, nullptr);
  EXPECT_EQ(smmu->state(), DeviceState::bound);
  EXPECT_EQ(smmu->driver()->name, "arm-smmu-v3");
  EXPECT_EQ(k.iommu().iommus().size(), 1u);
}

TEST(Autoload, NoAutoloadLeavesItToTheUser) {
  const std::string tree = test::bundled_corpus_dir() + "/dtb-linux-6.1/arm/fvp-base-revc.dtb";
  Kernel k(e2e::module_options({}, /*autoload=*/false));
  ASSERT_TRUE(k.boot(tree).ok());
  EXPECT_FALSE(k.modules().find("arm-smmu-v3"));
  EXPECT_EQ(k.core().find_device("2b400000.iommu")->state(), DeviceState::unbound);
}

}  // namespace
