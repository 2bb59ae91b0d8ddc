// Generated platforms for the scale tests and benchmark: `masters` DMA
// masters behind one SMMUv3, master i with stream ID i and its own 4 KiB reg
// window. Written straight to a flattened device tree blob: dtc needs about
// 200 us a node, far longer than booting the tree. Masters sit in simple-bus
// groups of 500, as a .dts of them would have to be (dtc's parser cannot
// take 10,000 siblings in one node); scripts/gen-masters.py writes the same
// tree as .dts.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace modiommu::testing {

// The masters' registers: 4 KiB each from here up (above the 4 GiB of RAM).
inline constexpr uint64_t kMastersBase = 0x200000000ull;
inline constexpr uint32_t kMastersSmmuPhandle = 2;

// The device name master i gets (of_device_name: "<address>.m").
inline std::string master_name(uint64_t i) { return fmt::format("{:x}.m", kMastersBase + i * 0x1000); }

// A minimal flattened device tree writer (devicetree specification 5).
class FdtWriter {
 public:
  void begin_node(std::string_view name) {
    u32(1);  // FDT_BEGIN_NODE
    bytes(name.data(), name.size());
    pad_nul();
  }
  void end_node() { u32(2); }  // FDT_END_NODE
  void prop(std::string_view name, const std::vector<uint8_t>& value) {
    u32(3);  // FDT_PROP
    u32(static_cast<uint32_t>(value.size()));
    u32(string_offset(name));
    bytes(value.data(), value.size());
    while (structs_.size() % 4) structs_.push_back(0);
  }
  void prop_cells(std::string_view name, std::initializer_list<uint32_t> cells) {
    std::vector<uint8_t> v;
    for (uint32_t c : cells)
      for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(c >> s));
    prop(name, v);
  }
  void prop_strings(std::string_view name, std::initializer_list<std::string_view> strs) {
    std::vector<uint8_t> v;
    for (auto s : strs) {
      v.insert(v.end(), s.begin(), s.end());
      v.push_back(0);
    }
    prop(name, v);
  }
  void prop_empty(std::string_view name) { prop(name, {}); }

  std::vector<uint8_t> finish() {
    u32(9);  // FDT_END
    constexpr uint32_t kHeader = 40, kRsvmap = 16;
    const uint32_t off_struct = kHeader + kRsvmap;
    const uint32_t off_strings = off_struct + static_cast<uint32_t>(structs_.size());
    const uint32_t total = off_strings + static_cast<uint32_t>(strings_.size());
    std::vector<uint8_t> out;
    out.reserve(total);
    for (uint32_t w : {0xd00dfeedu, total, off_struct, off_strings, kHeader, 17u, 16u, 0u,
                       static_cast<uint32_t>(strings_.size()), static_cast<uint32_t>(structs_.size())})
      for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(w >> s));
    out.resize(off_struct, 0);  // the empty memory reservation map
    out.insert(out.end(), structs_.begin(), structs_.end());
    out.insert(out.end(), strings_.begin(), strings_.end());
    return out;
  }

 private:
  void u32(uint32_t w) {
    for (int s = 24; s >= 0; s -= 8) structs_.push_back(static_cast<uint8_t>(w >> s));
  }
  void bytes(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    structs_.insert(structs_.end(), b, b + n);
  }
  void pad_nul() {
    structs_.push_back(0);
    while (structs_.size() % 4) structs_.push_back(0);
  }
  uint32_t string_offset(std::string_view name) {
    auto it = offsets_.find(std::string(name));
    if (it != offsets_.end()) return it->second;
    const uint32_t off = static_cast<uint32_t>(strings_.size());
    strings_.insert(strings_.end(), name.begin(), name.end());
    strings_.push_back('\0');
    offsets_.emplace(name, off);
    return off;
  }

  std::vector<uint8_t> structs_;
  std::string strings_;
  std::map<std::string, uint32_t> offsets_;
};

