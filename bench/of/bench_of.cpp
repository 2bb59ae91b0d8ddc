// Device-tree loading cost: every corpus dtb parsed from memory (file I/O
// excluded), per tree; plus the binding walk the IOMMU core does at boot.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "of/tree.h"

namespace {

using modiommu::of::Tree;

struct Blob {
  std::string name;
  std::vector<uint8_t> bytes;
};

std::string corpus_dir() {
  const char* dir = std::getenv("MODIOMMU_CORPUS_DIR");
  return dir && *dir ? dir : MODIOMMU_BENCH_CORPUS_DIR;
}

const std::vector<Blob>& corpus() {
  static const std::vector<Blob> blobs = [] {
    std::vector<Blob> out;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(corpus_dir(), ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file() || it->path().extension() != ".dtb") continue;
      std::ifstream in(it->path(), std::ios::binary);
      out.push_back({it->path().string(), {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()}});
    }
    std::sort(out.begin(), out.end(), [](const Blob& a, const Blob& b) { return a.bytes.size() < b.bytes.size(); });
    return out;
  }();
  return blobs;
}

// One iteration loads every corpus tree; items = trees, so the reported
// items_per_second inverts to the mean time per tree.
void BM_LoadAllCorpusTrees(benchmark::State& state) {
  const auto& blobs = corpus();
  if (blobs.empty()) {
    state.SkipWithError("no .dtb under the corpus (set MODIOMMU_CORPUS_DIR)");
    return;
  }
  size_t bytes = 0;
  for (const auto& b : blobs) bytes += b.bytes.size();
  for (auto _ : state) {
    for (const auto& b : blobs) {
      auto t = Tree::from_blob(b.bytes, b.name);
      if (!t.ok()) {
        state.SkipWithError(t.error().message.c_str());
        return;
      }
      benchmark::DoNotOptimize(t.value().get());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * blobs.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["trees"] = static_cast<double>(blobs.size());
  state.counters["us_per_tree"] = benchmark::Counter(
      static_cast<double>(state.iterations() * blobs.size()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::OneK::kIs1000);
}
BENCHMARK(BM_LoadAllCorpusTrees)->Unit(benchmark::kMillisecond);

// Smallest, median and largest tree on their own.
void BM_LoadOneTree(benchmark::State& state) {
  const auto& blobs = corpus();
  if (blobs.empty()) {
    state.SkipWithError("no corpus");
    return;
  }
  size_t idx = state.range(0) == 0 ? 0 : state.range(0) == 1 ? blobs.size() / 2 : blobs.size() - 1;
  const Blob& b = blobs[idx];
  for (auto _ : state) {
    auto t = Tree::from_blob(b.bytes, b.name);
    benchmark::DoNotOptimize(t.ok());
  }
  state.SetLabel(std::filesystem::path(b.name).filename().string() + " " + std::to_string(b.bytes.size()) + " B");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * b.bytes.size()));
}
BENCHMARK(BM_LoadOneTree)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// What boot does once per tree: every node's iommus and iommu-map.
void BM_IommuBindingsAllCorpus(benchmark::State& state) {
  std::vector<std::unique_ptr<Tree>> trees;
  for (const auto& b : corpus()) {
    auto t = Tree::from_blob(b.bytes, b.name);
    if (t.ok()) trees.push_back(std::move(t).value());
  }
  size_t nodes = 0;
  for (const auto& t : trees) nodes += t->nodes().size();
  for (auto _ : state) {
    size_t found = 0;
    for (const auto& t : trees)
      for (auto* n : t->nodes()) {
        auto io = modiommu::of::iommus(*n);
        found += io.ok() ? io->size() : 0;
        auto m = modiommu::of::map_id(*n, 0x100);
        found += m.ok() && m->kind == modiommu::of::MappedId::Kind::mapped;
      }
    benchmark::DoNotOptimize(found);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * nodes));
}
BENCHMARK(BM_IommuBindingsAllCorpus)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
