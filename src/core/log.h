// The kernel log (dmesg): virtual timestamp, level, subject (a device or
// module name) and message. Thread-safe; an optional sink echoes each line as
// it is written (the CLI prints the boot log this way).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/api.h"
#include "core/clock.h"

namespace modiommu {

enum class LogLevel { debug, info, warn, err };

struct LogEntry {
  VirtualClock::Nanos time = 0;
  LogLevel level = LogLevel::info;
  std::string subject;
  std::string message;
  // "[    0.000010] 10000000.dma: bound to driver test-supplier"
  MODIOMMU_API std::string format() const;
};

class MODIOMMU_API Log {
 public:
  explicit Log(const VirtualClock& clock) : clock_(clock) {}
  void write(LogLevel level, std::string subject, std::string message);
  template <class... A>
  void info(std::string subject, fmt::format_string<A...> f, A&&... a) {
    write(LogLevel::info, std::move(subject), fmt::format(f, std::forward<A>(a)...));
  }
  template <class... A>
  void warn(std::string subject, fmt::format_string<A...> f, A&&... a) {
    write(LogLevel::warn, std::move(subject), fmt::format(f, std::forward<A>(a)...));
  }
  template <class... A>
  void err(std::string subject, fmt::format_string<A...> f, A&&... a) {
    write(LogLevel::err, std::move(subject), fmt::format(f, std::forward<A>(a)...));
  }
  template <class... A>
  void debug(std::string subject, fmt::format_string<A...> f, A&&... a) {
    if (min_level_ > LogLevel::debug) return;
    write(LogLevel::debug, std::move(subject), fmt::format(f, std::forward<A>(a)...));
  }
  std::vector<LogEntry> entries() const;
  size_t size() const;
  // Lines containing `needle` (in subject or message; tests and `expect`
  // use it). A scan of the whole log, unless the needle is watched.
  size_t count(std::string_view needle) const;
  // From now on count(needle) is kept as lines are written, so it costs
  // the same however long the log grows (the simulator checks its
  // invariants every step). Idempotent.
  void watch(std::string needle);
  void set_sink(std::function<void(const LogEntry&)> sink);
  void set_min_level(LogLevel l) { min_level_ = l; }

 private:
  size_t scan_locked(std::string_view needle) const;

  const VirtualClock& clock_;
  mutable std::mutex lock_;  // docs/architecture.md "Locks"
  std::vector<LogEntry> entries_;
  struct Watch {
    std::string needle;
    size_t count = 0;
  };
  std::vector<Watch> watches_;  // few: a linear search beats a map
  std::function<void(const LogEntry&)> sink_;
  LogLevel min_level_ = LogLevel::info;
};

}  // namespace modiommu
