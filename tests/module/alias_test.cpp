#include <gtest/gtest.h>

#include "module/alias.h"

using namespace modiommu;

TEST(Alias, GlobMatching) {
  EXPECT_TRUE(alias_matches("of:arm,smmu-v3", "of:arm,smmu-v3"));
  EXPECT_FALSE(alias_matches("of:arm,smmu-v3", "of:arm,smmu-v2"));
  EXPECT_FALSE(alias_matches("of:arm,smmu", "of:arm,smmu-v3"));
  EXPECT_TRUE(alias_matches("of:arm,smmu*", "of:arm,smmu-v3"));
  EXPECT_TRUE(alias_matches("of:arm,mmu-?00", "of:arm,mmu-500"));
  EXPECT_FALSE(alias_matches("of:arm,mmu-?00", "of:arm,mmu-5000"));
  EXPECT_TRUE(alias_matches("*", ""));
  EXPECT_TRUE(alias_matches("a*b*c", "axxbyyc"));
  EXPECT_FALSE(alias_matches("a*b*c", "axxbyy"));
  // Pathological pattern stays linear-ish and correct.
  EXPECT_FALSE(alias_matches(std::string(200, '*') + "b", std::string(5000, 'a')));
}

TEST(Alias, OfCompatible) {
  EXPECT_TRUE(alias_matches_of_compatible("of:arm,smmu-v3", "arm,smmu-v3"));
  EXPECT_FALSE(alias_matches_of_compatible("of:arm,smmu-v3", "arm,mmu-500"));
  EXPECT_FALSE(alias_matches_of_compatible("pci:v*", "arm,smmu-v3"));
}

TEST(Alias, PciWithWildcards) {
  EXPECT_EQ(pci_modalias(0x1af4, 0x1057), "pci:v00001AF4d00001057");
  EXPECT_TRUE(alias_matches_pci("pci:v00001AF4d00001057", 0x1af4, 0x1057));
  EXPECT_TRUE(alias_matches_pci("pci:v00001AF4d*", 0x1af4, 0x1000));
  EXPECT_TRUE(alias_matches_pci("pci:v*d00001057", 0x8086, 0x1057));
  EXPECT_FALSE(alias_matches_pci("pci:v00001AF4d*", 0x8086, 0x1057));
}

TEST(Alias, Virtio) {
  EXPECT_EQ(virtio_modalias(23), "virtio:d00000017v*");
  EXPECT_TRUE(alias_matches_virtio("virtio:d00000017v*", 23));
  EXPECT_TRUE(alias_matches_virtio("virtio:d00000017", 23));
  EXPECT_FALSE(alias_matches_virtio("virtio:d00000017v*", 1));
}

TEST(Alias, Validation) {
  EXPECT_TRUE(validate_alias("of:arm,smmu-v3").ok());
  EXPECT_TRUE(validate_alias("pci:v*").ok());
  auto no_bus = validate_alias("arm,smmu-v3");
  ASSERT_FALSE(no_bus.ok());
  EXPECT_NE(no_bus.error().message.find("not '<bus>:<id>'"), std::string::npos) << no_bus.error().message;
  auto bad_bus = validate_alias("usb:v1234");
  ASSERT_FALSE(bad_bus.ok());
  EXPECT_NE(bad_bus.error().message.find("unknown bus 'usb'"), std::string::npos);
  EXPECT_FALSE(validate_alias("of:has space").ok());
  EXPECT_FALSE(validate_alias("of:").ok());
  EXPECT_FALSE(validate_alias("of:" + std::string(300, 'a')).ok());
}
