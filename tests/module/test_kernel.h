// The Kernel a test hands to the loader. In the full tree tests link the
// whole host (modiommu_link_host), so this is the real kernel; built with
// only the module layer, a stand-in: the loader never looks inside.
#pragma once

#if MODTEST_REAL_KERNEL
#include "kernel/kernel.h"
#else
namespace modiommu {
class Kernel {};
}  // namespace modiommu
#endif
