#!/usr/bin/env bash
# Fuzzing in CI (docs/sim.md "Fuzzing"). Builds the libFuzzer targets (clang,
# the `fuzz` preset), builds each target's seed corpus from the tree, then
# runs every target for SECONDS (default 60) from that corpus.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 300 fuzz_of_load
#
# Seeds built here, not committed: of <- platforms/*.dts compiled with dtc
# plus every *.dtb under $MODIOMMU_DTB_CORPUS (default: $MODIOMMU_CORPUS_DIR, else the bundled tests/corpus);
# sim <- platforms/*.run and tests/scenarios/*.run; module <- the built
# modules/*.so. Committed seeds in fuzz/AREA/corpus/ are used too.
# A crash is copied to fuzz/AREA/regressions/ (commit it: the ctest
# fuzz.replay.TARGET replays that folder in every build) and fails the run.
# JOBS (default 2) limits the build's parallelism; FUZZ_BUILD (default
# build/fuzz, the preset's directory) is where it builds. Naming targets
# builds only those.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
ONLY=("$@")
DTBS=${MODIOMMU_DTB_CORPUS:-${MODIOMMU_CORPUS_DIR:-tests/corpus}}
B=${FUZZ_BUILD:-build/fuzz}
cmake --preset fuzz -B "$B" >/dev/null
if [ ${#ONLY[@]} -gt 0 ]; then
  cmake --build "$B" -j "${JOBS:-2}" --target "${ONLY[@]}"
else
  cmake --build "$B" -j "${JOBS:-2}"
fi

gen=$B/seeds
rm -rf "$gen"
mkdir -p "$gen/of" "$gen/sim" "$gen/module" "$gen/hw" "$gen/hwv2" "$gen/ipmmu"
for dts in platforms/*.dts tests/dsim/*.dts; do
  [ -f "$dts" ] && dtc -q -I dts -O dtb -o "$gen/of/$(basename "${dts%.dts}").dtb" "$dts" || true
done
if [ -d "$DTBS" ]; then
  find "$DTBS" -name '*.dtb' | while read -r f; do cp "$f" "$gen/of/$(echo "${f#"$DTBS"/}" | tr / _)"; done
  find "$DTBS" -name '*.dts' | while read -r f; do
    dtc -q -I dts -O dtb -o "$gen/of/$(echo "${f#"$DTBS"/}" | tr / _).dtb" "$f" 2>/dev/null || true
  done
fi
cp platforms/*.run tests/scenarios/*.run "$gen/sim/" 2>/dev/null || true
cp "$B"/modules/*.so "$gen/module/" 2>/dev/null || true
echo "seeds: $(ls "$gen/of" | wc -l) dtb, $(ls "$gen/sim" | wc -l) scripts, $(ls "$gen/module" | wc -l) modules"

status=0
for f in "$B"/fuzz/*/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  area=$(basename "$(dirname "$f")")
  if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " == *" $name "* ]]; then continue; fi
  work=$(mktemp -d)
  mkdir -p "$gen/$area"  # an area with no generated seeds (e.g. virtio) uses its committed corpus
  seeds=("$gen/$area")
  [ -d "fuzz/$area/corpus" ] && seeds+=("fuzz/$area/corpus")
  [ -d "fuzz/$area/regressions" ] && seeds+=("fuzz/$area/regressions")
  arts=$(mktemp -d)
  echo "=== fuzz $name for ${SECS}s (seeds: ${seeds[*]})"
  if ! "$f" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$arts/" \
       "$work" "${seeds[@]}" >"$B/$name.log" 2>&1; then
    echo "fuzzer $name failed; see $B/$name.log"
    tail -30 "$B/$name.log"
    mkdir -p "fuzz/$area/regressions"
    for c in "$arts"/*; do
      [ -f "$c" ] || continue
      keep="fuzz/$area/regressions/$name-$(sha1sum "$c" | cut -c1-12)"
      cp "$c" "$keep"
      echo "kept $keep (commit it; ctest fuzz.replay.$name replays it)"
    done
    status=1
  else
    grep -E "^Done [0-9]+ runs" "$B/$name.log" | tail -1 || true
  fi
  rm -rf "$work" "$arts"
done
exit $status
