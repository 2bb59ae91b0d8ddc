// Running the device-tree compiler (dtc) as a child process: no shell, a
// private temp directory, stderr captured for error messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/api.h"
#include "base/result.h"

namespace modiommu::of {

struct DtcOutput {
  int exit_code = 0;          // dtc's exit status (128+N when killed by signal N)
  std::vector<uint8_t> out;   // what dtc wrote to stdout
  std::string err;            // what dtc wrote to stderr
};

// The dtc binary used: the configure-time MODIOMMU_DTC if executable, else
// "dtc" looked up on PATH.
MODIOMMU_API std::string dtc_program();

// Runs dtc with `args` (not including argv[0]); `stdin_file` (or /dev/null)
// is its stdin. Error only when dtc cannot be started or is killed after
// `timeout_ms` (a runaway /include/ of a device file, say).
MODIOMMU_API Result<DtcOutput> run_dtc(const std::vector<std::string>& args, const std::string& stdin_file = "",
                                       int timeout_ms = 60000);

}  // namespace modiommu::of
