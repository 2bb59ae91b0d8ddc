// README.md's tutorial runs as written: every ```console block's `$ ` lines are
// run (from the source tree, with the built modiommu first on PATH) and
// every other line of the block must appear in what they printed. `...`
// lines stand for output left out.
#include <gtest/gtest.h>

#include "tools_util.h"

using namespace modiommu::tools_test;

namespace {

struct Block {
  size_t line = 0;
  std::vector<std::string> commands;
  std::vector<std::string> expected;
};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<Block> console_blocks(const std::string& path) {
  std::ifstream f(path);
  std::vector<Block> out;
  std::string line;
  size_t n = 0;
  bool in = false;
  while (std::getline(f, line)) {
    ++n;
    if (!in && line.starts_with("```console")) {
      in = true;
      out.push_back({n, {}, {}});
      continue;
    }
    if (in && line.starts_with("```")) {
      in = false;
      continue;
    }
    if (!in) continue;
    Block& b = out.back();
    if (line.starts_with("$ ")) b.commands.push_back(line.substr(2));
    else if (!b.commands.empty() && b.commands.back().ends_with("\\"))
      b.commands.back() = b.commands.back().substr(0, b.commands.back().size() - 1) + line;
    else if (const auto t = trim(line); !t.empty() && t != "...") b.expected.push_back(t);
  }
  return out;
}

TEST(Tutorial, EveryCommandRunsAndPrintsItsKeyLines) {
  const std::string doc = source_dir() + "/README.md";
  auto blocks = console_blocks(doc);
  ASSERT_GE(blocks.size(), 6u) << doc;
  auto dir = temp_dir("tutorial");
  size_t checked = 0;
  for (const auto& b : blocks) {
    ASSERT_FALSE(b.commands.empty()) << "README.md:" << b.line << ": a console block without a `$ ` command";
    std::string out;
    for (const auto& c : b.commands) {
      // TUTORIAL_TMP stands for a scratch directory (the tutorial says /tmp).
      std::string cmd = c;
      for (size_t p; (p = cmd.find("/tmp/modiommu-tutorial")) != std::string::npos;)
        cmd.replace(p, 22, dir.string());
      Ran r = run("cd '" + source_dir() + "' && export PATH='" + binary_dir() + "':\"$PATH\" && " + cmd, true);
      out += r.out;
    }
    for (const auto& e : b.expected) {
      std::string want = e;
      for (size_t p; (p = want.find("/tmp/modiommu-tutorial")) != std::string::npos;)
        want.replace(p, 22, dir.string());
      EXPECT_NE(out.find(want), std::string::npos)
          << "README.md:" << b.line << ": `" << b.commands.front() << "` did not print:\n  " << want << "\nit printed:\n"
          << out;
      ++checked;
    }
  }
  EXPECT_GE(checked, 15u);
  std::filesystem::remove_all(dir);
}

}  // namespace
