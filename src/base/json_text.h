// JSON as text for output. Device trees, file names and module descriptors
// carry bytes that are not always UTF-8; nlohmann throws on those by
// default, so every dump goes through here and they become U+FFFD.
// Header-only: the layers that build JSON link nlohmann themselves.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace modiommu {

inline std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace modiommu
