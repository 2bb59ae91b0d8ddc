#!/usr/bin/env python3
"""Writes a .dts of N DMA masters behind one SMMUv3 to stdout: master i has
stream ID i and its own 4 KiB reg window, in simple-bus groups of 500 (dtc's
parser cannot take 10,000 siblings in one node). The tree is the one
tests/include/masters_platform.h builds as a blob.

    scripts/gen-masters.py N [COMPATIBLE] > masters.dts
    dtc -q -I dts -O dtb -o masters.dtb masters.dts
    modiommu boot masters.dtb --generic-endpoints
"""
import sys

n = int(sys.argv[1])
compatible = sys.argv[2] if len(sys.argv) > 2 else "acme,widget"
sid_bits = max(16, (n - 1).bit_length())
out = ["/dts-v1/;", "/ {", "\t#address-cells = <2>;", "\t#size-cells = <2>;", '\tcompatible = "modiommu,virt";',
       "\tinterrupt-parent = <&gic>;",
       '\tmemory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x1 0x0>; };',
       '\tgic: interrupt-controller@8000000 { compatible = "arm,gic-v3"; #interrupt-cells = <3>; '
       "#address-cells = <0>; interrupt-controller; reg = <0x0 0x8000000 0x0 0x10000>; };",
       '\tsoc { compatible = "simple-bus"; #address-cells = <2>; #size-cells = <2>; ranges;',
       '\t\tsmmu: iommu@9050000 { compatible = "arm,smmu-v3"; reg = <0x0 0x9050000 0x0 0x20000>; '
       "interrupts = <0 74 1>, <0 75 1>, <0 77 1>, <0 79 1>; "
       'interrupt-names = "eventq", "priq", "cmdq-sync", "gerror"; dma-coherent; #iommu-cells = <1>;'
       + (f" modiommu,sid-bits = <{sid_bits}>;" if sid_bits > 16 else "") + " };",
       "\t};"]
GROUP = 500
for g in range(0, n, GROUP):
    out.append(f'\tbus{g // GROUP} {{ compatible = "simple-bus"; #address-cells = <2>; #size-cells = <2>; ranges;')
    for i in range(g, min(n, g + GROUP)):
        a = 0x200000000 + i * 0x1000
        out.append(f'\t\tm@{a:x} {{ compatible = "{compatible}"; reg = <{a >> 32:#x} {a & 0xffffffff:#x} 0x0 0x1000>; '
                   f"iommus = <&smmu {i:#x}>; }};")
    out.append("\t};")
out.append("};")
print("\n".join(out))
