#include "report/check.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace modiommu::report {

namespace fs = std::filesystem;

Result<std::vector<std::string>> collect_platform_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const auto ext = it->path().extension();
        if (ext != ".dtb" && ext != ".dts") continue;
        // A .dtb that is a symlink loop or a fifo is still named: its boot
        // fails with what it is. Only directories are not trees.
        std::error_code st;
        if (!it->is_directory(st)) found.push_back(it->path().string());
      }
      if (ec) return make_error(Errc::io, "cannot read directory " + p + ": " + ec.message());
      if (found.empty()) return make_error(Errc::noent, "no .dtb or .dts files in " + p);
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(fs::symlink_status(p, ec))) {
      out.push_back(p);
    } else {
      return make_error(Errc::noent, "no such file or directory: " + p);
    }
  }
  return out;
}

namespace {

struct BootResult {
  std::unique_ptr<Kernel> k;
  Status st;
};

// A Kernel owns the tree it booted, so each policy's boot gets its own.
BootResult boot_one(std::unique_ptr<of::Tree> tree, KernelOptions ko) {
  BootResult r;
  r.k = std::make_unique<Kernel>(std::move(ko));
  r.k->log().set_sink(nullptr);
  r.st = r.k->boot(std::move(tree));
  if (r.st.ok()) r.k->boot_complete();
  return r;
}

size_t count(const Topology& t, Outcome o) {
  return static_cast<size_t>(
      std::count_if(t.masters.begin(), t.masters.end(), [o](const MasterReport& m) { return m.outcome == o; }));
}

}  // namespace

