// Tree::from_blob: a flattened device tree (DT spec chapter 5) through
// libfdt, into the in-memory tree.
#include <libfdt.h>

#include <algorithm>
#include <cstring>

#include "of/diag.h"
#include "of/tree.h"

namespace modiommu::of {

namespace {
// Linux unflattens at most 64 levels (FDT_MAX_DEPTH); deeper is hostile.
constexpr int kMaxDepth = 64;
// Real trees are well under 1 MiB; 64 MiB leaves room and bounds the copy.
constexpr size_t kMaxBlob = size_t{64} << 20;

// Header fields read bytewise: the caller's buffer may be unaligned.
uint32_t be32(std::span<const uint8_t> b, size_t off) {
  return (uint32_t{b[off]} << 24) | (uint32_t{b[off + 1]} << 16) | (uint32_t{b[off + 2]} << 8) | b[off + 3];
}

// fdt_err: a libfdt error code as libfdt returns it (-FDT_ERR_x), or 0.
Error blob_error(const std::string& source, std::string_view what, int fdt_err) {
  std::string m = source + ": bad device tree blob: " + std::string(what);
  if (fdt_err < 0) m += std::string(": ") + fdt_strerror(fdt_err);
  return make_error(Errc::inval, std::move(m));
}
}  // namespace

// Builds Nodes (whose fields are private) and the phandle index.
struct TreeBuilder {
  static Result<std::unique_ptr<Tree>> build(const void* fdt, std::string source);
  static Status check_unique_names(Tree& tree);
  static Status index_phandles(Tree& tree);
};

// Paths must name one node: dtc refuses duplicate sibling names
// (duplicate_node_names), and so do we for blobs from elsewhere.
Status TreeBuilder::check_unique_names(Tree& tree) {
  std::vector<const std::string*> names;
  for (Node* n : tree.nodes()) {
    names.clear();
    for (const auto& c : n->children_) names.push_back(&c->name_);
    std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return *a < *b; });
    for (size_t i = 1; i < names.size(); ++i)
      if (*names[i] == *names[i - 1])
        return blob_error(tree.source_, "duplicate node " + (n->parent_ ? n->path() : std::string()) + "/" + *names[i], 0);
  }
  return ok_status();
}

Status TreeBuilder::index_phandles(Tree& tree) {
  for (Node* n : tree.nodes()) {
    // DT spec 2.3.3: `phandle`; `linux,phandle` is the older spelling.
    Phandle ph = 0;
    for (const char* name : {"phandle", "linux,phandle"}) {
      const Property* p = n->prop(name);
      if (!p) continue;
      if (p->value.size() != 4)
        return detail::node_error(Errc::inval, *n, name, "must be one cell");
      uint32_t v = *p->cell(0);
      if (v == 0 || v == 0xffffffffu)
        return detail::node_error(Errc::inval, *n, name, "invalid phandle value " + detail::hex(v));
      if (ph && ph != v)
        return detail::node_error(Errc::inval, *n, name,
                                  "phandle and linux,phandle disagree (" + detail::hex(ph) + " vs " +
                                      detail::hex(v) + ")");
      ph = v;
    }
    if (ph) {
      n->phandle_ = ph;
      tree.phandles_.emplace_back(ph, n);
    }
  }
  std::stable_sort(tree.phandles_.begin(), tree.phandles_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < tree.phandles_.size(); ++i) {
    if (tree.phandles_[i].first == tree.phandles_[i - 1].first)
      return make_error(Errc::inval, tree.source_ + ": duplicate phandle " +
                                         detail::hex(tree.phandles_[i].first) + " on " +
                                         tree.phandles_[i - 1].second->path() + " and " +
                                         tree.phandles_[i].second->path());
  }
  return ok_status();
}

