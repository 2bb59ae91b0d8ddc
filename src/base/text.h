// Bytes from outside (device trees, file names, module descriptors) are
// not always UTF-8, but JSON and terminals want it: check, and make safe.
#pragma once

#include <string>
#include <string_view>

#include "base/api.h"

namespace modiommu {

// Well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
MODIOMMU_API bool is_utf8(std::string_view s);
// `s` with every byte that is not part of a well-formed UTF-8 sequence
// written as \xNN, so the text stays readable and says what was there.
MODIOMMU_API std::string utf8_escaped(std::string_view s);

}  // namespace modiommu
