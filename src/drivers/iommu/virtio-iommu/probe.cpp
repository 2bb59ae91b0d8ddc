// PROBE requests (5.13.6.8): per-endpoint properties, of which this driver
// uses RESV_MEM (reserved and MSI regions it must not map). The property
// list comes from the device and is checked as hostile input.
#include <cstring>

#include <fmt/format.h>

#include "core/device.h"
#include "drivers/iommu/virtio-iommu/virtio-iommu.h"
#include "kernel/driver_context.h"

namespace modiommu::virtio_iommu {
namespace {

// 5.13.6.8: the type is the low 12 bits of the property header's type.
constexpr uint16_t kPropTypeMask = 0xfff;
constexpr size_t kPropHeader = 4;

}  // namespace

Status VIommu::probe_endpoint(Master& m, uint32_t ep) {
  uv::ProbeBody b{};
  b.endpoint = ep;
  std::vector<uint8_t> props;
  const std::string who = fmt::format("{} endpoint {:#x}", m.dev ? m.dev->name() : "?", ep);
  TRY(request(uv::kReqProbe, &b, sizeof b, who, &props));
  return parse_probe(m, ep, props);
}

Status VIommu::parse_probe(Master& m, uint32_t ep, const std::vector<uint8_t>& props) {
  const std::string who = m.dev ? m.dev->name() : "?";
  size_t off = 0;
  // Properties follow one another until PROBE_T_NONE or the end of the
  // buffer (5.13.6.8.1).
  while (off + kPropHeader <= props.size()) {
    uint16_t type = 0, len = 0;
    std::memcpy(&type, props.data() + off, 2);
    std::memcpy(&len, props.data() + off + 2, 2);
    type &= kPropTypeMask;
    if (type == uv::kProbeTNone) break;
    if (off + kPropHeader + len > props.size())
      return make_error(Errc::inval, fmt::format("{}: PROBE of {} endpoint {:#x}: property type {} at offset {} has "
                                                 "length {} beyond probe_size {}", name_, who, ep, type, off, len,
                                                 props.size()));
    if (type == uv::kProbeTResvMem) {
      uv::ProbeResvMem p{};
      if (len < sizeof p - kPropHeader)
        return make_error(Errc::inval, fmt::format("{}: PROBE of {} endpoint {:#x}: RESV_MEM at offset {} has length {}, "
                                                   "needs {}", name_, who, ep, off, len, sizeof p - kPropHeader));
      std::memcpy(&p, props.data() + off, sizeof p);
      const uint64_t start = p.start, end = p.end;  // out of the packed struct
      if (start > end)
        return make_error(Errc::inval, fmt::format("{}: PROBE of {} endpoint {:#x}: RESV_MEM at offset {} has start "
                                                   "{:#x} above end {:#x}", name_, who, ep, off, start, end));
      // Unknown subtypes are treated as RESERVED (5.13.6.8.2.2): never mapped.
      const bool msi = p.subtype == uv::kResvMemTMsi;
      m.resv.push_back({p.subtype, start, end});
      ctx_.log().info(name_, "{} endpoint {:#x}: reserved {} region [{:#x}, {:#x}]", who, ep, msi ? "MSI" : "memory",
                    start, end);
    }
    // Other property types are not used by this driver: skipped.
    off += kPropHeader + len;
  }
  return {};
}

}  // namespace modiommu::virtio_iommu
