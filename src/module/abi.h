// The module ABI version: bumped whenever the descriptor layout or any
// MODIOMMU_API interface a module may call changes incompatibly. A module
// built against another version is refused before any of its code runs
// (Linux's vermagic check, done here on the descriptor).
#pragma once

#include <cstdint>

namespace modiommu {

inline constexpr uint32_t kModuleAbiVersion = 3;  // 2: softdeps; 3: init/exit take DriverContext&
// "MODIOMMU" in ASCII: a descriptor that does not start with it is not one.
inline constexpr uint64_t kModuleMagic = 0x554d4d4f49444f4dull;
// Fixed capacities keep the descriptor one flat, relocatable C struct.
inline constexpr unsigned kModuleMaxParams = 16;
inline constexpr unsigned kModuleMaxAliases = 16;
inline constexpr unsigned kModuleMaxSoftdeps = 8;
// The exported symbol naming a loadable module's descriptor.
inline constexpr const char kModuleDescriptorSymbol[] = "modiommu_module_descriptor";

}  // namespace modiommu
