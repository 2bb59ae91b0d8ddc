# How a loadable module is compiled: one definition, used by the in-tree
# build (cmake/module.cmake) and installed for out-of-tree modules
# (find_package(modiommu), modiommu_add_module()).

# The flags every module .so gets, in tree or out of it.
function(modiommu_module_flags target)
  set_target_properties(${target} PROPERTIES PREFIX "" CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
    POSITION_INDEPENDENT_CODE ON CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  # Only the descriptor and the module's own exports leave the .so
  # (MODIOMMU_API in base/api.h reads this).
  target_compile_definitions(${target} PRIVATE MODIOMMU_BUILD_MODULE)
  # g++ marks statics of inline functions STB_GNU_UNIQUE, which makes the
  # object unloadable (dlclose would keep it mapped): rmmod must unmap.
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
endfunction()

# modiommu_add_module(NAME SOURCES ... [OUTPUT_DIRECTORY dir]): NAME.so,
# built against the installed driver API. It links nothing: its imports
# bind to the modiommu host's exports when it is loaded (insmod/modprobe).
function(modiommu_add_module name)
  cmake_parse_arguments(M "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT M_SOURCES)
    message(FATAL_ERROR "modiommu_add_module(${name}): no SOURCES")
  endif()
  if(NOT TARGET modiommu::driver_api)
    message(FATAL_ERROR "modiommu_add_module(${name}): call find_package(modiommu) first")
  endif()
  add_library(${name} MODULE ${M_SOURCES})
  modiommu_module_flags(${name})
  if(M_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${M_OUTPUT_DIRECTORY})
  endif()
  foreach(dep modiommu::driver_api fmt::fmt)
    target_include_directories(${name} PRIVATE $<TARGET_PROPERTY:${dep},INTERFACE_INCLUDE_DIRECTORIES>)
    target_compile_definitions(${name} PRIVATE $<TARGET_PROPERTY:${dep},INTERFACE_COMPILE_DEFINITIONS>)
  endforeach()
endfunction()
