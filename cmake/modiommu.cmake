# Helpers shared by every layer's CMakeLists.txt.

# modiommu_layer(NAME SOURCES ... [DEPS ...]): one static library per layer
# (src/<layer>), linked whole into the host so every MODIOMMU_API symbol is
# there for modules to bind to.
function(modiommu_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;DEPS" ${ARGN})
  add_library(modiommu_${name} STATIC ${L_SOURCES})
  target_include_directories(modiommu_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(modiommu_${name} PUBLIC ${L_DEPS})
  set_property(GLOBAL APPEND PROPERTY MODIOMMU_LAYERS modiommu_${name})
endfunction()

# The larger device-tree corpus (e.g. the 220 Debian arm64 trees + QEMU virt
# trees the team keeps in ../shared/corpus) is optional: the repository
# carries the trees its own tests need (tests/corpus). Given, the tests that
# walk whole corpora run a second time over it (CTest label `corpus`).
set(MODIOMMU_CORPUS_DIR "" CACHE PATH "An optional larger device-tree corpus (tests labelled corpus, benchmarks)")
if(MODIOMMU_CORPUS_DIR AND NOT IS_DIRECTORY "${MODIOMMU_CORPUS_DIR}")
  message(FATAL_ERROR "MODIOMMU_CORPUS_DIR=${MODIOMMU_CORPUS_DIR} is not a directory")
endif()
if(MODIOMMU_CORPUS_DIR)
  get_filename_component(MODIOMMU_CORPUS_DIR_ABS "${MODIOMMU_CORPUS_DIR}" ABSOLUTE)
elseif(MODIOMMU_TESTS)
  message(STATUS "MODIOMMU_CORPUS_DIR not given: the tests over a larger device-tree corpus (label corpus) "
                 "are not run; the bundled tests/corpus is")
endif()

# modiommu_test(NAME [SERIAL] SOURCES ... [LIBS ...]): a GoogleTest
# executable whose tests CTest discovers. Test executables export their
# symbols like the host does, so tests can insmod real modules.
# SERIAL: no test in it starts a thread (no DMA engine, no event thread, no
# concurrent check), so ThreadSanitizer has nothing to find there; the tsan
# build leaves it out (not built, not run) and spends CI time on the tests
# where threads meet.
function(modiommu_test name)
  cmake_parse_arguments(T "SERIAL" "" "SOURCES;LIBS" ${ARGN})
  set(skip_discovery OFF)
  if(T_SERIAL AND MODIOMMU_SANITIZE STREQUAL "thread")
    set(skip_discovery ON)
  endif()
  set_property(GLOBAL PROPERTY MODIOMMU_TEST_SKIPPED_${name} ${skip_discovery})
  if(skip_discovery)
    # Still defined (other CMakeLists add dependencies to it), never built.
    add_executable(${name} EXCLUDE_FROM_ALL ${T_SOURCES})
  else()
    add_executable(${name} ${T_SOURCES})
  endif()
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  modiommu_link_host(${name})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/include)
  # Where the tree and the build are (the host binary, build/modules).
  target_compile_definitions(${name} PRIVATE MODIOMMU_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                             MODIOMMU_TEST_BINARY_DIR="${PROJECT_BINARY_DIR}")
  # One variable per property: gtest_discover_tests splits a ;-list into
  # separate arguments. The larger corpus is only for the `corpus` tests.
  if(skip_discovery)
    return()
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "MODIOMMU_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
               ENVIRONMENT_MODIFICATION "MODIOMMU_CORPUS_DIR=unset:")
endfunction()

# modiommu_corpus_tests(TARGET FILTER): the tests of TARGET matching the
# gtest FILTER walk whole corpora; with MODIOMMU_CORPUS_DIR they run again
# over it, as "corpus.<test>" with the label `corpus`.
function(modiommu_corpus_tests name filter)
  get_property(skipped GLOBAL PROPERTY MODIOMMU_TEST_SKIPPED_${name})
  if(NOT MODIOMMU_CORPUS_DIR OR skipped)
    return()
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 TEST_FILTER "${filter}" TEST_PREFIX "corpus."
    PROPERTIES LABELS corpus ENVIRONMENT "MODIOMMU_CORPUS_DIR=${MODIOMMU_CORPUS_DIR_ABS}")
endfunction()

# modiommu_fuzzer(NAME SOURCES ... [LIBS ...]): a libFuzzer target.
function(modiommu_fuzzer name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()

# modiommu_link_host(TARGET): link the whole kernel (every layer, whole
# archive, plus the built-in drivers) into an executable that exports the
# host API to modules.
function(modiommu_link_host target)
  get_property(layers GLOBAL PROPERTY MODIOMMU_LAYERS)
  get_property(builtin GLOBAL PROPERTY MODIOMMU_BUILTIN_DRIVERS)
  set(whole)
  foreach(l ${layers})
    list(APPEND whole $<TARGET_FILE:${l}>)
  endforeach()
  # Whole archives first (so nothing a module may bind to is left out), then
  # the same libraries normally for their usage requirements.
  target_link_options(${target} PRIVATE "LINKER:--whole-archive" ${whole} "LINKER:--no-whole-archive")
  target_link_libraries(${target} PRIVATE ${layers} ${builtin} Threads::Threads ${CMAKE_DL_LIBS})
  add_dependencies(${target} ${layers})
  set_target_properties(${target} PROPERTIES ENABLE_EXPORTS ON)
endfunction()
