# Fuzz regressions as ctests in ordinary (gcc, non-fuzz) builds: each fuzz
# target's source is linked with replay_main.cpp instead of libFuzzer, and a
# test replays fuzz/AREA/regressions/ (crash inputs kept by scripts/fuzz.sh)
# plus the committed seed corpus. Included from tests/ (fuzz/ itself is only
# added in the fuzz preset).
set(_fz ${PROJECT_SOURCE_DIR}/fuzz)
function(modiommu_fuzz_replay name area)
  cmake_parse_arguments(R "HOST" "" "SOURCES;LIBS" ${ARGN})
  add_executable(replay_${name} ${_fz}/replay_main.cpp ${R_SOURCES})
  target_link_libraries(replay_${name} PRIVATE ${R_LIBS})
  if(R_HOST)
    modiommu_link_host(replay_${name})
  endif()
  add_test(NAME fuzz.replay.${name}
    COMMAND replay_${name} ${_fz}/${area}/regressions ${_fz}/${area}/corpus
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(fuzz.replay.${name} PROPERTIES PASS_REGULAR_EXPRESSION "replayed [0-9]+ input")
endfunction()

modiommu_fuzz_replay(fuzz_smmuv3_cmdq hw SOURCES ${_fz}/hw/fuzz_smmuv3_cmdq.cpp LIBS modiommu_hw)
modiommu_fuzz_replay(fuzz_smmuv3_ste hw SOURCES ${_fz}/hw/fuzz_smmuv3_ste.cpp LIBS modiommu_hw)
modiommu_fuzz_replay(fuzz_smmuv2_regs hwv2 SOURCES ${_fz}/hwv2/fuzz_smmuv2_regs.cpp LIBS modiommu_hw)
modiommu_fuzz_replay(fuzz_rockchip_regs rockchip SOURCES ${_fz}/rockchip/fuzz_rockchip_regs.cpp LIBS modiommu_hw)
modiommu_fuzz_replay(fuzz_exynos_sysmmu exynos SOURCES ${_fz}/exynos/fuzz_exynos_sysmmu.cpp LIBS modiommu_hw)
modiommu_fuzz_replay(fuzz_ipmmu_regs ipmmu SOURCES ${_fz}/ipmmu/fuzz_ipmmu_regs.cpp LIBS modiommu_hw)
modiommu_fuzz_replay(fuzz_mtk_m4u mtk SOURCES ${_fz}/mtk/fuzz_mtk_m4u.cpp LIBS modiommu_hw)
modiommu_fuzz_replay(fuzz_qcom_regs qcom SOURCES ${_fz}/qcom/fuzz_qcom_regs.cpp LIBS modiommu_hw)
modiommu_fuzz_replay(fuzz_module_elf module SOURCES ${_fz}/module/fuzz_module_elf.cpp LIBS modiommu_module)
modiommu_fuzz_replay(fuzz_module_descriptor module SOURCES ${_fz}/module/fuzz_module_descriptor.cpp LIBS modiommu_module)
modiommu_fuzz_replay(fuzz_of_load of SOURCES ${_fz}/of/fuzz_of_load.cpp LIBS modiommu_of)
modiommu_fuzz_replay(fuzz_state_json of HOST SOURCES ${_fz}/of/fuzz_state_json.cpp LIBS modiommu_sim)
modiommu_fuzz_replay(fuzz_scenario sim HOST SOURCES ${_fz}/sim/fuzz_scenario.cpp LIBS modiommu_sim)
modiommu_fuzz_replay(fuzz_sun50i_regs sun50i SOURCES ${_fz}/sun50i/fuzz_sun50i_regs.cpp LIBS modiommu_hw)