// `compatible` is every master's: a made-up kind (no driver but the generic
// endpoint) or "modiommu,dmatest" (an emulated DMA master each). `sid_of(i)`
// is master i's stream ID (default i). The SMMU's model gets enough stream
// ID bits for the largest ID (at least QEMU's 16).
template <class SidOf>
std::vector<uint8_t> masters_platform_dtb(uint64_t masters, std::string_view compatible, SidOf sid_of) {
  uint32_t max_sid = 0;
  for (uint64_t i = 0; i < masters; ++i) max_sid = std::max<uint32_t>(max_sid, sid_of(i));
  uint32_t sid_bits = 16;
  while (sid_bits < 32 && (uint64_t{max_sid} >> sid_bits)) ++sid_bits;

  FdtWriter w;
  w.begin_node("");
  w.prop_cells("#address-cells", {2});
  w.prop_cells("#size-cells", {2});
  w.prop_strings("compatible", {"modiommu,virt"});
  w.prop_cells("interrupt-parent", {1});
  w.begin_node("memory@40000000");
  w.prop_strings("device_type", {"memory"});
  w.prop_cells("reg", {0, 0x40000000, 1, 0});  // 4 GiB: each master's DMA domain has its own page tables
  w.end_node();
  w.begin_node("interrupt-controller@8000000");
  w.prop_strings("compatible", {"arm,gic-v3"});
  w.prop_cells("#interrupt-cells", {3});
  w.prop_cells("#address-cells", {0});
  w.prop_empty("interrupt-controller");
  w.prop_cells("reg", {0, 0x8000000, 0, 0x10000});
  w.prop_cells("phandle", {1});
  w.end_node();
  w.begin_node("soc");
  w.prop_strings("compatible", {"simple-bus"});
  w.prop_cells("#address-cells", {2});
  w.prop_cells("#size-cells", {2});
  w.prop_empty("ranges");
  w.begin_node("iommu@9050000");
  w.prop_strings("compatible", {"arm,smmu-v3"});
  w.prop_cells("reg", {0, 0x9050000, 0, 0x20000});
  w.prop_cells("interrupts", {0, 74, 1, 0, 75, 1, 0, 77, 1, 0, 79, 1});
  w.prop_strings("interrupt-names", {"eventq", "priq", "cmdq-sync", "gerror"});
  w.prop_empty("dma-coherent");
  w.prop_cells("#iommu-cells", {1});
  if (sid_bits > 16) w.prop_cells("modiommu,sid-bits", {sid_bits});
  w.prop_cells("phandle", {kMastersSmmuPhandle});
  w.end_node();
  w.end_node();
  constexpr uint64_t kGroup = 500;
  for (uint64_t g = 0; g * kGroup < masters; ++g) {
    w.begin_node(fmt::format("bus{}", g));
    w.prop_strings("compatible", {"simple-bus"});
    w.prop_cells("#address-cells", {2});
    w.prop_cells("#size-cells", {2});
    w.prop_empty("ranges");
    for (uint64_t i = g * kGroup; i < std::min(masters, (g + 1) * kGroup); ++i) {
      const uint64_t a = kMastersBase + i * 0x1000;
      w.begin_node(fmt::format("m@{:x}", a));
      w.prop_strings("compatible", {compatible});
      w.prop_cells("reg", {static_cast<uint32_t>(a >> 32), static_cast<uint32_t>(a), 0, 0x1000});
      w.prop_cells("iommus", {kMastersSmmuPhandle, sid_of(i)});
      w.end_node();
    }
    w.end_node();
  }
  w.end_node();
  return w.finish();
}

inline std::vector<uint8_t> masters_platform_dtb(uint64_t masters, std::string_view compatible) {
  return masters_platform_dtb(masters, compatible, [](uint64_t i) { return static_cast<uint32_t>(i); });
}

}  // namespace modiommu::testing
