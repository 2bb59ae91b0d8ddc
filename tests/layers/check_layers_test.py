#!/usr/bin/env python3
"""Runs scripts/check-layers.py on the fixture under tests/layers/fixture,
whose violations are planted, and checks it fails naming each of them and
nothing else. (CTest runs the script on the real tree separately.)"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "check-layers.py")

# (file, what it says): one per planted violation.
EXPECTED = [
    ("src/core/bad.h", "includes kernel/kernel.h: layer core (rank 3) may not include layer kernel"),
    ("src/drivers/foo/board_user.cpp", "includes kernel/kernel.h: layer drivers (rank 7) may not include layer kernel (rank 7)"),
    ("src/drivers/foo/board_user.cpp", "reaches board/board.h via drivers/foo/board_user.cpp -> board/board.h: "
                                       "drivers may not reach board/ headers"),
    ("src/drivers/foo/board_user.cpp", "reaches hw/machine.h via drivers/foo/board_user.cpp -> board/board.h -> "
                                       "hw/machine.h: drivers may not reach hw/ headers"),
    ("src/drivers/foo/foo.cpp", "reaches hw/machine.h via drivers/foo/foo.cpp -> drivers/foo/foo.h -> hw/machine.h: "
                                "drivers may not reach hw/ headers"),
    ("src/drivers/foo/foo.h", "reaches hw/machine.h via drivers/foo/foo.h -> hw/machine.h"),
    ("src/drivers/foo/CMakeLists.txt", "links modiommu_kernel: drivers link only modiommu_driver_api"),
]


def main():
    r = subprocess.run([sys.executable, SCRIPT, "--root", os.path.join(HERE, "fixture")], capture_output=True,
                       text=True)
    lines = r.stdout.splitlines()
    ok = True
    if r.returncode != 1:
        print(f"exit status {r.returncode}, want 1")
        ok = False
    for f, what in EXPECTED:
        if not any(l.startswith(f + ": ") and what in l for l in lines):
            print(f"missing: {f}: {what}")
            ok = False
    if len(lines) != len(EXPECTED):
        print(f"{len(lines)} violation lines, want {len(EXPECTED)}")
        ok = False
    # The RAM accessor is the exception: the driver context reaches it.
    if any("hw/memory.h via" in l for l in lines):
        print("hw/memory.h (guest RAM's accessor) reported")
        ok = False
    if not ok:
        print("--- output:\n" + r.stdout + r.stderr)
        return 1
    print(f"check-layers names the {len(EXPECTED)} planted violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
