// `modiommu shell PLATFORM [OPTIONS]` (INTERFACE.md): the scenario commands
// typed interactively. On a terminal: line editing, history (up arrow) and
// completion of commands, device and module names (GNU readline). Without a
// terminal (stdin piped) lines are read plainly, so scripts and tests can
// drive it. A failing command prints its error and the shell goes on.
#include <iostream>
#include <string>

#include <unistd.h>

#ifdef MODIOMMU_HAVE_READLINE
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <readline/history.h>
#include <readline/readline.h>
#endif

#include "cli/common.h"
#include "cli/shell_complete.h"
#include "sim/harness.h"
#include "sim/scenario.h"

namespace modiommu::cli {
namespace {

CommonOpts shell_o;
bool shell_before_complete = false;

// One line through the scenario; true when the shell should stop.
bool handle(sim::Scenario& sc, const std::string& line) {
  auto a = sim::Scenario::tokenize(line);
  if (a.empty()) return false;
  if (a[0] == "quit" || a[0] == "exit") return true;
  Status s = sc.run_line(line);
  if (!s.ok()) std::cout << "error: " << s.error().str() << "\n";
  std::cout << std::flush;
  return false;
}

#ifdef MODIOMMU_HAVE_READLINE
// readline's callbacks are plain C functions: the shell running now.
sim::Scenario* g_scenario = nullptr;
std::vector<std::string> g_matches;

char* generator(const char*, int state) {
  if (static_cast<size_t>(state) >= g_matches.size()) return nullptr;
  return strdup(g_matches[static_cast<size_t>(state)].c_str());
}

char** complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1;  // no file-name fallback
  const std::string before(rl_line_buffer, static_cast<size_t>(start));
  auto words = sim::Scenario::tokenize(before);
  g_matches = shell_completions(*g_scenario, words.empty() ? "" : words[0], words.size(), text);
  return rl_completion_matches(text, generator);
}

int interactive(sim::Scenario& sc) {
  g_scenario = &sc;
  rl_readline_name = "modiommu";
  rl_attempted_completion_function = complete;
  std::cout << "modiommu shell: " << shell_o.platform << " (help lists the commands, tab completes, quit leaves)\n";
  while (char* raw = readline("modiommu> ")) {
    std::string line(raw);
    free(raw);
    if (!line.empty()) add_history(line.c_str());
    if (handle(sc, line)) break;
  }
  g_scenario = nullptr;
  std::cout << "\n";
  return 0;
}
#endif

// One line of stdin, at most Scenario::kMaxLineBytes long: false at the end
// of input or on a longer line (`over` set), which ends the shell, since
// an endless stream with no newline would otherwise be read forever.
bool read_line(std::istream& in, std::string& line, bool& over) {
  line.clear();
  over = false;
  int c;
  while ((c = in.get()) != EOF) {
    if (c == '\n') return true;
    if (line.size() == sim::Scenario::kMaxLineBytes) {
      over = true;
      return false;
    }
    line.push_back(static_cast<char>(c));
  }
  return !line.empty();
}

// Plain lines (a pipe, or no readline): 0, or 2 for a line over the limit.
int plain(sim::Scenario& sc, bool prompt) {
  std::string line;
  bool over = false;
  size_t lineno = 0;
  while ((prompt ? std::cout << "modiommu> " << std::flush : std::cout, read_line(std::cin, line, over))) {
    ++lineno;
    if (handle(sc, line)) break;
  }
  if (over) {
    std::cerr << "modiommu: stdin line " << lineno + 1 << ": longer than " << sim::Scenario::kMaxLineBytes
              << " bytes; stopping\n";
    return 2;
  }
  return 0;
}

#ifndef MODIOMMU_HAVE_READLINE
int interactive(sim::Scenario& sc) { return plain(sc, true); }
#endif

int cmd_shell() {
  auto ko = kernel_options(shell_o);
  if (!ko.ok()) return bad_options(ko.error());
  Kernel k(*ko);
  sim::Harness harness(k);  // endpoints and escape accounting; before boot (--preload)
  attach_log(k, shell_o);
  Status s = boot_platform(k, shell_o);
  if (!s.ok()) {
    std::cerr << "modiommu: " << s.error().str() << "\n";
    return 2;
  }
  if (!shell_before_complete) k.boot_complete();
  sim::Scenario sc(k, std::cout);
  int rc = 0;
  if (isatty(STDIN_FILENO)) {
    rc = interactive(sc);
  } else {
    rc = plain(sc, false);
  }
  k.log().set_sink(nullptr);
  return rc;
}

SubcommandRegistrar reg({
    [](CLI::App& app) {
      CLI::App* c = app.add_subcommand("shell", "boot PLATFORM, then type scenario commands (help lists them)");
      add_common(c, shell_o);
      c->add_flag("--before-boot-complete", shell_before_complete,
                  "stop before boot-complete (type boot-complete yourself), as `run` does");
      return c;
    },
    [] { return cmd_shell(); },
});

}  // namespace
}  // namespace modiommu::cli
