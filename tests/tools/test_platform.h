// A small board for the tools tests: an SMMUv3 (driver: module
// arm-smmu-v3), an IOMMU kind modiommu has no driver for
// (apple,t8103-dart),
// DMA masters with no driver of their own behind each, one without
// `iommus`, and a DMA test master (driver: module dmatest).
#pragma once

namespace modiommu::tools_test {

inline const char* kToolsBoard = R"(/dts-v1/;
/ {
	compatible = "modiommu,virt";
	#address-cells = <2>;
	#size-cells = <2>;
	interrupt-parent = <&gic>;
	memory@40000000 {
		device_type = "memory";
		reg = <0x0 0x40000000 0x0 0x10000000>;
	};
	gic: interrupt-controller@8000000 {
		compatible = "arm,gic-v3";
		#interrupt-cells = <3>;
		interrupt-controller;
		reg = <0x0 0x8000000 0x0 0x10000>, <0x0 0x80a0000 0x0 0xf60000>;
	};
	soc {
		compatible = "simple-bus";
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;
		smmu: iommu@9050000 {
			compatible = "arm,smmu-v3";
			reg = <0x0 0x9050000 0x0 0x20000>;
			interrupts = <0 74 1>, <0 75 1>, <0 77 1>, <0 79 1>;
			interrupt-names = "eventq", "priq", "cmdq-sync", "gerror";
			#iommu-cells = <1>;
		};
		vop_mmu: iommu@ff8f3f00 {
			compatible = "apple,t8103-dart";
			reg = <0x0 0xff8f3f00 0x0 0x100>;
			#iommu-cells = <1>;
		};
		video@12000000 {
			compatible = "acme,video";
			reg = <0x0 0x12000000 0x0 0x1000>;
			iommus = <&smmu 0x42>;
		};
		video@12001000 {
			compatible = "acme,video";
			reg = <0x0 0x12001000 0x0 0x1000>;
		};
		vop@ff8f0000 {
			compatible = "acme,vop";
			reg = <0x0 0xff8f0000 0x0 0x1000>;
			iommus = <&vop_mmu 0>;
		};
		dma@10000000 {
			compatible = "modiommu,dmatest";
			reg = <0x0 0x10000000 0x0 0x1000>;
			iommus = <&smmu 0x10>;
		};
	};
};
)";

}  // namespace modiommu::tools_test
