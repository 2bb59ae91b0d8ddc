#include "report/graph.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/topology.h"

namespace modiommu::report {
namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

// Long reasons wrap so nodes stay readable.
std::string wrap(const std::string& s, size_t width = 48) {
  std::string out, line;
  size_t start = 0;
  while (start < s.size()) {
    size_t sp = s.find(' ', start);
    std::string word = s.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    if (sp == std::string::npos) break;
    start = sp + 1;
  }
  return out + line;
}

const char* state_colour(DeviceState s) {
  switch (s) {
    case DeviceState::bound: return "palegreen";
    case DeviceState::deferred: return "gold";
    case DeviceState::failed: return "salmon";
    case DeviceState::unbound: return "lightgrey";
  }
  return "white";
}

}  // namespace

std::string render_dot(const Topology& t) {
  const auto& devs = t.devices;
  const auto id = [](int i) { return fmt::format("d{}", i); };
  const auto node = [&](int i, bool bypass) {
    if (i < 0) return std::string();
    const DeviceView& d = devs[static_cast<size_t>(i)];
    std::string label = d.name;
    if (!d.compatible.empty()) label += "\n" + d.compatible;
    label += std::string("\n") + device_state_name(d.state);
    if (!d.driver.empty()) {
      label += " (" + d.driver;
      if (!d.driver_module.empty()) label += ", module " + d.driver_module;
      label += ")";
    }
    if (d.state == DeviceState::deferred || d.state == DeviceState::failed) label += "\n" + wrap(d.reason);
    if (bypass) label += "\nNO ISOLATION (bypass)";
    return fmt::format("    {} [label=\"{}\", fillcolor={}{}];\n", id(i), esc(label), state_colour(d.state),
                       bypass ? ", color=red, penwidth=3" : "");
  };
  const int n_devs = static_cast<int>(devs.size());

  std::string out = "digraph modiommu {\n  rankdir=LR;\n  compound=true;\n  fontname=\"Helvetica\";\n"
                    "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n"
                    "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  out += fmt::format("  label=\"{}\";\n  labelloc=t;\n", esc(t.source.empty() ? "machine" : t.source));
  std::vector<bool> placed(devs.size(), false);

  // One cluster per device standing for an IOMMU node, registered or not.
  size_t ci = 0;
  for (int i = 0; i < n_devs; ++i) {
    const int iommu = devs[static_cast<size_t>(i)].iommu;
    if (iommu < 0) continue;
    const IommuReport& r = t.iommus[static_cast<size_t>(iommu)];
    out += fmt::format("  subgraph cluster_iommu{} {{\n    label=\"IOMMU {} [{}]{}\";\n    style=filled;\n"
                       "    fillcolor=\"{}\";\n",
                       ci++, esc(devs[static_cast<size_t>(i)].name), r.kind == "unknown" ? "unknown kind" : r.kind,
                       r.registered ? "" : " (not registered)", r.registered ? "#e8f0ff" : "#f4f4f4");
    out += node(i, false);
    placed[static_cast<size_t>(i)] = true;
    for (const GroupView& g : t.groups) {
      if (g.iommu != iommu) continue;
      out += fmt::format("    subgraph cluster_group{} {{\n      label=\"group {}: {} domain\";\n      style=dashed;\n",
                         g.id, g.id, g.domain.empty() ? "no" : g.domain);
      for (int m : g.members) {
        out += "  " + node(m, false);
        if (m >= 0) placed[static_cast<size_t>(m)] = true;
      }
      out += "    }\n";
    }
    // Masters firmware puts behind this IOMMU that are not attached to it
    // (waiting, failed, or running without isolation).
    std::string waiting;
    for (int m = 0; m < n_devs; ++m) {
      const DeviceView& d = devs[static_cast<size_t>(m)];
      if (placed[static_cast<size_t>(m)] || d.named_iommu != iommu) continue;
      waiting += "  " + node(m, d.bypass);
      placed[static_cast<size_t>(m)] = true;
    }
    if (!waiting.empty())
      out += fmt::format("    subgraph cluster_detached{} {{\n      label=\"named in iommus, not attached\";\n"
                         "      style=dotted;\n{}    }}\n",
                         ci - 1, waiting);
    out += "  }\n";
  }
  // Masters running without isolation stand out in their own cluster.
  std::string bypass;
  for (int i = 0; i < n_devs; ++i)
    if (!placed[static_cast<size_t>(i)] && devs[static_cast<size_t>(i)].bypass) {
      bypass += node(i, true);
      placed[static_cast<size_t>(i)] = true;
    }
  if (!bypass.empty())
    out += "  subgraph cluster_bypass {\n    label=\"WITHOUT isolation (IOMMU never driven)\";\n    style=filled;\n"
           "    fillcolor=\"#ffe8e0\";\n" +
           bypass + "  }\n";
  // Everything else by bus. On a real board most devices are unbound and
  // unlinked (no driver here): past a handful they fold into one node per
  // bus, so the IOMMU topology stays what the eye sees.
  std::vector<bool> in_links(devs.size(), false);
  for (const LinkView& l : t.links)
    for (int e : {l.consumer, l.supplier})
      if (e >= 0) in_links[static_cast<size_t>(e)] = true;
  std::map<std::string, std::vector<int>> plain;
  for (int i = 0; i < n_devs; ++i)
    if (!placed[static_cast<size_t>(i)] && devs[static_cast<size_t>(i)].state == DeviceState::unbound &&
        !in_links[static_cast<size_t>(i)])
      plain[devs[static_cast<size_t>(i)].bus].push_back(i);
  constexpr size_t kFoldAbove = 8;
  std::map<std::string, std::string> by_bus;
  for (auto& [bus, list] : plain) {
    if (list.size() <= kFoldAbove) continue;
    std::string names;
    for (size_t i = 0; i < list.size(); ++i) {
      if (i == kFoldAbove) {
        names += fmt::format("\n... and {} more", list.size() - i);
        break;
      }
      names += "\n" + devs[static_cast<size_t>(list[i])].name;
    }
    for (int i : list) placed[static_cast<size_t>(i)] = true;
    by_bus[bus] += fmt::format("    folded_{} [label=\"{} unbound devices with no IOMMU role{}\", fillcolor=lightgrey];\n",
                               bus, list.size(), esc(names));
  }
  for (int i = 0; i < n_devs; ++i)
    if (!placed[static_cast<size_t>(i)]) by_bus[devs[static_cast<size_t>(i)].bus] += node(i, false);
  size_t bi = 0;
  for (const auto& [bus, body] : by_bus)
    out += fmt::format("  subgraph cluster_bus{} {{\n    label=\"{} bus\";\n    style=dotted;\n{}  }}\n", bi++,
                       esc(bus), body);

  // Device links: consumer -> supplier.
  std::set<std::pair<int, int>> linked;
  for (const LinkView& l : t.links) {
    linked.insert({l.consumer, l.supplier});
    out += fmt::format("  {} -> {} [label=\"{} ({})\", style={}, color={}];\n", id(l.consumer), id(l.supplier),
                       esc(l.why), link_state_name(l.state), l.kind == LinkKind::firmware ? "dashed" : "solid",
                       l.state == LinkState::active ? "darkgreen" : "gray40");
  }
  // What firmware says where no link shows it (disabled or unpopulated IOMMU).
  // A node with no device gets an id by order of first mention: ids made
  // from its path (a hash) could collide.
  std::map<std::string, std::string> node_id;  // IOMMU node path -> id
  for (int i = 0; i < n_devs; ++i) {
    for (const DeviceView::Ref& r : devs[static_cast<size_t>(i)].refs) {
      if (r.provider >= 0 && linked.count({i, r.provider})) continue;
      if (r.provider < 0 && !node_id.count(r.iommu_path))
        node_id.emplace(r.iommu_path, fmt::format("n_{}", node_id.size()));
      const std::string target = r.provider >= 0 ? id(r.provider) : node_id.at(r.iommu_path);
      if (r.provider < 0)
        out += fmt::format("  {} [label=\"{}\\n{}\", shape=note, fillcolor=white];\n", target, esc(r.iommu_path),
                           r.iommu_enabled ? "no device" : "disabled");
      out += fmt::format("  {} -> {} [label=\"iommus: {}\", style=dotted, color=red];\n", id(i), target,
                         esc(r.decoded));
    }
  }
  // Legend: one compact table.
  out += "  legend [shape=plaintext, style=\"\", label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\">"
         "<tr><td colspan=\"2\"><b>legend</b></td></tr>";
  for (DeviceState st : {DeviceState::bound, DeviceState::deferred, DeviceState::unbound, DeviceState::failed})
    out += fmt::format("<tr><td bgcolor=\"{}\">{}</td><td>device state</td></tr>", state_colour(st),
                       device_state_name(st));
  out += "<tr><td color=\"red\">red border</td><td>DMA without isolation</td></tr>"
         "<tr><td>solid arrow</td><td>managed device link, consumer to supplier</td></tr>"
         "<tr><td>dashed arrow</td><td>firmware link (fw_devlink)</td></tr>"
         "<tr><td>red dotted</td><td>iommus with no link (IOMMU disabled or absent)</td></tr>"
         "</table>>];\n}\n";
  return out;
}

