#include "report/graph.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/owner.h"
#include "report/iommu_kinds.h"

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

std::string emit_dot(Kernel& k) {
  const CoreSnapshot cs = k.core().snapshot();
  std::vector<const Device*> devs;
  for (const auto& ds : cs.devices) devs.push_back(ds.dev.get());
  std::map<const Device*, std::string> id;
  for (size_t i = 0; i < devs.size(); ++i) id[devs[i]] = fmt::format("d{}", i);

  auto node = [&](const Device* d, bool bypass) {
    const DeviceSnapshot* s = cs.find(d);
    if (!s) return std::string();
    std::string label = d->name();
    if (!d->compatible().empty()) label += "\n" + d->compatible().front();
    label += std::string("\n") + device_state_name(s->state);
    if (!s->driver.empty()) {
      label += " (" + s->driver;
      if (!s->driver_module.empty()) label += ", module " + s->driver_module;
      label += ")";
    }
    if (s->state == DeviceState::deferred || s->state == DeviceState::failed) label += "\n" + wrap(s->reason);
    if (bypass) label += "\nNO ISOLATION (bypass)";
    return fmt::format("    {} [label=\"{}\", fillcolor={}{}];\n", id[d], esc(label), state_colour(s->state),
                       bypass ? ", color=red, penwidth=3" : "");
  };

  std::string out = "digraph modiommu {\n  rankdir=LR;\n  compound=true;\n  fontname=\"Helvetica\";\n"
                    "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n"
                    "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  out += fmt::format("  label=\"{}\";\n  labelloc=t;\n", esc(k.tree() ? k.tree()->source() : "machine"));
  std::set<const Device*> placed;

  // One cluster per IOMMU node the tree describes, registered or not.
  std::map<std::string, std::vector<const Device*>> by_iommu_group;  // cluster key -> devices
  size_t ci = 0;
  const std::vector<iommu::GroupSnapshot> groups = k.iommu().group_snapshots();
  for (const Device* d : devs) {
    const of::Node* n = d->fwnode();
    if (!n || !is_iommu_node(*n)) continue;
    const IommuKind* kind = iommu_kind(*n);
    const bool registered = k.iommu().find_iommu(n) != nullptr;
    out += fmt::format("  subgraph cluster_iommu{} {{\n    label=\"IOMMU {} [{}]{}\";\n    style=filled;\n"
                       "    fillcolor=\"{}\";\n",
                       ci++, esc(d->name()), kind ? kind->family : "unknown kind",
                       registered ? "" : " (not registered)", registered ? "#e8f0ff" : "#f4f4f4");
    out += node(d, false);
    placed.insert(d);
    for (const iommu::GroupSnapshot& grp : groups) {
      if (grp.iommu_fwnode != n) continue;
      out += fmt::format("    subgraph cluster_group{} {{\n      label=\"group {}: {} domain\";\n      style=dashed;\n",
                         grp.id, grp.id, grp.domain ? iommu::domain_type_name(*grp.domain) : "no");
      for (const auto& m : grp.members) {
        out += "  " + node(m.dev, false);
        placed.insert(m.dev);
      }
      out += "    }\n";
    }
    // Masters firmware puts behind this IOMMU that are not attached to it
    // (waiting, failed, or running without isolation).
    std::string waiting;
    for (const Device* m : devs) {
      if (placed.count(m) || !m->fwnode()) continue;
      auto refs = of::iommu_refs(*m->fwnode());
      const of::PhandleArgs* pa = refs.ok() ? of::first_enabled(*refs) : nullptr;
      if (!pa || pa->target != n) continue;
      auto info = k.iommu().info(*m);
      waiting += "  " + node(m, info && info->bypass_fallback);
      placed.insert(m);
    }
    if (!waiting.empty())
      out += fmt::format("    subgraph cluster_detached{} {{\n      label=\"named in iommus, not attached\";\n"
                         "      style=dotted;\n{}    }}\n",
                         ci - 1, waiting);
    out += "  }\n";
  }
  // Masters running without isolation stand out in their own cluster.
  std::string bypass;
  for (const Device* d : devs)
    if (!placed.count(d))
      if (auto info = k.iommu().info(*d); info && info->bypass_fallback) {
        bypass += node(d, true);
        placed.insert(d);
      }
  if (!bypass.empty())
    out += "  subgraph cluster_bypass {\n    label=\"WITHOUT isolation (IOMMU never driven)\";\n    style=filled;\n"
           "    fillcolor=\"#ffe8e0\";\n" +
           bypass + "  }\n";
  // Everything else by bus. On a real board most devices are unbound and
  // unlinked (no driver here): past a handful they fold into one node per
  // bus, so the IOMMU topology stays what the eye sees.
  std::set<const Device*> in_links;
  for (const auto& l : cs.links) {
    in_links.insert(l.consumer);
    in_links.insert(l.supplier);
  }
  std::map<std::string, std::vector<const Device*>> plain;
  for (const Device* d : devs)
    if (!placed.count(d) && cs.find(d)->state == DeviceState::unbound && !in_links.count(d))
      plain[d->bus() ? d->bus()->name() : "none"].push_back(d);
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
      names += "\n" + list[i]->name();
      placed.insert(list[i]);
    }
    for (const Device* d : list) placed.insert(d);
    by_bus[bus] += fmt::format("    folded_{} [label=\"{} unbound devices with no IOMMU role{}\", fillcolor=lightgrey];\n",
                               bus, list.size(), esc(names));
  }
  for (const Device* d : devs)
    if (!placed.count(d)) by_bus[d->bus() ? d->bus()->name() : "none"] += node(d, false);
  size_t bi = 0;
  for (const auto& [bus, body] : by_bus)
    out += fmt::format("  subgraph cluster_bus{} {{\n    label=\"{} bus\";\n    style=dotted;\n{}  }}\n", bi++,
                       esc(bus), body);

  // Device links: consumer -> supplier.
  std::set<std::pair<const Device*, const Device*>> linked;
  for (const auto& l : cs.links) {
    linked.insert({l.consumer, l.supplier});
    out += fmt::format("  {} -> {} [label=\"{} ({})\", style={}, color={}];\n", id[l.consumer], id[l.supplier],
                       esc(l.why), link_state_name(l.state), l.kind == LinkKind::firmware ? "dashed" : "solid",
                       l.state == LinkState::active ? "darkgreen" : "gray40");
  }
  // What firmware says where no link shows it (disabled or unpopulated IOMMU).
  // A node with no device gets an id by order of first mention: ids made
  // from its path (a hash) could collide.
  std::map<const of::Node*, std::string> node_id;
  for (const Device* d : devs) {
    if (!d->fwnode()) continue;
    auto refs = of::iommu_refs(*d->fwnode());
    if (!refs.ok()) continue;
    for (const auto& pa : refs->refs) {
      const DeviceSnapshot* provider = cs.last_by_fwnode(pa.target);
      const Device* s = provider ? provider->dev.get() : nullptr;
      if (s && linked.count({d, s})) continue;
      if (!s && !node_id.count(pa.target)) node_id.emplace(pa.target, fmt::format("n_{}", node_id.size()));
      const std::string target = s ? id[s] : node_id.at(pa.target);
      if (!s)
        out += fmt::format("  {} [label=\"{}\\n{}\", shape=note, fillcolor=white];\n", target, esc(pa.target->path()),
                           pa.target->available() ? "no device" : "disabled");
      out += fmt::format("  {} -> {} [label=\"iommus: {}\", style=dotted, color=red];\n", id[d], target,
                         esc(decode_specifier(*pa.target, pa.args).text));
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
