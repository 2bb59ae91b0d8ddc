#!/usr/bin/env bash
# Builds modiommu and runs the whole test suite (unit tests, scenario tests,
# corpus boots). With --sanitizers, also the ASan+UBSan and TSan builds; with
# --fuzz, each fuzz target for a bounded time. MODIOMMU_CORPUS_DIR=PATH adds
# the tests over a larger device-tree corpus (label corpus; release build).
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

CORPUS_ARGS=()
if [ -n "${MODIOMMU_CORPUS_DIR:-}" ]; then
  CORPUS_ARGS=(-DMODIOMMU_CORPUS_DIR="$(cd "$MODIOMMU_CORPUS_DIR" && pwd)")
  unset MODIOMMU_CORPUS_DIR  # CTest gives it to the `corpus` tests alone
else
  echo "=== no MODIOMMU_CORPUS_DIR: the tests over a larger device-tree corpus are not run (the bundled tests/corpus is)"
fi

# run_preset PRESET [CTEST ARGS...]
run_preset() {
  local preset=$1
  shift
  echo "=== build and test: $preset (at ${SECONDS} s)"
  cmake --preset "$preset" "${CORPUS_ARGS[@]}" >/dev/null
  cmake --build --preset "$preset" -j "$JOBS"
  echo "=== test: $preset (at ${SECONDS} s)"
  ctest --preset "$preset" -j "$JOBS" "$@"
}

# The layering first: a driver reaching hw/ or a layer including upward
# fails here, before anything is built (docs/architecture.md).
python3 scripts/check-layers.py
run_preset release
if [ $SAN = 1 ]; then
  # The sanitizers run every test but the second pass over the larger
  # corpus (label corpus: the bundled trees take the same code paths) and
  # the long simulator runs (label long: the same engine runs in unit tests)
  # and the SDK test (label sdk: it installs and builds with the release tree).
  # Exhaustive interleaving search is one thread walking the states the
  # random runs reach too: release only. TSan is for concurrency, so the
  # single-threaded CLI input checks and the tutorial (ASan runs them) are
  # left out there. Each CorpusCheck test re-runs `check` (two threads) over
  # the bundled corpus to compare one count with dtc's: the sanitizers run
  # one of them (the same check, the same threads), release runs all.
  local_counts='^CorpusCheck\.(MastersAndIommusMatchDtcPerTree|SpecifiersDecodeByTheirBinding|EveryIommuKindIsRecognisedAndEverySpecifierDecodes|PoliciesAgree|ActualAttachmentAgreesWithTheTree|EveryEnabledMasterHasARealOutcome)$'
  run_preset asan -LE "corpus|long|sdk" -E "^DsimExhaustive\\.|$local_counts"
  # TSan builds and runs only tests where threads can meet: test
  # executables marked SERIAL (no thread in any of their tests, checked with
  # strace) are not even built there, and tests labelled serial are skipped.
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    run_preset tsan -LE "corpus|long|sdk|serial" -E "^(DsimExhaustive|HostileInput|Tutorial)\\.|$local_counts"

fi
if [ $FUZZ = 1 ]; then
  echo "=== fuzz (at ${SECONDS} s)"
  # Per target: 17 targets x 10 s keeps CI under an hour (their seeds replay
  # as release tests on every run; FUZZ_SECONDS=N for a longer session).
  scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
fi
echo "=== done (at ${SECONDS} s)"
