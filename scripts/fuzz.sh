#!/usr/bin/env bash
# Builds the libFuzzer targets (clang) and runs each for SECONDS (default 60),
# starting from its seed corpus. Crashes are left as crash-* files and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${JOBS:-$(nproc)}"
status=0
for f in build/fuzz/fuzz/*/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  dir=$(dirname "$f")
  src_corpus="fuzz/$(basename "$dir")/corpus"
  work=$(mktemp -d)
  seeds=()
  [ -d "$src_corpus" ] && seeds+=("$src_corpus")
  echo "=== fuzz $name for ${SECS}s"
  if ! "$f" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 -artifact_prefix="build/fuzz/$name-" "$work" "${seeds[@]}" 2>"build/fuzz/$name.log"; then
    echo "fuzzer $name failed; see build/fuzz/$name.log"; tail -30 "build/fuzz/$name.log"; status=1
  fi
  rm -rf "$work"
done
exit $status
