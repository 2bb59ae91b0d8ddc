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

// What one dtc run may use. dtc loops on some hostile input (a cell count
// of 0xffffffff) and reads an /include/d device file without end, so its
// CPU time, memory, output and wall time are all bounded.
struct DtcLimits {
  int timeout_ms = 30000;
  unsigned cpu_seconds = 5;  // real trees compile in well under a second
  uint64_t memory_bytes = 1ull << 30;
  uint64_t output_bytes = 256ull << 20;
};

// Runs dtc with `args` (not including argv[0]); `stdin_file` (or /dev/null)
// is its stdin. Error when dtc cannot be started, or is stopped by a limit
// (the message says which); otherwise dtc's own exit status and output.
MODIOMMU_API Result<DtcOutput> run_dtc(const std::vector<std::string>& args, const std::string& stdin_file = "",
                                       const DtcLimits& limits = {});

}  // namespace modiommu::of
