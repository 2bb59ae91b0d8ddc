// Scenario commands for DMA endpoints: dma, dma-start, dma-stop, expect escapes.
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "sim/harness.h"
#include "sim/scenario.h"
#include "sim/state.h"

namespace modiommu::sim {
namespace {

Result<size_t> parse_bytes(const std::string& s) {
  // 4096, 64K, 1M
  size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return make_error(Errc::range, "byte count too large: '" + s + "'");
  if (ec != std::errc() || p == s.data()) return make_error(Errc::inval, "not a byte count: '" + s + "'");
  std::string_view rest(p, s.data() + s.size() - p);
  unsigned shift = 0;
  if (rest == "K" || rest == "k") shift = 10;
  else if (rest == "M" || rest == "m") shift = 20;
  else if (!rest.empty()) return make_error(Errc::inval, "not a byte count: '" + s + "' (use N, NK or NM)");
  if (v > (std::numeric_limits<size_t>::max() >> shift)) return make_error(Errc::range, "byte count too large: '" + s + "'");
  return v << shift;
}

Result<DmaXfer> parse_dir(const std::string& s) {
  if (s == "write") return DmaXfer::write;
  if (s == "read") return DmaXfer::read;
  return make_error(Errc::inval, "direction must be write or read, not '" + s + "'");
}

// The endpoint registry is the harness's: a kernel without one has no
// endpoints to drive.
Status with_endpoint(Scenario& s, Device& d, const std::function<Status(DmaEndpoint&)>& fn) {
  Harness* h = Harness::of(s.kernel());
  if (!h) return make_error(Errc::nodev, d.name() + ": no harness attached, so no DMA endpoint is known");
  return h->with_endpoint(d, fn);
}

void add_dma_commands(Scenario& sc) {
  sc.add_command("dma", "dma DEVICE write|read BYTES", "one verified DMA transfer by a DMA test endpoint",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() != 4) return make_error(Errc::inval, "usage: dma DEVICE write|read BYTES");
                   Status st;
                   Device* d = s.device_arg(a[1], st);
                   if (!d) return st;
                   DmaXfer dir = TRY(parse_dir(a[2]));
                   size_t n = TRY(parse_bytes(a[3]));
                   TRY(with_endpoint(s, *d, [&](DmaEndpoint& ep) { return ep.transfer(dir, n); }));
                   s.out() << fmt::format("{}: {} of {} bytes verified\n", d->name(), a[2], n);
                   return Status{};
                 });
  sc.add_command("dma-start", "dma-start DEVICE [write|read] [BYTES]",
                 "continuous DMA on the device's own thread (default: write 64K)",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() < 2 || a.size() > 4)
                     return make_error(Errc::inval, "usage: dma-start DEVICE [write|read] [BYTES]");
                   Status st;
                   Device* d = s.device_arg(a[1], st);
                   if (!d) return st;
                   DmaXfer dir = a.size() > 2 ? TRY(parse_dir(a[2])) : DmaXfer::write;
                   size_t n = a.size() > 3 ? TRY(parse_bytes(a[3])) : size_t{64 << 10};
                   return with_endpoint(s, *d, [&](DmaEndpoint& ep) { return ep.start(dir, n); });
                 });
  sc.add_command("dma-stop", "dma-stop DEVICE", "stop continuous DMA; the last data is verified",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() != 2) return make_error(Errc::inval, "usage: dma-stop DEVICE");
                   Status st;
                   Device* d = s.device_arg(a[1], st);
                   if (!d) return st;
                   return with_endpoint(s, *d, [&](DmaEndpoint& ep) { return ep.stop(); });
                 });
  sc.add_expectation("escapes", "expect escapes N",
                 "DMA that reached memory untranslated while described behind an IOMMU (INTERFACE.md: must be 0)",
                 [](Scenario& s, const Scenario::Args& a) -> Status {
                   if (a.size() != 3) return make_error(Errc::inval, "usage: expect escapes N");
                   const uint64_t want = TRY(Scenario::parse_count(a[2]));
                   const uint64_t got = dma_totals(s.kernel()).escapes;
                   if (got != want) s.expect_failed(fmt::format("{} DMA escapes, expected {}", got, want));
                   return Status{};
                 });
}

const bool registered = [] {
  scenario_extensions().push_back(add_dma_commands);
  return true;
}();

}  // namespace
}  // namespace modiommu::sim
