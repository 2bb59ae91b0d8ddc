// MODIOMMU_API marks what the host exports to loadable modules, as
// EXPORT_SYMBOL does in Linux: the host is built with hidden visibility, so a
// module that uses anything unmarked fails to load with "unresolved symbol".
#pragma once

#define MODIOMMU_API __attribute__((visibility("default")))
