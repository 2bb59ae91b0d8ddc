// The registry of device models: every model_*.cpp factory, in one list.
#include "board/models.h"

namespace modiommu {

std::vector<ModelFactory>& model_factories() {
  // Compatibles do not overlap between models, so the order decides no match.
  static std::vector<ModelFactory> f = {arm_smmu_model(), virtio_mmio_model(), pci_ecam_model(), smmuv3_model(),
                                        dmatest_model(), rockchip_iommu_model(), ipmmu_model(), mtk_iommu_model(),
                                        mtk_smi_larb_model(),
                                        tegra_smmu_model(), qcom_iommu_model(), qcom_iommu_ctx_model(),
                                        sun50i_iommu_model(), exynos_sysmmu_model()};
  return f;
}

}  // namespace modiommu
