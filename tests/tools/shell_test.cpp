// modiommu shell: driven through a pseudo-terminal (completion, history,
// line editing), and with stdin piped (no terminal).
#include <gtest/gtest.h>

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>

#include "tools_util.h"

using namespace modiommu::tools_test;

namespace {

class PtyShell {
 public:
  explicit PtyShell(const std::vector<std::string>& args) {
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      setenv("TERM", "xterm", 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~PtyShell() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  bool started() const { return pid_ > 0; }
  void send(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  // Reads until `what` appears `times` times in everything read so far (or 20 s pass).
  bool wait_for(const std::string& what, size_t times = 1) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (count_of(all_, what) < times) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return count_of(all_, what) >= times;
      all_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  int wait_exit() {
    int st = 0;
    wait_for("\x04never");  // drain until EOF or timeout
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  const std::string& output() const { return all_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string all_;
};

std::string platform() { return source_dir() + "/platforms/virt-smmuv3.dts"; }

TEST(Shell, CompletionHistoryAndCommandsOnATerminal) {
  PtyShell sh({host(), "shell", platform(), "--no-autoload", "--preload", "dmatest"});
  ASSERT_TRUE(sh.started());
  ASSERT_TRUE(sh.wait_for("modiommu> ")) << sh.output();
  // Completion of a command name: "lsm<TAB>" becomes "lsmod".
  sh.send("lsm\t");
  ASSERT_TRUE(sh.wait_for("lsmod")) << sh.output();
  sh.send("\r");
  ASSERT_TRUE(sh.wait_for("Module ")) << sh.output();
  ASSERT_TRUE(sh.wait_for("modiommu> ", 2)) << sh.output();
  // History: up arrow brings lsmod back.
  sh.send("\x1b[A\r");
  ASSERT_TRUE(sh.wait_for("Module ", 2)) << sh.output();
  ASSERT_TRUE(sh.wait_for("modiommu> ", 3)) << sh.output();
  // Completion of a module name after modprobe, then of a device name.
  sh.send("modprobe arm-smmu-v\t\r");
  ASSERT_TRUE(sh.wait_for("modiommu> ", 4)) << sh.output();
  sh.send("explain 10003\t\r");
  ASSERT_TRUE(sh.wait_for("behind IOMMU 9050000.iommu")) << sh.output();
  ASSERT_TRUE(sh.wait_for("modiommu> ", 5)) << sh.output();
  // Errors do not end the session.
  sh.send("bogus\r");
  ASSERT_TRUE(sh.wait_for("unknown command 'bogus'")) << sh.output();
  sh.send("quit\r");
  EXPECT_EQ(sh.wait_exit(), 0) << sh.output();
}

TEST(Shell, PipedStdin) {
  Ran r = run("printf 'help explain\\nlsmod\\nexplain 10000000.dma\\nbogus\\nmodprobe arm-smmu-v3\\ndma 10000000.dma "
              "write 4096\\nquit\\nlsmod\\n' | " +
              host() + " shell " + platform() + " --no-autoload --preload dmatest");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("explain DEVICE"), std::string::npos) << r.out;  // help: usage
  EXPECT_NE(r.out.find("deferred: waiting for supplier 9050000.iommu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("modprobe arm_smmu_v3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error: "), std::string::npos) << r.out;
  EXPECT_EQ(count_of(r.out, "Module "), 1u) << r.out;  // nothing after quit ran
  EXPECT_EQ(r.out.find("modiommu> "), std::string::npos) << "no prompt without a terminal";
}

}  // namespace
