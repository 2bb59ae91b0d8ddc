// Replays fuzz inputs through a fuzz target's LLVMFuzzerTestOneInput without
// libFuzzer, so crash inputs kept in fuzz/*/regressions/ (and the seed
// corpora) run as ordinary ctests in every build, sanitizers included.
// Usage: replay_TARGET FILE|DIR...
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int run_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
    return 1;
  }
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(data.data(), data.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = 0;
  int bad = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(arg))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());  // a fixed order: failures reproduce
      for (const auto& f : files) {
        bad += run_file(f);
        ++n;
      }
    } else if (std::filesystem::exists(arg, ec)) {
      bad += run_file(arg);
      ++n;
    }
    // A missing directory (no regressions yet) is not an error.
  }
  std::printf("replayed %zu input(s)\n", n);
  return bad ? 1 : 0;
}
