#!/usr/bin/env bash
# Runs the whole test suite under AddressSanitizer (with LeakSanitizer) or ThreadSanitizer.
#
#   scripts/sanitizers.sh address [extra `swift test` arguments]
#   scripts/sanitizers.sh thread  [extra `swift test` arguments]     e.g. --filter FanoutRuntimeTests
#
# Each kind builds into its own scratch path (.build-address, .build-thread), so instrumented and
# uninstrumented objects never mix and the normal .build stays untouched. The first run builds
# everything from scratch; later runs are incremental within that scratch path.
#
# Sanitizer reports go to files (log_path) under .build-<kind>/sanitizer-reports/, one per process,
# so a report from a `fanout` child process that a test launches is collected too; they are printed
# at the end. The run fails if `swift test` fails or any process wrote a sanitizer report.
#
# Suppressions: scripts/sanitizers/lsan.supp (XCTest's own allocations, by function name; each line
# says why). ThreadSanitizer runs without suppressions.
#
# The last line is a one-line summary: PASS/FAIL, tests passed, build and test time.
set -euo pipefail

usage() { echo "usage: $0 address|thread [swift test arguments...]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
kind=$1
shift
case "$kind" in
    address | thread) ;;
    *) usage ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
scratch=$repo/.build-$kind
reports=$scratch/sanitizer-reports
mkdir -p "$scratch"
rm -rf "$reports"
mkdir -p "$reports"
build_log=$scratch/sanitizers-build.log
test_log=$scratch/sanitizers-test.log

# The same dependency step as .ci/run, and nothing more.
if ! pkg-config --exists libcurl 2>/dev/null; then
    echo "--- installing libcurl4-openssl-dev (and pkg-config)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq libcurl4-openssl-dev pkg-config >/dev/null
fi

# The LSan suppressions match XCTest's main, which would also sit under any XCTest test body.
if [[ $kind == address ]] && grep -rlq "^import XCTest" Tests 2>/dev/null; then
    echo "warning: Tests/ imports XCTest; scripts/sanitizers/lsan.supp could hide leaks in XCTest tests" >&2
fi

# Symbolized stacks: the runtimes look for llvm-symbolizer on PATH; fall back to the toolchain's own.
symbolizer=$(command -v llvm-symbolizer || true)
if [[ -z $symbolizer ]]; then
    candidate=$(dirname "$(readlink -f "$(command -v swift)")")/llvm-symbolizer
    [[ -x $candidate ]] && symbolizer=$candidate
fi

# Options set here come first; a caller's own *_OPTIONS are appended and so win.
case "$kind" in
    address)
        opts="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:log_path=$reports/asan"
        [[ -n $symbolizer ]] && opts="$opts:external_symbolizer_path=$symbolizer"
        export ASAN_OPTIONS="$opts${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
        lsan="suppressions=$repo/scripts/sanitizers/lsan.supp:print_suppressions=1"
        export LSAN_OPTIONS="$lsan${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
        ;;
    thread)
        opts="halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan"
        [[ -n $symbolizer ]] && opts="$opts:external_symbolizer_path=$symbolizer"
        export TSAN_OPTIONS="$opts${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
        ;;
esac

start=$SECONDS
echo "--- swift build --build-tests --sanitize=$kind --scratch-path .build-$kind (log: $build_log)"
if ! swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" >"$build_log" 2>&1; then
    grep -E "error:" "$build_log" >&2 || tail -n 40 "$build_log" >&2
    echo "sanitizers $kind: FAIL (build failed) after $((SECONDS - start)) s"
    exit 1
fi
build_seconds=$((SECONDS - start))

echo "--- swift test --sanitize=$kind $* (log: $test_log)"
test_start=$SECONDS
set +e
swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" "$@" 2>&1 | tee "$test_log"
status=${PIPESTATUS[0]}
set -e
test_seconds=$((SECONDS - test_start))

# Findings are files with an error or warning from a sanitizer; files holding only LSan's
# "Suppressions used" table (print_suppressions) are not.
findings=()
for file in "$reports"/*; do
    [[ -e $file ]] || continue
    echo "--- sanitizer output: $file"
    cat "$file"
    if grep -qE "ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|SUMMARY: (Address|Leak|Thread)Sanitizer" "$file"; then
        findings+=("$file")
    fi
done

# Swift Testing's last line: "✔ Test run with 345 tests in 44 suites passed after 16.9 seconds."
# (or "✘ Test run with 345 tests in 44 suites failed after ... with 2 issues.").
summary=$(grep -E "Test run with [0-9]+ tests?" "$test_log" | tail -n 1 || true)
tests=$(sed -nE 's/.*Test run with ([0-9]+) tests?.*/\1/p' <<<"$summary")
tests=${tests:-0}

timing="build ${build_seconds} s + tests ${test_seconds} s = $((build_seconds + test_seconds)) s"
if [[ $status -eq 0 && ${#findings[@]} -eq 0 && $summary == *passed* ]]; then
    echo "sanitizers $kind: PASS, $tests tests passed, no sanitizer reports; $timing"
    exit 0
fi
echo "sanitizers $kind: FAIL (swift test exit $status, ${#findings[@]} sanitizer report(s), $tests tests run); $timing"
exit 1
