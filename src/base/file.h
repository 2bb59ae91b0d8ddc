// Reading a whole input file (a device tree, a scenario, an index) without
// trusting it: only a regular file or a pipe, and never more than a cap, so
// /dev/zero, a directory or an endless pipe is an error, not a hang.
#pragma once

#include <cstddef>
#include <string>

#include "base/api.h"
#include "base/result.h"

namespace modiommu {

// The file's bytes. Errors name the path and say what it is: "is a
// directory", "is a character device, not a regular file", "larger than
// N MiB", or the errno text (EACCES reads "Permission denied").
// A pipe or fifo is read too (up to the cap; a fifo's open waits for its
// writer) unless `regular_only`.
MODIOMMU_API Result<std::string> read_file_capped(const std::string& path, size_t max_bytes, bool regular_only = false);

}  // namespace modiommu