std::string emit_dot(Kernel& k) { return render_dot(extract_topology(k, TopologyParts::devices)); }

Status write_graph(Kernel& k, const std::string& out) {
  const std::string dot = emit_dot(k);
  auto ext = out.size() >= 4 ? out.substr(out.size() - 4) : "";
  if (ext == ".dot" || ext == ".gv") {
    std::ofstream f(out);
    if (!f) return make_error(Errc::io, "cannot write " + out);
    f << dot;
    return f.good() ? Status{} : make_error(Errc::io, "cannot write " + out);
  }
  if (ext != ".svg" && ext != ".png") return make_error(Errc::inval, "graph output must end in .dot, .svg or .png: " + out);
  // dot -Tsvg -o OUT, fed on stdin; no shell, so the name needs no quoting.
  int in[2];
  if (pipe(in) != 0) return make_error(Errc::io, "pipe for Graphviz failed");
  pid_t pid = fork();
  if (pid < 0) return make_error(Errc::io, "fork for Graphviz failed");
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    close(in[0]);
    close(in[1]);
    const std::string fmtarg = "-T" + ext.substr(1);
    execlp("dot", "dot", fmtarg.c_str(), "-o", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  // A dot that dies early must not kill us with SIGPIPE.
  auto old = std::signal(SIGPIPE, SIG_IGN);
  size_t off = 0;
  while (off < dot.size()) {
    ssize_t n = write(in[1], dot.data() + off, dot.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(in[1]);
  std::signal(SIGPIPE, old);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error(Errc::io, WIFEXITED(status) && WEXITSTATUS(status) == 127
                                    ? "Graphviz `dot` not found (Debian package graphviz); write a .dot instead"
                                    : "Graphviz `dot` failed to render " + out);
  return {};
}

}  // namespace modiommu::report
