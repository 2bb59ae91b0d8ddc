// SMMUv3 model performance: IOTLB hit, cold walk, DMA bandwidth through the
// SMMU (4K pages) against a plain memcpy of the same size.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "hw/arm/vmsa_walk.h"
#include "hw/dma.h"
#include "hw/memory.h"
#include "hw/smmuv3/smmuv3.h"

using namespace modiommu::hw;
using namespace modiommu::hw::smmuv3;

namespace {

// Page-aligned host buffers on both sides of every comparison: a DMA buffer
// is page-aligned (dma_alloc_coherent), guest RAM pages are host-page aligned,
// and memcpy gets the same alignment, so neither side pays (or escapes) the
// cache-line-splitting stores of a misaligned destination.
struct Buf {
  explicit Buf(size_t n, uint8_t fill = 0) : p(static_cast<uint8_t*>(std::aligned_alloc(4096, (n + 4095) & ~size_t{4095}))) {
    std::memset(p.get(), fill, n);
  }
  uint8_t* data() { return p.get(); }
  struct Free {
    void operator()(uint8_t* q) const { std::free(q); }
  };
  std::unique_ptr<uint8_t, Free> p;
};

constexpr uint64_t kRam = 0x40000000, kStrtab = 0x40000000, kCd = 0x40010000, kEvtq = 0x40020000,
                   kTables = 0x40100000, kData = 0x48000000, kIova = 0x100000000ull;
constexpr unsigned kPages = 512;  // 2 MiB of 4K mappings

// Minimal S1 4K table builder (48-bit VA, levels 0-3), bump-allocated.
struct Tables {
  PhysicalMemory& mem;
  uint64_t next = kTables;
  uint64_t root;
  explicit Tables(PhysicalMemory& m) : mem(m), root(alloc()) {}
  uint64_t alloc() {
    const uint64_t a = next;
    next += 0x1000;
    (void)mem.fill(a, 0, 0x1000);
    return a;
  }
  void map(uint64_t va, uint64_t pa) {
    uint64_t t = root;
    for (unsigned l = 0; l < 3; ++l) {
      const uint64_t slot = t + ((va >> (39 - 9 * l)) & 511) * 8;
      uint64_t d = mem.read64(slot).value();
      if (!(d & 1)) {
        d = alloc() | 3;
        (void)mem.write64(slot, d);
      }
      t = d & 0xfffffffff000ull;
    }
    (void)mem.write64(t + ((va >> 12) & 511) * 8, pa | 3 | (1 << 10));
  }
};

struct Rig {
  PhysicalMemory mem;
  std::shared_ptr<SmmuV3> smmu;
  std::unique_ptr<Tables> tables;
  explicit Rig(size_t tlb_capacity = 8192, bool contiguous = false) {
    (void)mem.add_ram(kRam, 0x20000000);
    Features f;
    f.iotlb_capacity = tlb_capacity;
    smmu = std::make_shared<SmmuV3>("smmu", mem, f);
    tables = std::make_unique<Tables>(mem);
    // 4K pages, scattered (page i -> data page (i * 3) % kPages, so no two
    // neighbours are physically contiguous) or contiguous.
    for (uint64_t i = 0; i < kPages; ++i)
      tables->map(kIova + i * 0x1000, kData + (contiguous ? i : (i * 3) % kPages) * 0x1000);
    uint64_t cd[8] = {};
    cd[0] = 16 | (1ull << 31) | (5ull << 32) | (1ull << 41) | (1ull << 45) | (1ull << 46) | (1ull << 48);
    cd[1] = tables->root;
    (void)mem.write(kCd, cd, 64);
    uint64_t ste[8] = {};
    ste[0] = 1 | (STE_CFG_S1 << 1) | kCd;
    (void)mem.write(kStrtab, ste, 64);
    smmu->write(STRTAB_BASE, kStrtab, 8);
    smmu->write(STRTAB_BASE_CFG, 4, 4);
    smmu->write(EVENTQ_BASE, kEvtq | 4, 8);
    smmu->write(CR0, CR0_SMMUEN | CR0_EVENTQEN, 4);
    (void)mem.fill(kData, 0x5a, kPages * 0x1000);
  }
};

void BM_IotlbHit(benchmark::State& st) {
  static Rig rig;
  for (unsigned i = 0; i < 64; ++i) (void)rig.smmu->translate(0, kIova + i * 0x1000, Access::read);
  unsigned i = 0;
  for (auto _ : st) {
    auto o = rig.smmu->translate(0, kIova + (i++ & 63) * 0x1000 + 8, Access::read);
    benchmark::DoNotOptimize(o);
  }
}
BENCHMARK(BM_IotlbHit)->Threads(1)->Threads(2);

void BM_ColdMissWalk(benchmark::State& st) {
  // A 1-entry IOTLB: every translation of a different page is a 4-level
  // walk (the stream config stays cached, as in a real miss).
  Rig rig(1);
  unsigned i = 0;
  for (auto _ : st) {
    auto o = rig.smmu->translate(0, kIova + (i++ % kPages) * 0x1000, Access::read);
    benchmark::DoNotOptimize(o);
  }
  st.counters["misses"] = static_cast<double>(rig.smmu->stats().tlb_misses);
}
BENCHMARK(BM_ColdMissWalk);

void BM_RawWalk(benchmark::State& st) {
  Rig rig;
  arm::WalkConfig c;
  c.ttb = rig.tables->root;
  unsigned i = 0;
  for (auto _ : st) {
    auto r = arm::walk(rig.mem, c, kIova + (i++ % kPages) * 0x1000, Access::read);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RawWalk);

void BM_DmaReadViaSmmu(benchmark::State& st) {
  static Rig rig;
  const size_t len = static_cast<size_t>(st.range(0));
  UpstreamPort port(rig.mem);
  port.set_translator(rig.smmu, 0);
  Buf buf(len);
  (void)port.read(kIova, buf.data(), len);  // warm the IOTLB
  for (auto _ : st) {
    auto s = port.read(kIova, buf.data(), len);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * len));
}
BENCHMARK(BM_DmaReadViaSmmu)->Arg(64 << 10)->Arg(1 << 20);

void BM_DmaWriteViaSmmu(benchmark::State& st) {
  static Rig rig;
  const size_t len = static_cast<size_t>(st.range(0));
  UpstreamPort port(rig.mem);
  port.set_translator(rig.smmu, 0);
  Buf buf(len, 0x33);
  (void)port.write(kIova, buf.data(), len);
  for (auto _ : st) {
    auto s = port.write(kIova, buf.data(), len);
    benchmark::DoNotOptimize(s);
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * len));
}
BENCHMARK(BM_DmaWriteViaSmmu)->Arg(64 << 10)->Arg(1 << 20);

