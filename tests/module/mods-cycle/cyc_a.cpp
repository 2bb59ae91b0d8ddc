// cyc_a and cyc_b import each other's symbol: a dependency cycle.
#include "module/module.h"

using namespace modiommu;

extern "C" int cyc_b_value(void);
extern "C" MODIOMMU_API int cyc_a_value(void) { return cyc_b_value() + 1; }

MODIOMMU_MODULE(cyc_a, .version = "1.0");
