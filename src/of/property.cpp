// Property accessors and the shared error/cell helpers (diag.h).
#include <cstdio>

#include "of/diag.h"
#include "of/tree.h"

namespace modiommu::of {

namespace {
// DT spec 2.2.4: cells are 32-bit big-endian.
uint32_t be32_at(const std::vector<uint8_t>& v, size_t off) {
  return (uint32_t{v[off]} << 24) | (uint32_t{v[off + 1]} << 16) | (uint32_t{v[off + 2]} << 8) |
         uint32_t{v[off + 3]};
}
}  // namespace

std::optional<uint32_t> Property::cell(size_t i) const {
  if (i >= cell_count()) return std::nullopt;
  return be32_at(value, i * 4);
}

Result<std::vector<uint32_t>> Property::cells() const {
  if (value.size() % 4 != 0)
    return make_error(Errc::inval, "property " + name + ": length " + std::to_string(value.size()) +
                                       " is not a multiple of 4 (not a cell array)");
  std::vector<uint32_t> out(cell_count());
  for (size_t i = 0; i < out.size(); ++i) out[i] = be32_at(value, i * 4);
  return out;
}

// DT spec 2.2.4.1 <stringlist>: NUL-terminated strings back to back. A
// missing final NUL (hostile blob) still yields the last string.
std::vector<std::string> Property::strings() const {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == 0) {
      out.emplace_back(reinterpret_cast<const char*>(value.data()) + start, i - start);
      start = i + 1;
    }
  }
  if (start < value.size())
    out.emplace_back(reinterpret_cast<const char*>(value.data()) + start, value.size() - start);
  return out;
}

std::string Property::str() const {
  auto all = strings();
  return all.empty() ? std::string() : all.front();
}

namespace detail {

std::string where(const Node& node) { return node.tree().source() + ": " + node.path(); }

Error node_error(Errc code, const Node& node, std::string_view prop, std::string_view msg) {
  std::string m = where(node);
  if (!prop.empty()) {
    m += ": ";
    m += prop;
  }
  m += ": ";
  m += msg;
  return make_error(code, std::move(m));
}

Result<uint32_t> cells_prop(const Node& node, std::string_view name, uint32_t fallback) {
  const Property* p = node.prop(name);
  if (!p) return fallback;
  if (p->value.size() != 4)
    return node_error(Errc::inval, node, name,
                      "must be exactly one cell, has " + std::to_string(p->value.size()) + " bytes");
  return *p->cell(0);
}

uint64_t join_cells(std::span<const uint32_t> cells) {
  uint64_t v = 0;
  for (uint32_t c : cells) v = (v << 32) | c;
  return v;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace detail
}  // namespace modiommu::of