void BM_DmaReadViaSmmuContiguous(benchmark::State& st) {
  static Rig rig(8192, true);
  const size_t len = static_cast<size_t>(st.range(0));
  UpstreamPort port(rig.mem);
  port.set_translator(rig.smmu, 0);
  Buf buf(len);
  (void)port.read(kIova, buf.data(), len);
  for (auto _ : st) {
    auto s = port.read(kIova, buf.data(), len);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * len));
}
BENCHMARK(BM_DmaReadViaSmmuContiguous)->Arg(64 << 10)->Arg(1 << 20);

void BM_DmaReadDirect(benchmark::State& st) {
  static Rig rig;
  const size_t len = static_cast<size_t>(st.range(0));
  UpstreamPort port(rig.mem);
  Buf buf(len);
  for (auto _ : st) {
    auto s = port.read(kData, buf.data(), len);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * len));
}
BENCHMARK(BM_DmaReadDirect)->Arg(64 << 10)->Arg(1 << 20);

void BM_Memcpy(benchmark::State& st) {
  const size_t len = static_cast<size_t>(st.range(0));
  Buf src(len, 0x5a), dst(len);
  for (auto _ : st) {
    std::memcpy(dst.data(), src.data(), len);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * len));
}
BENCHMARK(BM_Memcpy)->Arg(64 << 10)->Arg(1 << 20);

// The floor the scattered DMA benchmarks stand on: plain memcpy of the same
// 4K pieces in the same order (page i from page (i * 3) % kPages of a 2 MiB
// host buffer), no emulation at all.
void BM_MemcpyScattered(benchmark::State& st) {
  const size_t len = static_cast<size_t>(st.range(0));
  Buf src(size_t{kPages} * 0x1000, 0x5a), dst(len);
  for (auto _ : st) {
    for (size_t i = 0; i < len / 0x1000; ++i)
      std::memcpy(dst.data() + i * 0x1000, src.data() + ((i * 3) % kPages) * 0x1000, 0x1000);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * len));
}
BENCHMARK(BM_MemcpyScattered)->Arg(64 << 10)->Arg(1 << 20);

// The memory half of a scattered DMA read without the IOMMU: the same 4K
// pieces moved by PhysicalMemory::read_pieces in groups of 16 (as
// UpstreamPort batches them). Between BM_MemcpyScattered (no emulation) and
// BM_DmaReadViaSmmu (translation too), it shows which side costs what.
void BM_MovePieces(benchmark::State& st) {
  static Rig rig;
  const size_t len = static_cast<size_t>(st.range(0));
  Buf buf(len);
  std::vector<PhysicalMemory::Piece> ps;
  for (size_t i = 0; i < len / 0x1000; ++i)
    ps.push_back({kData + ((i * 3) % kPages) * 0x1000, 0x1000, buf.data() + i * 0x1000});
  for (auto _ : st) {
    for (size_t i = 0; i < ps.size(); i += 16)
      (void)rig.mem.read_pieces(ps.data() + i, std::min<size_t>(16, ps.size() - i));
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * len));
}
BENCHMARK(BM_MovePieces)->Arg(64 << 10)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();
