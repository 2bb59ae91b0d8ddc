// Runs the host binary (`modiommu ARGS --json`) and compares final states:
// shared by the tests that prove built-in, preloaded and autoloaded drivers
// reach the same state.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace modiommu::testing {

// The JSON document the host binary printed, or a discarded value.
inline nlohmann::json run_host_json(const std::string& binary_dir, const std::string& args) {
  const std::string cmd = binary_dir + "/modiommu " + args + " --json 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return nlohmann::json::value_t::discarded;
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  return nlohmann::json::parse(out, nullptr, false);
}

// The facts that must not depend on how a driver arrived.
inline nlohmann::json state_projection(const nlohmann::json& state) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : state["devices"])
    out.push_back({d["name"], d["state"], d["driver"], d["iommu"], d["stream_ids"], d["domain"]});
  return out;
}

}  // namespace modiommu::testing