Result<std::unique_ptr<Tree>> TreeBuilder::build(const void* fdt, std::string source) {
  auto tree = std::make_unique<Tree>();
  tree->source_ = std::move(source);
  // stack[d] is the open node at depth d.
  std::vector<Node*> stack;
  int depth = 0;
  int off = 0;
  for (; off >= 0; off = fdt_next_node(fdt, off, &depth)) {
    // fdt_next_node returns the root's end (depth -1) after the last node.
    if (depth < 0) {
      off = -FDT_ERR_NOTFOUND;
      break;
    }
    if (depth > kMaxDepth)
      return blob_error(tree->source_, "nodes nested deeper than " + std::to_string(kMaxDepth), 0);
    if ((off == 0) != (depth == 0) || static_cast<size_t>(depth) > stack.size())
      return blob_error(tree->source_, "node structure at offset " + std::to_string(off), 0);
    int name_len = 0;
    const char* name = fdt_get_name(fdt, off, &name_len);
    if (!name) return blob_error(tree->source_, "node name at offset " + std::to_string(off), name_len);
    auto node = std::make_unique<Node>();
    node->tree_ = tree.get();
    if (depth == 0) {
      node->name_ = "/";
    } else {
      node->name_.assign(name, static_cast<size_t>(name_len));
      // A '/' or NUL in a name would make path() ambiguous.
      if (node->name_.empty() || node->name_.find_first_of(std::string_view("/\0", 2)) != std::string::npos)
        return blob_error(tree->source_, "malformed node name under " + stack[depth - 1]->path(), 0);
    }
    int poff;
    fdt_for_each_property_offset(poff, fdt, off) {
      const char* pname = nullptr;
      int len = 0;
      const void* val = fdt_getprop_by_offset(fdt, poff, &pname, &len);
      if (!val || !pname || len < 0)
        return blob_error(tree->source_, "property in " + (depth ? stack[depth - 1]->path() + "/" : "") + node->name_,
                          val ? 0 : len);
      Property p;
      p.name = pname;
      p.value.assign(static_cast<const uint8_t*>(val), static_cast<const uint8_t*>(val) + len);
      node->props_.push_back(std::move(p));
    }
    if (poff != -FDT_ERR_NOTFOUND) return blob_error(tree->source_, "property list", poff);
    Node* raw = node.get();
    stack.resize(static_cast<size_t>(depth));
    if (depth == 0) {
      if (tree->root_) return blob_error(tree->source_, "more than one root node", 0);
      tree->root_ = std::move(node);
    } else {
      raw->parent_ = stack.back();
      stack.back()->children_.push_back(std::move(node));
    }
    stack.push_back(raw);
  }
  if (off != -FDT_ERR_NOTFOUND) return blob_error(tree->source_, "node walk", off);
  if (!tree->root_) return blob_error(tree->source_, "no root node", 0);
  TRY(check_unique_names(*tree));
  TRY(index_phandles(*tree));
  return tree;
}

Result<std::unique_ptr<Tree>> Tree::from_blob(std::span<const uint8_t> blob, std::string source_name) {
  // libfdt wants the blob 8-byte aligned; copy into an aligned buffer (the
  // tree copies every property anyway).
  if (blob.size() < sizeof(fdt_header)) return blob_error(source_name, "shorter than the header", -FDT_ERR_TRUNCATED);
  // DT spec 5.2: bytes past totalsize are not part of the tree; a totalsize
  // beyond any real tree is refused before anything is copied.
  size_t used = blob.size();
  if (be32(blob, 0) == FDT_MAGIC) {
    size_t total = be32(blob, 4);  // fdt_header.totalsize
    if (total > kMaxBlob)
      return blob_error(source_name, "totalsize " + std::to_string(total) + " exceeds the " +
                                         std::to_string(kMaxBlob >> 20) + " MiB limit", 0);
    used = std::min(used, std::max(total, sizeof(fdt_header)));
  }
  std::vector<uint64_t> aligned((used + 7) / 8);
  std::memcpy(aligned.data(), blob.data(), used);
  const void* fdt = aligned.data();
  // Validate everything (header, block bounds, names, string offsets,
  // nesting) before walking, so the walk never reads outside the buffer.
  int err = fdt_check_full(fdt, used);
  if (err) return blob_error(source_name, "check failed", err);
  return TreeBuilder::build(fdt, std::move(source_name));
}

}  // namespace modiommu::of
