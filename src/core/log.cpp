#include "core/log.h"

namespace modiommu {
namespace {

bool contains(const LogEntry& e, std::string_view needle) {
  return e.message.find(needle) != std::string::npos || e.subject.find(needle) != std::string::npos;
}

}  // namespace

std::string LogEntry::format() const {
  const char* tag = level == LogLevel::warn ? "WARNING: " : level == LogLevel::err ? "ERROR: " : "";
  return fmt::format("[{:5}.{:06}] {}{}{}{}", time / kNsPerSec, (time % kNsPerSec) / 1000, subject,
                     subject.empty() ? "" : ": ", tag, message);
}

void Log::write(LogLevel level, std::string subject, std::string message) {
  if (level < min_level_) return;
  LogEntry e{clock_.now(), level, std::move(subject), std::move(message)};
  std::function<void(const LogEntry&)> sink;
  {
    std::lock_guard g(lock_);
    for (auto& w : watches_) w.count += contains(e, w.needle);
    entries_.push_back(e);
    sink = sink_;
  }
  if (sink) sink(e);
}

std::vector<LogEntry> Log::entries() const {
  std::lock_guard g(lock_);
  return entries_;
}

size_t Log::size() const {
  std::lock_guard g(lock_);
  return entries_.size();
}

size_t Log::count(std::string_view needle) const {
  std::lock_guard g(lock_);
  for (const auto& w : watches_)
    if (w.needle == needle) return w.count;
  return scan_locked(needle);
}

void Log::watch(std::string needle) {
  std::lock_guard g(lock_);
  for (const auto& w : watches_)
    if (w.needle == needle) return;
  const size_t n = scan_locked(needle);
  watches_.push_back({std::move(needle), n});
}

size_t Log::scan_locked(std::string_view needle) const {
  size_t n = 0;
  for (const auto& e : entries_) n += contains(e, needle);
  return n;
}

void Log::set_sink(std::function<void(const LogEntry&)> sink) {
  std::lock_guard g(lock_);
  sink_ = std::move(sink);
}

}  // namespace modiommu
