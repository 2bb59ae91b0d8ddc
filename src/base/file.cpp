#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace modiommu {

namespace {

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a fifo";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

std::string size_text(size_t n) {
  return n % (1u << 20) == 0 ? fmt::format("{} MiB", n >> 20) : fmt::format("{} bytes", n);
}

}  // namespace

Result<std::string> read_file_capped(const std::string& path, size_t max_bytes, bool regular_only) {
  const auto sys_error = [&](int e) {
    const Errc c = e == ENOENT ? Errc::noent : e == EACCES || e == EPERM ? Errc::perm : e == ELOOP ? Errc::loop : Errc::io;
    return make_error(c, path + ": " + std::strerror(e));
  };
  const auto refuse = [&](mode_t m) {
    return make_error(Errc::inval, fmt::format("{}: is {}, not a file to read", path, kind_of(m)));
  };
  const auto acceptable = [&](mode_t m) { return S_ISREG(m) || (!regular_only && S_ISFIFO(m)); };
  // Looked at before opening: opening a device or a fifo has effects of
  // its own (a fifo waits for a writer, as any reader of one does).
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sys_error(errno);
  if (!acceptable(st.st_mode)) return refuse(st.st_mode);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return sys_error(errno);
  if (!acceptable(st.st_mode)) return refuse(st.st_mode);  // replaced since the stat
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes)
    return make_error(Errc::range, fmt::format("{}: larger than {} ({} bytes)", path, size_text(max_bytes), st.st_size));
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(Errc::io, path + ": read error: " + std::strerror(errno));
    if (n == 0) break;
    // The cap holds even for a pipe or a file that grows while read.
    if (data.size() + static_cast<size_t>(n) > max_bytes)
      return make_error(Errc::range, fmt::format("{}: larger than {}", path, size_text(max_bytes)));
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

}  // namespace modiommu
