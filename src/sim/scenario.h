// The scenario language (INTERFACE.md "Scenario scripts"): one command a
// line, used by `modiommu run`, `modiommu shell` and the tests. Layers add
// their commands (insmod, dma, ...) through add_command().
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "kernel/kernel.h"

namespace modiommu::sim {

class Scenario {
 public:
  using Args = std::vector<std::string>;
  using Handler = std::function<Status(Scenario&, const Args& args)>;
  struct Command {
    std::string usage;
    std::string help;
    Handler fn;
    // An expectation: run as `expect WHAT ...` (listed as expect-WHAT by
    // help), never as a command of its own.
    bool expectation = false;
  };

  Scenario(Kernel& k, std::ostream& out);
  Kernel& kernel() { return k_; }
  std::ostream& out() { return out_; }

  void add_command(const std::string& name, std::string usage, std::string help, Handler fn);
  // `expect WHAT ...` (and `expect device DEVICE WHAT VALUE`) calls fn with
  // the whole line.
  void add_expectation(const std::string& what, std::string usage, std::string help, Handler fn);
  const std::map<std::string, Command>& commands() const { return commands_; }

  // One line. A failing command returns its error; a failed `expect` is
  // recorded (expect_failures()) and returns ok, so a script goes on.
  Status run_line(const std::string& line);
  // One command already split into words (expect-fail's inner command).
  Status run_args(const Args& args);
  // A whole script: 0 all good, 1 an expect failed, 2 a command failed (the
  // message names the line) — INTERFACE.md `modiommu run`.
  int run_script(const std::string& text, const std::string& name, std::ostream& err);

  // Called by expect handlers.
  void expect_failed(const std::string& what);
  size_t expect_failures() const { return expect_failures_; }
  // expect-fail around an expect: the failure was the point.
  void forgive_expect_failures(size_t back_to) { expect_failures_ = back_to; }
  Device* device_arg(const std::string& name, Status& st);

  static Args tokenize(const std::string& line);
  // Longer lines are refused: no command needs them, and a stream with no
  // newline (shell < /dev/zero) must not grow without end.
  static constexpr size_t kMaxLineBytes = 64 * 1024;
  // A script file larger than this is refused.
  static constexpr size_t kMaxScriptBytes = 16u << 20;
  // A whole decimal count ("3"), else EINVAL naming the text.
  static Result<uint64_t> parse_count(const std::string& text);

 private:
  void add_builtin_commands();
  Kernel& k_;
  std::ostream& out_;
  std::map<std::string, Command> commands_;
  size_t expect_failures_ = 0;
  std::string where_;  // "script:12" of the line being run
};

// Layers register their scenario commands here at static-init time; each
// new Scenario applies them.
using ScenarioExtension = std::function<void(Scenario&)>;
std::vector<ScenarioExtension>& scenario_extensions();

}  // namespace modiommu::sim
