// Targeted deferral stays O(devices + edges); the linux policy is quadratic
// on a chain in worst-case order (BEHAVIOUR.md 1). Counts are derived from
// first principles here, not copied from a run.
#include "chain_platform.h"
#include "test_util.h"

using namespace modiommu;

namespace {

struct Outcome {
  uint64_t attempts;
  size_t bound;
};

Outcome boot_chain(DeferredPolicy p, int chains, int length) {
  KernelOptions o;
  o.deferred_probe = p;
  Kernel k(o);
  auto t = of::Tree::from_dts(modiommu::testing::chain_platform_dts(chains, length), "chain.dts");
  EXPECT_TRUE(t.ok());
  EXPECT_TRUE(k.boot(std::move(t).value()).ok());
  k.boot_complete();
  size_t bound = 0;
  for (Device* d : k.core().devices()) bound += d->state() == DeviceState::bound;
  return {k.core().stats().probe_attempts, bound};
}

TEST(Deferral, TargetedChainIsLinear) {
  const int n = 300;
  auto r = boot_chain(DeferredPolicy::targeted, 1, n);
  EXPECT_EQ(r.bound, static_cast<size_t>(n));
  // every device once on driver_attach, then each of the n-1 deferred ones
  // exactly once more when its supplier binds
  EXPECT_EQ(r.attempts, static_cast<uint64_t>(2 * n - 1));
}

TEST(Deferral, LinuxChainIsQuadratic) {
  const uint64_t n = 300;
  auto r = boot_chain(DeferredPolicy::linux, 1, static_cast<int>(n));
  EXPECT_EQ(r.bound, n);
  // n on driver_attach (nothing retried before late_initcall); then pass k
  // retries the n-k still-deferred devices and binds only the last of them.
  EXPECT_EQ(r.attempts, n + n * (n - 1) / 2);
}

TEST(Deferral, ManyChainsTargetedLinearInDevicesPlusLinks) {
  auto r = boot_chain(DeferredPolicy::targeted, 20, 15);
  EXPECT_EQ(r.bound, 300u);
  EXPECT_EQ(r.attempts, 20u * (2 * 15 - 1));
}

}  // namespace
