# modiommu_module(NAME MODE <y|m|n> SOURCES ... [DEPS ...] [OUTPUT_DIRECTORY dir] [NO_OPTION])
#
# One driver source, two builds (BEHAVIOUR.md 3):
#   y  an OBJECT library NAME, appended to the global properties
#      MODIOMMU_BUILTIN_MODULES and MODIOMMU_BUILTIN_DRIVERS (the list
#      modiommu_link_host() links); host executables link those objects, whose
#      MODIOMMU_MODULE() registers them in builtin_modules().
#   m  NAME.so (add_library MODULE) in ${CMAKE_BINARY_DIR}/modules (or
#      OUTPUT_DIRECTORY), compiled with -DMODIOMMU_BUILD_MODULE and hidden
#      visibility, linked against nothing of the host: its imports bind to
#      the host executable's exports (ENABLE_EXPORTS) at dlopen. The module
#      index is not built here (the host tool does not exist yet at build
#      time); the loader rebuilds a missing or stale index.
#   n  nothing.
# MODE is the default of the cache option MODIOMMU_DRIVER_<NAME> (upper
# case, '-' -> '_'), which overrides it. NO_OPTION marks a test module: no
# cache option, and (y) not put on the host's built-in lists.
# DEPS: layers whose headers the module uses (y: linked; m: headers only).
include(${CMAKE_CURRENT_LIST_DIR}/modiommu-module.cmake)

function(modiommu_module name)
  cmake_parse_arguments(M "NO_OPTION" "MODE;OUTPUT_DIRECTORY" "SOURCES;DEPS" ${ARGN})
  if(NOT M_MODE MATCHES "^(y|m|n)$")
    message(FATAL_ERROR "modiommu_module(${name}): MODE must be y, m or n (got '${M_MODE}')")
  endif()
  set(mode ${M_MODE})
  if(NOT M_NO_OPTION)
    string(TOUPPER "${name}" var)
    string(REPLACE "-" "_" var "${var}")
    set(MODIOMMU_DRIVER_${var} ${M_MODE} CACHE STRING "Build ${name}: y (built in), m (module), n (not at all)")
    set_property(CACHE MODIOMMU_DRIVER_${var} PROPERTY STRINGS y m n)
    set(mode ${MODIOMMU_DRIVER_${var}})
    if(NOT mode MATCHES "^(y|m|n)$")
      message(FATAL_ERROR "MODIOMMU_DRIVER_${var} must be y, m or n (got '${mode}')")
    endif()
  endif()
  if(mode STREQUAL "n")
    return()
  endif()
  if(mode STREQUAL "y")
    add_library(${name} OBJECT ${M_SOURCES})
    target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${name} PUBLIC ${M_DEPS})
    if(NOT M_NO_OPTION)
      set_property(GLOBAL APPEND PROPERTY MODIOMMU_BUILTIN_MODULES ${name})
      # modiommu_link_host() (cmake/modiommu.cmake) links this list.
      set_property(GLOBAL APPEND PROPERTY MODIOMMU_BUILTIN_DRIVERS ${name})
    endif()
    return()
  endif()
  add_library(${name} MODULE ${M_SOURCES})
  modiommu_module_flags(${name})  # cmake/modiommu-module.cmake, shared with out-of-tree modules
  if(NOT M_OUTPUT_DIRECTORY)
    set(M_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/modules)
  endif()
  set_target_properties(${name} PROPERTIES OUTPUT_NAME ${name} LIBRARY_OUTPUT_DIRECTORY ${M_OUTPUT_DIRECTORY})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  foreach(dep ${M_DEPS})
    if(TARGET ${dep})
      target_include_directories(${name} PRIVATE $<TARGET_PROPERTY:${dep},INTERFACE_INCLUDE_DIRECTORIES>)
      target_compile_definitions(${name} PRIVATE $<TARGET_PROPERTY:${dep},INTERFACE_COMPILE_DEFINITIONS>)
    endif()
  endforeach()
endfunction()
