// Node and Tree lookups. The tree is immutable after load: no locking.
#include <algorithm>

#include "of/tree.h"

namespace modiommu::of {

std::string Node::path() const {
  if (!parent_) return "/";
  // Collect names leaf to root; the parent chain is finite (a tree).
  std::vector<const std::string*> parts;
  for (const Node* n = this; n->parent_; n = n->parent_) parts.push_back(&n->name_);
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    out += '/';
    out += **it;
  }
  return out;
}

const Property* Node::prop(std::string_view name) const {
  for (const auto& p : props_)
    if (p.name == name) return &p;
  return nullptr;
}

std::optional<uint32_t> Node::u32(std::string_view name) const {
  const Property* p = prop(name);
  if (!p) return std::nullopt;
  return p->cell(0);
}

std::vector<std::string> Node::compatible() const {
  const Property* p = prop("compatible");
  return p ? p->strings() : std::vector<std::string>{};
}

bool Node::is_compatible(std::string_view compat) const {
  for (const auto& c : compatible())
    if (c == compat) return true;
  return false;
}

// DT spec 2.3.4: "okay" (Linux also accepts the older "ok").
bool Node::available() const {
  const Property* p = prop("status");
  if (!p) return true;
  std::string s = p->str();
  return s == "okay" || s == "ok";
}

// DT spec 2.3.5: defaults 2 and 1 when absent (not inherited).
uint32_t Node::address_cells() const { return u32("#address-cells").value_or(2); }
uint32_t Node::size_cells() const { return u32("#size-cells").value_or(1); }

namespace {
// A path component matches a node by full name, or by the name before '@'
// when the component has no unit address (as of_find_node_by_path does).
const Node* find_child(const Node& parent, std::string_view comp) {
  for (const auto& c : parent.children())
    if (c->name() == comp) return c.get();
  if (comp.find('@') == std::string_view::npos) {
    for (const auto& c : parent.children()) {
      std::string_view n = c->name();
      if (n.substr(0, n.find('@')) == comp) return c.get();
    }
  }
  return nullptr;
}
}  // namespace

Node* Tree::find(std::string_view path) const {
  if (!root_ || path.empty()) return nullptr;
  const Node* cur = root_.get();
  if (path.front() != '/') {
    // DT spec 3.3: a path may start with an alias ("serial0/child").
    size_t slash = path.find('/');
    std::string_view alias = path.substr(0, slash);
    const Node* aliases = find_child(*root_, "aliases");
    const Property* p = aliases ? aliases->prop(alias) : nullptr;
    if (!p) return nullptr;
    std::string target = p->str();
    if (target.empty() || target.front() != '/') return nullptr;  // no alias chains
    cur = find(target);
    if (!cur) return nullptr;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  while (!path.empty()) {
    size_t start = path.find_first_not_of('/');
    if (start == std::string_view::npos) break;
    path.remove_prefix(start);
    size_t end = path.find('/');
    std::string_view comp = path.substr(0, end);
    cur = find_child(*cur, comp);
    if (!cur) return nullptr;
    path = end == std::string_view::npos ? std::string_view() : path.substr(end);
  }
  return const_cast<Node*>(cur);
}

Node* Tree::by_phandle(Phandle ph) const {
  if (ph == 0) return nullptr;
  auto it = std::lower_bound(phandles_.begin(), phandles_.end(), ph,
                             [](const std::pair<Phandle, Node*>& e, Phandle v) { return e.first < v; });
  return it != phandles_.end() && it->first == ph ? it->second : nullptr;
}

std::vector<Node*> Tree::nodes() const {
  std::vector<Node*> out;
  if (!root_) return out;
  // Iterative pre-order: depth is bounded at load, but no recursion anyway.
  std::vector<Node*> stack{root_.get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    out.push_back(n);
    for (auto it = n->children().rbegin(); it != n->children().rend(); ++it) stack.push_back(it->get());
  }
  return out;
}

std::vector<Node*> Tree::find_compatible(std::string_view compat) const {
  std::vector<Node*> out;
  for (Node* n : nodes())
    if (n->is_compatible(compat)) out.push_back(n);
  return out;
}

}  // namespace modiommu::of
