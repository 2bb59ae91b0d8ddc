// The device models the board builds, one file each (model_*.cpp). Each
// gives its factory here and models.cpp lists them all: one way in for
// every model, with no static initialiser for a linker to drop or order.
#pragma once

#include "board/platform.h"

namespace modiommu {

ModelFactory arm_smmu_model();     // model_arm_smmu.cpp
ModelFactory virtio_mmio_model();  // model_virtio.cpp
ModelFactory pci_ecam_model();     // model_pci_ecam.cpp
ModelFactory smmuv3_model();       // model_smmuv3.cpp
ModelFactory dmatest_model();      // model_dmatest.cpp
ModelFactory rockchip_iommu_model();  // model_rockchip_iommu.cpp
ModelFactory tegra_smmu_model();      // model_tegra_smmu.cpp
ModelFactory exynos_sysmmu_model();   // model_exynos_sysmmu.cpp
ModelFactory ipmmu_model();        // model_ipmmu.cpp
ModelFactory mtk_iommu_model();    // model_mtk_iommu.cpp
ModelFactory mtk_smi_larb_model(); // model_mtk_iommu.cpp
ModelFactory qcom_iommu_model();      // model_qcom_iommu.cpp
ModelFactory qcom_iommu_ctx_model();  // model_qcom_iommu.cpp
ModelFactory sun50i_iommu_model(); // model_sun50i_iommu.cpp

}  // namespace modiommu
