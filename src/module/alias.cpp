#include "module/alias.h"

#include <fmt/format.h>

#include <vector>

namespace modiommu {

bool alias_matches(std::string_view p, std::string_view s) {
  // Iterative glob with single-star backtracking: O(|p| * |s|) worst case,
  // no recursion, so hostile patterns cannot blow the stack.
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

Status validate_alias(std::string_view a) {
  if (a.size() > 256) return make_error(Errc::inval, fmt::format("alias '{}...' longer than 256 bytes", a.substr(0, 32)));
  for (char c : a)
    if (c < 0x21 || c > 0x7e)
      return make_error(Errc::inval, fmt::format("alias '{}' has a non-printable or space character", a));
  size_t colon = a.find(':');
  if (colon == std::string_view::npos || colon + 1 == a.size())
    return make_error(Errc::inval, fmt::format("alias '{}' is not '<bus>:<id>'", a));
  std::string_view bus = a.substr(0, colon);
  if (bus != "of" && bus != "pci" && bus != "virtio" && bus != "platform")
    return make_error(Errc::inval, fmt::format("alias '{}': unknown bus '{}' (of, pci, virtio, platform)", a, bus));
  return {};
}

std::string of_modalias(std::string_view compatible) { return fmt::format("of:{}", compatible); }

std::string pci_modalias(uint16_t vendor, uint16_t device) {
  return fmt::format("pci:v{:08X}d{:08X}", vendor, device);
}

std::string virtio_modalias(uint32_t device_id, std::optional<uint32_t> vendor) {
  if (!vendor) return fmt::format("virtio:d{:08X}v*", device_id);
  return fmt::format("virtio:d{:08X}v{:08X}", device_id, *vendor);
}

bool alias_matches_of_compatible(std::string_view alias, std::string_view compatible) {
  return alias_matches(alias, of_modalias(compatible));
}

bool alias_matches_pci(std::string_view alias, uint16_t vendor, uint16_t device) {
  return alias_matches(alias, pci_modalias(vendor, device));
}

bool alias_matches_virtio(std::string_view alias, uint32_t device_id) {
  // The device announces a concrete vendor; any vendor should match a
  // module alias that names only the device ID.
  return alias_matches(alias, fmt::format("virtio:d{:08X}v{:08X}", device_id, 0u)) ||
         alias_matches(alias, fmt::format("virtio:d{:08X}", device_id));
}

}  // namespace modiommu
