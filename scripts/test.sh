#!/usr/bin/env bash
# Builds modiommu and runs the whole test suite (unit tests, scenario tests,
# corpus boots). With --sanitizers, also the ASan+UBSan and TSan builds; with
# --fuzz, each fuzz target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
SAN=0
FUZZ=0
for a in "$@"; do
  case "$a" in
    --sanitizers) SAN=1 ;;
    --fuzz) FUZZ=1 ;;
    *) echo "usage: scripts/test.sh [--sanitizers] [--fuzz]" >&2; exit 2 ;;
  esac
done

run_preset() {
  echo "=== build and test: $1"
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1" -j "$JOBS"
  ctest --preset "$1" -j "$JOBS"
}

run_preset release
if [ $SAN = 1 ]; then
  run_preset asan
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run_preset tsan
fi
if [ $FUZZ = 1 ]; then
  scripts/fuzz.sh 30
fi
