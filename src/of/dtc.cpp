// Tree::from_dts and Tree::load_file: .dts text goes through dtc to a blob,
// then the one blob loader, so both paths give the same tree.
#include "of/dtc.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "base/file.h"
#include "of/tree.h"

extern char** environ;

namespace modiommu::of {

namespace {

// A mkdtemp directory whose known files are removed on scope exit.
class TempDir {
 public:
  static Result<TempDir> make() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/modiommu-dtc-XXXXXX";
    if (!mkdtemp(tmpl.data())) return make_error(Errc::io, "mkdtemp " + tmpl + ": " + std::strerror(errno));
    TempDir d;
    d.path_ = tmpl;
    return d;
  }
  TempDir() = default;
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)), files_(std::move(o.files_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    if (path_.empty()) return;
    for (const auto& f : files_) ::unlink(f.c_str());
    ::rmdir(path_.c_str());
  }
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// A device tree larger than this is refused (Linux's own limit for a
// flattened tree is far below it).
constexpr size_t kMaxTreeBytes = 64u << 20;

Result<std::vector<uint8_t>> read_all(const std::string& path, size_t cap = kMaxTreeBytes) {
  auto text = TRY(read_file_capped(path, cap));
  return std::vector<uint8_t>(text.begin(), text.end());
}

Status write_all(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) return make_error(Errc::io, path + ": write error");
  return ok_status();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// dtc's own diagnostics name file and line ("x.dts:3.1-5 syntax error").
Result<std::unique_ptr<Tree>> compile(const std::string& dts_path, const std::string& display_name,
                                      const std::string& include_dir, TempDir& dir) {
  std::string out = dir.file("out.dtb");
  std::vector<std::string> args{"-I", "dts", "-O", "dtb", "-q", "-o", out};
  if (!include_dir.empty()) {
    args.push_back("-i");
    args.push_back(include_dir);
  }
  args.push_back(dts_path);
  auto run = run_dtc(args);
  if (!run.ok()) return make_error(run.error().code, display_name + ": " + run.error().message);
  auto& r = *run;
  if (r.exit_code != 0) {
    std::string msg = trim(r.err);
    replace_all(msg, dts_path, display_name);
    if (msg.empty())
      msg = r.exit_code > 128 ? fmt::format("killed by signal {} (its memory is limited)", r.exit_code - 128)
                              : fmt::format("exit status {}", r.exit_code);
    return make_error(Errc::inval, display_name + ": dtc failed: " + msg);
  }
  auto blob = TRY(read_all(out));
  return Tree::from_blob(blob, display_name);
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string dtc_program() {
#ifdef MODIOMMU_DTC
  if (::access(MODIOMMU_DTC, X_OK) == 0) return MODIOMMU_DTC;
#endif
  return "dtc";
}

Result<DtcOutput> run_dtc(const std::vector<std::string>& args, const std::string& stdin_file, const DtcLimits& limits) {
  auto dir = TRY(TempDir::make());
  std::string out_path = dir.file("stdout");
  std::string err_path = dir.file("stderr");
  // O_CLOEXEC: children other threads spawn meanwhile must not inherit these.
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out_fd < 0 || err_fd < 0) {
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    return make_error(Errc::io, "cannot create dtc output files in " + dir.path());
  }
  std::string prog = dtc_program();
  std::vector<char*> argv;
  argv.push_back(prog.data());
  std::vector<std::string> args_copy = args;
  for (auto& a : args_copy) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, stdin_file.empty() ? "/dev/null" : stdin_file.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, prog.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_fd);
  ::close(err_fd);
  if (rc != 0) return make_error(Errc::noent, "cannot run " + prog + ": " + std::strerror(rc));
  // Limits on the child by pid (posix_spawn has no rlimit action). Set
  // right after the start: dtc cannot get far before they apply.
  const rlimit cpu{limits.cpu_seconds, limits.cpu_seconds + 1};  // soft: SIGXCPU, hard: SIGKILL
  const rlimit mem{limits.memory_bytes, limits.memory_bytes};
  const rlimit out{limits.output_bytes, limits.output_bytes};
  ::prlimit(pid, RLIMIT_CPU, &cpu, nullptr);
  ::prlimit(pid, RLIMIT_AS, &mem, nullptr);
  ::prlimit(pid, RLIMIT_FSIZE, &out, nullptr);

  // Poll with a growing sleep: dtc normally exits in milliseconds.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limits.timeout_ms);
  auto nap = std::chrono::microseconds(50);
  int status = 0;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return make_error(Errc::io, std::string("waitpid on dtc: ") + std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);  // our own child, by pid
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return make_error(Errc::timedout, prog + " did not finish within " + std::to_string(limits.timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(20000));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGXCPU || sig == SIGKILL)
      return make_error(Errc::timedout, fmt::format("{} was stopped after {} s of CPU time (it loops on some input, "
                                                    "e.g. a cell count such as 0xffffffff)",
                                                    prog, limits.cpu_seconds));
    if (sig == SIGXFSZ)
      return make_error(Errc::nospc, fmt::format("{} was stopped: its output passed {} MiB", prog, limits.output_bytes >> 20));
  }
  DtcOutput res;
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  res.out = TRY(read_all(out_path, limits.output_bytes));
  auto err = TRY(read_all(err_path, limits.output_bytes));
  res.err.assign(err.begin(), err.end());
  return res;
}

Result<std::unique_ptr<Tree>> Tree::from_dts(std::string_view dts_text, std::string source_name) {
  auto dir = TRY(TempDir::make());
  std::string in = dir.file("in.dts");
  TRY(write_all(in, dts_text));
  // /include/ of a relative path resolves against the source's folder.
  std::string inc = dir_of(source_name);
  struct stat st {};
  if (!inc.empty() && (::stat(inc.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) inc.clear();
  return compile(in, source_name, inc, dir);
}

Result<std::unique_ptr<Tree>> Tree::load_file(const std::string& path) {
  auto data = TRY(read_all(path));
  struct stat st {};
  const bool regular = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  // DT spec 5.2: a blob starts with the magic 0xd00dfeed (big-endian).
  static constexpr uint8_t kMagic[4] = {0xd0, 0x0d, 0xfe, 0xed};
  if (data.size() >= 4 && std::memcmp(data.data(), kMagic, 4) == 0) return from_blob(data, path);
  // A pipe is read once: compile what was read.
  if (!regular) return from_dts(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()), path);
  // Source: let dtc read the file itself, so /include/ and its messages
  // use the real path.
  auto dir = TRY(TempDir::make());
  // A path starting with '-' would be read as an option.
  std::string arg = !path.empty() && path[0] == '-' ? "./" + path : path;
  return compile(arg, path, "", dir);
}

}  // namespace modiommu::of
