# `cmake --install`: the modiommu command, its modules and platforms, and
# the SDK out-of-tree driver modules build against (issue "Out-of-tree
# driver modules"; docs/writing-a-driver.md):
#
#   bin/modiommu
#   lib/modiommu/modules/*.so + modules.dep   (the command's default)
#   share/modiommu/platforms/*.dts
#   include/modiommu/<layer>/*.h              the driver API, nothing more
#   lib/cmake/modiommu/                       find_package(modiommu)
#   lib/pkgconfig/modiommu.pc                 for other build systems
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The headers a driver may include: the driver context and every header it
# reaches (tests/sdk compiles all of them against the installed tree alone,
# so a missing one fails there), plus the exported API of the virtio core
# module (a driver module's API, as Linux installs include/linux/virtio.h).
# Nothing of hw/ but the RAM a driver may touch.
set(MODIOMMU_SDK_HEADERS
  base/api.h base/bitfield.h base/fault_inject.h base/result.h
  core/bus.h core/clock.h core/device.h core/driver.h core/driver_core.h core/link.h core/log.h
  core/of_platform.h core/owner.h core/pci.h core/snapshot.h core/wait.h
  hw/memory.h
  iommu/dma.h iommu/io_pgtable.h iommu/iommu.h iommu/iommu_core.h
  kernel/driver_context.h kernel/driver_module.h kernel/endpoint.h kernel/io.h
  mm/page_alloc.h
  module/abi.h module/module.h
  of/tree.h
  uapi/dmatest.h uapi/pci_regs.h uapi/virtio_config.h uapi/virtio_iommu.h uapi/virtio_mmio.h uapi/virtio_pci.h
  drivers/virtio/virtio.h)
set(MODIOMMU_SDK_HEADERS ${MODIOMMU_SDK_HEADERS} CACHE INTERNAL "headers installed for out-of-tree modules")

# The driver API version is the module ABI version (src/module/abi.h): one
# number, read from the header so it cannot drift.
file(STRINGS ${PROJECT_SOURCE_DIR}/src/module/abi.h abi_line REGEX "kModuleAbiVersion = [0-9]+")
string(REGEX REPLACE ".*kModuleAbiVersion = ([0-9]+).*" "\\1" MODIOMMU_ABI_VERSION "${abi_line}")
set(MODIOMMU_ABI_VERSION ${MODIOMMU_ABI_VERSION} CACHE INTERNAL "module ABI (driver API) version")

install(TARGETS modiommu RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
set(MODIOMMU_INSTALL_MODULEDIR ${CMAKE_INSTALL_LIBDIR}/modiommu/modules)
install(DIRECTORY ${CMAKE_BINARY_DIR}/modules/ DESTINATION ${MODIOMMU_INSTALL_MODULEDIR}
        FILES_MATCHING PATTERN "*.so")
# The index is built where the modules land, so a read-only prefix needs no
# write at run time (the loader would rebuild a missing one).
install(CODE "execute_process(COMMAND \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/modiommu\" depmod
                \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${MODIOMMU_INSTALL_MODULEDIR}\" RESULT_VARIABLE rc)
              if(NOT rc EQUAL 0)
                message(FATAL_ERROR \"modiommu depmod failed (\${rc})\")
              endif()")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/platforms/ DESTINATION ${CMAKE_INSTALL_DATADIR}/modiommu/platforms)
foreach(h ${MODIOMMU_SDK_HEADERS})
  get_filename_component(dir ${h} DIRECTORY)
  install(FILES ${PROJECT_SOURCE_DIR}/src/${h} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/modiommu/${dir})
endforeach()

set(cfgdir ${CMAKE_INSTALL_LIBDIR}/cmake/modiommu)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/modiommuConfig.cmake.in
  ${CMAKE_BINARY_DIR}/sdk/modiommuConfig.cmake INSTALL_DESTINATION ${cfgdir}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR MODIOMMU_INSTALL_MODULEDIR CMAKE_INSTALL_DATADIR)
# Modules bind to the host's symbols: a package of another minor version
# (0.1 vs 0.2) may have another ABI, so only the same minor matches.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/sdk/modiommuConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/sdk/modiommuConfig.cmake ${CMAKE_BINARY_DIR}/sdk/modiommuConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/modiommu-module.cmake DESTINATION ${cfgdir})
# The .pc file finds the prefix from where it lies (relocatable prefix).
file(RELATIVE_PATH MODIOMMU_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/modiommu.pc.in ${CMAKE_BINARY_DIR}/sdk/modiommu.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/sdk/modiommu.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
