// A QEMU-virt-like tree (as the team corpus's qemu-virt/virt-virtio-iommu.dts, bundled in tests/corpus/qemu-virt)
// with its PCI functions described: a virtio-iommu at 00:06.0 whose own
// requester ID (0x30) the host bridge's iommu-map leaves out, DMA test
// functions at 00:01.0 and 01:01.0 (below a root port at 00:03.0), and
// QEMU's interrupt-map (slot s, pin p -> SPI 3 + (s + p - 1) mod 4, GIC with
// two address cells).
#pragma once

#include <string>

#include <fmt/format.h>

namespace modiommu::vpcitest {

inline std::string qemu_interrupt_map() {
  std::string m;
  for (unsigned slot = 0; slot < 4; ++slot)
    for (unsigned pin = 1; pin <= 4; ++pin)
      m += fmt::format(" {:#x} 0x0 0x0 {} &gic 0x0 0x0 0x0 {} 0x4", slot << 11, pin, 3 + (slot + pin - 1) % 4);
  return m;
}

inline std::string board_dts(const std::string& iommu_map = "0x0 &viommu 0x0 0x30 0x31 &viommu 0x31 0xffcf",
                             bool with_interrupt_map = true) {
  return fmt::format(R"(/dts-v1/;
/ {{
	compatible = "linux,dummy-virt";
	#address-cells = <2>;
	#size-cells = <2>;
	interrupt-parent = <&gic>;

	memory@40000000 {{
		device_type = "memory";
		reg = <0x0 0x40000000 0x0 0x40000000>;
	}};

	gic: intc@8000000 {{
		compatible = "arm,cortex-a15-gic";
		#interrupt-cells = <3>;
		#address-cells = <2>;
		#size-cells = <2>;
		interrupt-controller;
		reg = <0x0 0x8000000 0x0 0x10000 0x0 0x8010000 0x0 0x10000>;
	}};

	pcie@10000000 {{
		compatible = "pci-host-ecam-generic";
		device_type = "pci";
		reg = <0x40 0x10000000 0x0 0x1000000>;
		bus-range = <0x0 0xf>;
		#address-cells = <3>;
		#size-cells = <2>;
		#interrupt-cells = <1>;
		ranges = <0x02000000 0x0 0x10000000 0x0 0x10000000 0x0 0x2eff0000>;
		{}
		iommu-map = <{}>;
		dma-coherent;

		dma@1,0 {{
			compatible = "modiommu,dmatest-pci";
			reg = <0x0800 0x0 0x0 0x0 0x0>;
		}};

		pcie@3,0 {{
			compatible = "pciclass,0604";
			reg = <0x1800 0x0 0x0 0x0 0x0>;
			#address-cells = <3>;
			#size-cells = <2>;

			dma@1,0 {{
				compatible = "modiommu,dmatest-pci";
				reg = <0x10800 0x0 0x0 0x0 0x0>;
			}};
		}};

		viommu: virtio_iommu@6,0 {{
			#iommu-cells = <1>;
			reg = <0x3000 0x0 0x0 0x0 0x0>;
			compatible = "virtio,pci-iommu", "pci1af4,1057";
		}};
	}};
}};
)",
                     with_interrupt_map
                         ? "interrupt-map-mask = <0x1800 0x0 0x0 0x7>;\n\t\tinterrupt-map = <" + qemu_interrupt_map() + ">;"
                         : std::string(),
                     iommu_map);
}

}  // namespace modiommu::vpcitest
