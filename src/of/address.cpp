// reg decoding and address translation through `ranges` (DT spec 2.3.6,
// 2.3.8).
#include "of/diag.h"
#include "of/tree.h"

namespace modiommu::of {

namespace {
using detail::node_error;

// #address-cells / #size-cells a bus node declares for its children; we
// handle at most 2 cells (64 bits) per number.
struct BusCells {
  uint32_t addr;
  uint32_t size;
};

Result<BusCells> bus_cells(const Node& bus, const Node& user, std::string_view prop) {
  uint32_t a = TRY(detail::cells_prop(bus, "#address-cells", 2));
  uint32_t s = TRY(detail::cells_prop(bus, "#size-cells", 1));
  if (a > 2 || s > 2)
    return node_error(Errc::notsup, user, prop,
                      "parent " + bus.path() + " has #address-cells " + std::to_string(a) + " / #size-cells " +
                          std::to_string(s) + "; more than 2 cells per number is not supported");
  return BusCells{a, s};
}
}  // namespace

// DT spec 2.3.6: reg is (address, length) pairs in the parent's cell sizes.
Result<std::vector<RegEntry>> Node::reg() const {
  std::vector<RegEntry> out;
  const Property* p = prop("reg");
  if (!p) return out;
  // The root has no parent bus: use the spec defaults.
  BusCells bc = parent_ ? TRY(bus_cells(*parent_, *this, "reg")) : BusCells{2, 1};
  size_t entry = (size_t{bc.addr} + bc.size) * 4;
  if (entry == 0) {
    if (p->value.empty()) return out;
    return node_error(Errc::inval, *this, "reg", "parent has #address-cells 0 and #size-cells 0");
  }
  if (p->value.size() % entry != 0)
    return node_error(Errc::inval, *this, "reg",
                      "length " + std::to_string(p->value.size()) + " bytes is not a multiple of the " +
                          std::to_string(entry) + "-byte entry (#address-cells " + std::to_string(bc.addr) +
                          ", #size-cells " + std::to_string(bc.size) + ")");
  auto cells = TRY(p->cells());
  std::span<const uint32_t> c(cells);
  for (size_t i = 0; i < c.size(); i += bc.addr + bc.size) {
    RegEntry e;
    e.address = detail::join_cells(c.subspan(i, bc.addr));
    e.size = detail::join_cells(c.subspan(i + bc.addr, bc.size));
    out.push_back(e);
  }
  return out;
}

// DT spec 2.3.8: each bus between the node and the root maps its children's
// addresses to its parent's with `ranges` = (child-addr, parent-addr,
// length) triples; an empty `ranges` is the identity, a missing one means
// the child address space is not memory-mapped.
Result<uint64_t> Node::translated_address(size_t index) const {
  auto regs = TRY(reg());
  if (index >= regs.size())
    return node_error(Errc::range, *this, "reg",
                      "has " + std::to_string(regs.size()) + " entries, no index " + std::to_string(index));
  uint64_t addr = regs[index].address;
  // Walk bus by bus towards the root; the parent chain of a tree is finite.
  for (const Node* bus = parent_; bus && bus->parent_; bus = bus->parent_) {
    const Property* r = bus->prop("ranges");
    if (!r)
      return node_error(Errc::inval, *this, "reg",
                        "not translatable: bus " + bus->path() + " has no ranges property");
    if (r->value.empty()) continue;  // identity mapping
    BusCells child = TRY(bus_cells(*bus, *bus, "ranges"));
    BusCells parent = TRY(bus_cells(*bus->parent_, *bus, "ranges"));
    size_t n = size_t{child.addr} + parent.addr + child.size;
    if (n == 0 || r->value.size() % (n * 4) != 0)
      return node_error(Errc::inval, *bus, "ranges",
                        "length " + std::to_string(r->value.size()) + " bytes is not a multiple of " +
                            std::to_string(n) + " cells");
    auto cells = TRY(r->cells());
    std::span<const uint32_t> c(cells);
    bool found = false;
    for (size_t i = 0; i < c.size(); i += n) {
      uint64_t cbase = detail::join_cells(c.subspan(i, child.addr));
      uint64_t pbase = detail::join_cells(c.subspan(i + child.addr, parent.addr));
      uint64_t len = detail::join_cells(c.subspan(i + child.addr + parent.addr, child.size));
      // addr - cbase < len avoids the overflow of cbase + len.
      if (addr >= cbase && addr - cbase < len) {
        // A parent window past 2^64 would put the node at a small address
        // (0 and up) where it is not: refuse the translation.
        if (pbase + (len - 1) < pbase)
          return node_error(Errc::range, *this, "reg",
                            "not translatable: ranges entry of " + bus->path() + " (child " + detail::hex(cbase) +
                                ", parent " + detail::hex(pbase) + ", length " + detail::hex(len) +
                                ") wraps past 2^64");
        addr = pbase + (addr - cbase);
        found = true;
        break;
      }
    }
    if (!found)
      return node_error(Errc::inval, *this, "reg",
                        "address " + detail::hex(addr) + " is outside every ranges entry of " + bus->path());
  }
  return addr;
}

}  // namespace modiommu::of