TreeCheck check_tree(const std::string& file, const KernelOptions& base) {
  const auto t0 = std::chrono::steady_clock::now();
  TreeCheck r;
  r.file = file;
  auto tree = of::Tree::load_file(file);
  if (!tree.ok()) {
    r.error = tree.error().str();
    r.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  r.parsed = true;
  KernelOptions ko = base;
  ko.generic_endpoints = true;
  // The run reported in detail uses the policy asked for; the other policy
  // is booted too, for its counts.
  const bool asked_fail = ko.iommu.missing == iommu::MissingIommu::fail;
  BootResult main = boot_one(std::move(tree).value(), ko);
  if (!main.st.ok()) {
    r.error = main.st.error().str();
  } else {
    r.booted = true;
    r.topo = extract_topology(*main.k);
    r.devices = main.k->core().devices().size();
    for (const auto& e : main.k->log().entries())
      if (e.level == LogLevel::err) r.errors.push_back(e.format());
    for (const auto& m : r.topo.masters)
      if (!m.binding_error.empty()) r.binding_errors.push_back(m.path + ": " + m.binding_error);
    KernelOptions other = ko;
    other.iommu.missing = asked_fail ? iommu::MissingIommu::bypass : iommu::MissingIommu::fail;
    auto again = of::Tree::load_file(file);
    Topology alt_topo;
    if (again.ok()) {
      BootResult alt = boot_one(std::move(again).value(), other);
      if (alt.st.ok()) alt_topo = extract_topology(*alt.k);
    }
    const Topology& bypass_t = asked_fail ? alt_topo : r.topo;
    const Topology& fail_t = asked_fail ? r.topo : alt_topo;
    r.bypass_masters = count(bypass_t, Outcome::bypass);
    r.never_probe_bypass = count(bypass_t, Outcome::never_probes);
    r.never_probe_fail = count(fail_t, Outcome::never_probes);
  }
  r.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::vector<TreeCheck> check_trees(const std::vector<std::string>& files, const CheckOptions& opts) {
  std::vector<TreeCheck> results(files.size());
  unsigned jobs = opts.jobs ? opts.jobs : std::max(1u, std::thread::hardware_concurrency());
  jobs = std::min<unsigned>(jobs, static_cast<unsigned>(std::max<size_t>(files.size(), 1)));
  std::atomic<size_t> next{0};
  std::mutex progress_lock;  // serialises the progress callback; docs/architecture.md "Locks"
  size_t done = 0;
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < files.size();) {
      results[i] = check_tree(files[i], opts.kernel);
      std::lock_guard g(progress_lock);
      ++done;
      if (opts.progress) opts.progress(done, files.size(), results[i]);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned j = 1; j < jobs; ++j) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return results;
}

CheckSummary summarise(const std::vector<TreeCheck>& results) {
  CheckSummary s;
  for (const auto& r : results) {
    ++s.trees;
    if (r.parsed) ++s.parsed;
    if (r.booted) ++s.booted;
    if (!r.parsed || (r.parsed && !r.booted)) s.parse_errors.push_back(r.file + ": " + r.error);
    for (const auto& e : r.binding_errors) s.parse_errors.push_back(r.file + ": " + e);
    for (const auto& m : r.topo.masters) {
      ++s.masters;
      ++s.outcomes[outcome_name(m.outcome)];
      if (!m.attached_iommu.empty()) ++s.masters_resolved;
      if (m.outcome == Outcome::isolated) ++s.masters_isolated;
      if (m.outcome == Outcome::left_out) ++s.masters_left_out;
      if (m.mismatch) ++s.mismatches;
    }
    s.bypass_masters += r.bypass_masters;
    s.never_probe_bypass += r.never_probe_bypass;
    s.never_probe_fail += r.never_probe_fail;
    for (const auto& i : r.topo.iommus) {
      ++s.iommu_nodes;
      const std::string key = i.compatible.empty() ? "(no compatible)" : i.compatible.front();
      auto& k = s.kinds[key];
      k.family = i.kind;
      ++k.nodes;
      if (i.modelled) ++k.modelled;
      if (i.registered) ++k.driven;
      if (!i.enabled) ++k.disabled;
    }
  }
  return s;
}

std::string format_tree_line(const TreeCheck& r) {
  if (!r.parsed) return fmt::format("FAIL  {}: parse error: {}", r.file, r.error);
  if (!r.booted) return fmt::format("FAIL  {}: boot error: {}", r.file, r.error);
  size_t iso = 0, byp = 0, never = 0, mism = 0, left = 0;
  for (const auto& m : r.topo.masters) {
    iso += m.outcome == Outcome::isolated;
    left += m.outcome == Outcome::left_out;
    byp += m.outcome == Outcome::bypass;
    never += m.outcome == Outcome::never_probes;
    mism += m.mismatch;
  }
  std::string line = fmt::format("ok    {}: {} devices, {} IOMMUs, {} masters: {} isolated, {} without isolation, "
                                 "{} never probe",
                                 r.file, r.devices, r.topo.iommus.size(), r.topo.masters.size(), iso, byp, never);
  if (left) line += fmt::format(", {} left out by their driver's policy", left);
  if (mism) line += fmt::format(", {} MISMATCHED (attached to another IOMMU than the tree names)", mism);
  if (!r.binding_errors.empty()) line += fmt::format(", {} malformed IOMMU binding(s)", r.binding_errors.size());
  if (!r.errors.empty()) line += fmt::format(", {} error line(s) in the boot log", r.errors.size());
  return line;
}

std::string format_summary(const CheckSummary& s, double seconds) {
  std::string out;
  out += fmt::format("{} trees: {} parsed, {} booted ({:.2f} s)\n", s.trees, s.parsed, s.booted, seconds);
  out += fmt::format("{} DMA masters (iommus / mmu-masters / PCI functions): {} resolved to an IOMMU here ({} isolated), "
                     "{} attached to another IOMMU than the tree names\n",
                     s.masters, s.masters_resolved, s.masters_isolated, s.mismatches);
  std::string by;
  for (const auto& [name, n] : s.outcomes) by += fmt::format("{}{} {}", by.empty() ? "" : ", ", n, name);
  out += "outcomes: " + (by.empty() ? std::string("none") : by) + "\n";
  if (s.masters_left_out)
    out += fmt::format("{} masters left out by their driver's policy (bound, DMA untranslated; not for want of a "
                       "driver)\n", s.masters_left_out);
  out += fmt::format("--missing-iommu=bypass: {} masters run WITHOUT isolation, {} never probe\n", s.bypass_masters,
                     s.never_probe_bypass);
  out += fmt::format("--missing-iommu=fail:   {} masters never probe\n", s.never_probe_fail);
  out += fmt::format("{} IOMMU nodes of {} kinds:\n", s.iommu_nodes, s.kinds.size());
  for (const auto& [compat, k] : s.kinds) {
    // The IOMMU families modiommu has a driver and a device model for.
    const bool ours = k.family == "arm-smmu" || k.family == "arm-smmu-v3" ||
                      k.family == "rockchip-iommu" || k.family == "ipmmu-vmsa" || k.family == "mtk-iommu" ||
                      k.family == "tegra-smmu" || k.family == "qcom-iommu" || k.family == "sun50i-iommu" ||
                      k.family == "exynos-iommu";
    const std::string off = k.disabled ? fmt::format(", {} disabled in the tree", k.disabled) : "";
    std::string here = k.driven ? fmt::format("driven here ({} registered{})", k.driven, off)
                       : ours && k.disabled == k.nodes ? "driver here; every node is disabled in its tree"
                       : k.modelled ? "device model here, no driver registered" + off
                                    : "no driver or device model in modiommu: masters decoded only";
    out += fmt::format("  {:<44} {:<15} {:>4} nodes  {}\n", compat, k.family, k.nodes, here);
  }
  if (!s.parse_errors.empty()) {
    out += fmt::format("{} parse/binding errors:\n", s.parse_errors.size());
    for (const auto& e : s.parse_errors) out += "  " + e + "\n";
  }
  return out;
}

nlohmann::json check_json(const std::vector<TreeCheck>& results, const CheckSummary& s, double seconds) {
  using nlohmann::json;
  json doc;
  json kinds = json::object();
  for (const auto& [compat, k] : s.kinds)
    kinds[compat] = {{"family", k.family}, {"nodes", k.nodes}, {"modelled", k.modelled}, {"driven", k.driven}, {"disabled", k.disabled}};
  doc["summary"] = {{"trees", s.trees},
                    {"parsed", s.parsed},
                    {"booted", s.booted},
                    {"masters", s.masters},
                    {"masters_resolved", s.masters_resolved},
                    {"masters_isolated", s.masters_isolated},
                    {"masters_left_out", s.masters_left_out},
                    {"mismatches", s.mismatches},
                    {"iommu_nodes", s.iommu_nodes},
                    {"iommu_kinds", kinds},
                    {"outcomes", s.outcomes},
                    {"bypass", {{"without_isolation", s.bypass_masters}, {"never_probe", s.never_probe_bypass}}},
                    {"fail", {{"never_probe", s.never_probe_fail}}},
                    {"parse_errors", s.parse_errors},
                    {"seconds", seconds}};
  doc["trees"] = json::array();
  for (const auto& r : results) {
    json t = {{"file", r.file}, {"parsed", r.parsed}, {"booted", r.booted}, {"devices", r.devices},
              {"errors", r.errors}, {"binding_errors", r.binding_errors}, {"millis", r.millis}};
    if (!r.error.empty()) t["error"] = r.error;
    t["bypass"] = {{"without_isolation", r.bypass_masters}, {"never_probe", r.never_probe_bypass}};
    t["fail"] = {{"never_probe", r.never_probe_fail}};
    t["topology"] = to_json(r.topo);
    doc["trees"].push_back(std::move(t));
  }
  return doc;
}

}  // namespace modiommu::report
