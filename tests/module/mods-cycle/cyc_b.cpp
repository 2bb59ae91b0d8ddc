#include "module/module.h"

using namespace modiommu;

extern "C" int cyc_a_value(void);
extern "C" MODIOMMU_API int cyc_b_value(void) { return cyc_a_value() + 1; }

MODIOMMU_MODULE(cyc_b, .version = "1.0");
