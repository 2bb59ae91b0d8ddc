#!/usr/bin/env python3
"""Checks modiommu's layering (docs/architecture.md, "Layers").

Resolves every `#include "..."` under src/ (against src/, then the
including file's folder), transitively, and fails when

  (a) a file under src/drivers reaches a header of the emulated hardware
      (src/hw/) or of the board (src/board/, and the board files still in
      src/kernel/) through its includes: drivers see hardware only through
      their driver context (ioremap, request_irq, the DMA API). Guest RAM's
      accessor (RAM_ACCESSOR) is the one exception;
  (b) a file includes a header of a higher layer, or of another layer of the
      same rank (peers know nothing of each other);
  (c) a layer's CMakeLists.txt links a higher layer's library, or a driver
      links anything but the driver API (so the build agrees with the table).

One line per violation: the file, the include chain and the rule. Exit
status 1 when there is any, 0 otherwise. Python 3 standard library only.

  scripts/check-layers.py [--root DIR]   (DIR holds src/; default: the repository)
"""

import argparse
import os
import re
import sys

# The layers, bottom to top. A file may include headers of its own layer
# and of layers of lower rank only. Each entry: rank, then the paths under
# src/ that belong to it (a folder ends in '/'); the longest match wins.
LAYERS = {
    "base":       (0, ["base/"]),
    "uapi":       (1, ["uapi/"]),
    "of":         (2, ["of/"]),
    "hw":         (2, ["hw/"]),
    "mm":         (3, ["mm/"]),
    "core":       (3, ["core/"]),
    "module":     (4, ["module/"]),
    "iommu":      (5, ["iommu/"]),
    # What a driver sees of the kernel: its driver context and the types
    # that context hands out. Implemented by the kernel (kernel.cpp, io.cpp).
    "driver_api": (6, ["kernel/driver_context.h", "kernel/driver_module.h", "kernel/io.h", "kernel/endpoint.h"]),
    # The board builder: device tree -> emulated machine. Firmware's job,
    # beside the driver API and unknown to it.
    "board":      (6, ["board/"]),
    # Drivers and the kernel that hosts them know nothing of each other.
    "drivers":    (7, ["drivers/"]),
    "kernel":     (7, ["kernel/"]),
    "report":     (8, ["report/"]),
    "sim":        (9, ["sim/"]),
    "dsim":       (10, ["dsim/"]),
    "cli":        (11, ["cli/"]),
}

# Guest RAM's accessor: drivers read and write kernel memory (queues, tables,
# DMA buffers) through it, as a Linux driver dereferences a kernel pointer.
RAM_ACCESSOR = "hw/memory.h"
# Rule (a): what drivers must not reach.
HIDDEN_FROM_DRIVERS = ("hw", "board")

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SOURCE_EXT = (".h", ".hpp", ".cpp", ".cc", ".c", ".inc")


def layer_of(rel):
    """The layer of a path relative to src/, or None (not in the table)."""
    best, best_len = None, -1
    for name, (_, prefixes) in LAYERS.items():
        for p in prefixes:
            if rel.startswith(p) and len(p) > best_len:
                best, best_len = name, len(p)
    return best


def may_include(frm, to):
    if frm == to:
        return True
    rf, rt = LAYERS[frm][0], LAYERS[to][0]
    return rt < rf


class Tree:
    def __init__(self, src):
        self.src = src
        self.files = []
        for d, _, names in os.walk(src):
            for n in sorted(names):
                if n.endswith(SOURCE_EXT):
                    self.files.append(os.path.relpath(os.path.join(d, n), src).replace(os.sep, "/"))
        self.files.sort()
        self._includes = {}

    def includes(self, rel):
        """Resolved direct includes of `rel` (paths relative to src/)."""
        if rel in self._includes:
            return self._includes[rel]
        out = []
        try:
            with open(os.path.join(self.src, rel), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        for inc in INCLUDE_RE.findall(text):
            for cand in (inc, os.path.normpath(os.path.join(os.path.dirname(rel), inc)).replace(os.sep, "/")):
                if os.path.isfile(os.path.join(self.src, cand)):
                    out.append(cand)
                    break
        self._includes[rel] = out
        return out

    def reach(self, rel):
        """Every header `rel` reaches, with the chain that reaches it first."""
        chains = {rel: [rel]}
        todo = [rel]
        while todo:
            cur = todo.pop(0)
            for inc in self.includes(cur):
                if inc not in chains:
                    chains[inc] = chains[cur] + [inc]
                    todo.append(inc)
        return chains


def check_includes(tree):
    bad = []
    for rel in tree.files:
        frm = layer_of(rel)
        if frm is None:
            continue
        # (b) direct includes only: any upward reach has a first upward step.
        for inc in tree.includes(rel):
            to = layer_of(inc)
            if frm == "drivers" and to in HIDDEN_FROM_DRIVERS:
                continue  # rule (a) names it, with the chain
            if to is not None and not may_include(frm, to):
                bad.append(f"src/{rel}: includes {inc}: layer {frm} (rank {LAYERS[frm][0]}) may not include "
                           f"layer {to} (rank {LAYERS[to][0]})")
        # (a) transitively: a driver must not see hardware or the board.
        if frm == "drivers":
            for hdr, chain in sorted(tree.reach(rel).items()):
                if hdr == RAM_ACCESSOR or layer_of(hdr) not in HIDDEN_FROM_DRIVERS:
                    continue
                bad.append(f"src/{rel}: reaches {hdr} via {' -> '.join(chain)}: drivers may not reach "
                           f"{layer_of(hdr)}/ headers (only their driver context; {RAM_ACCESSOR} excepted)")
    return bad


DEP_RE = re.compile(r"\bmodiommu_(\w+)\b(?!\s*\()")  # a library, not a function (modiommu_module(...))


def check_cmake(src):
    """(c): the libraries each layer's CMakeLists.txt names agree with the table."""
    bad = []
    for d, _, names in os.walk(src):
        if "CMakeLists.txt" not in names:
            continue
        path = os.path.join(d, "CMakeLists.txt")
        rel = os.path.relpath(path, src).replace(os.sep, "/")
        frm = layer_of(rel)
        if frm is None:
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = re.sub(r"#[^\n]*", "", f.read())
        for m in DEP_RE.finditer(text):
            to = m.group(1)
            if to not in LAYERS or to == frm:
                continue
            if frm == "drivers" and to != "driver_api":
                bad.append(f"src/{rel}: links modiommu_{to}: drivers link only modiommu_driver_api")
            elif frm != "drivers" and not may_include(frm, to):
                bad.append(f"src/{rel}: links modiommu_{to}: layer {frm} (rank {LAYERS[frm][0]}) may not "
                           f"depend on layer {to} (rank {LAYERS[to][0]})")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                    help="the tree to check (it holds src/)")
    args = ap.parse_args()
    src = os.path.join(args.root, "src")
    if not os.path.isdir(src):
        print(f"check-layers: {src} is not a directory", file=sys.stderr)
        return 2
    tree = Tree(src)
    bad = check_includes(tree) + check_cmake(src)
    for line in bad:
        print(line)
    if bad:
        print(f"check-layers: {len(bad)} violation(s) of the layering (docs/architecture.md)", file=sys.stderr)
        return 1
    print(f"check-layers: {len(tree.files)} files, layering holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
