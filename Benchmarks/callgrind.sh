#!/usr/bin/env bash
# Instructions per request, from callgrind: the figure that stays stable on a noisy machine.
#
#   Benchmarks/callgrind.sh [PATH] [SECONDS]       default: /overview for 10 s
#
# Needs valgrind and wrk, and the upstream stub of ../shared/bench on 127.0.0.1:19001 (anchors.sh start).
# Builds a release binary with debug info in .build-prof, starts it under callgrind with
# Benchmarks/fanout-bench.conf (one worker), warms it up, zeroes the counters, runs wrk -c4 for SECONDS,
# dumps, and prints total instructions / requests. The profile stays in .build-prof/callgrind.out.* for
# callgrind_annotate (CALLGRIND_OUT=PREFIX for another place, CALLGRIND_PORT=PORT for another port: two
# people measuring on one machine). Benchmarks/callgrind-split.py then splits it into libcurl's part and
# fanout's own (CALLGRIND_TOP=N also lists the N largest functions outside libcurl).
#
# CALLGRIND_BIN=PATH measures that binary instead of building one (a copy of an earlier build, named fanout so
# that callgrind-split.py recognises it): two binaries on two CALLGRIND_PORTs at the same time see the same
# machine load, which makes a before/after pair comparable on a busy machine.
#
# CALLGRIND_ARGS="..." adds valgrind options, e.g. --cache-sim=yes for simulated cache misses per function.
#
# CALLGRIND_CONF=FILE serves another configuration than Benchmarks/fanout-bench.conf (run.sh's scenario 10 uses
# it for a copy with fanout's default context headers and Accept-Encoding).
#
# FANOUT_LIBCURL_DIR=DIR runs the same binary with the libcurl.so.4 in DIR (LD_LIBRARY_PATH), e.g. the 8.14.1
# that scripts/test-libcurl8.sh extracts to .build/libcurl8/prefix/usr/lib/x86_64-linux-gnu (same soname and
# symbol versions as bookworm's 7.88.1). The line printed names the libcurl that was loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
path="${1:-/overview}"
seconds="${2:-10}"
port=${CALLGRIND_PORT:-18095}
conf=${CALLGRIND_CONF:-Benchmarks/fanout-bench.conf}
out=${CALLGRIND_OUT:-.build-prof/callgrind.out}
mkdir -p "$(dirname "$out")"

curl -sf -o /dev/null http://127.0.0.1:19001/a || { echo "the upstream stub on :19001 is not up (../shared/bench/anchors.sh start)"; exit 1; }
# -gdwarf-4 for the C targets: clang's default DWARF 5 (CFanoutTLS) stops bookworm's valgrind 3.19
# ("debuginfo reader: Possibly corrupted debuginfo file ... Giving up").
bin=${CALLGRIND_BIN:-}
if [ -z "$bin" ]; then
    swift build -c release --product fanout --build-path .build-prof -Xswiftc -g -Xcc -gdwarf-4 >/dev/null
    bin=.build-prof/release/fanout
fi
export LD_LIBRARY_PATH="${FANOUT_LIBCURL_DIR:-${LD_LIBRARY_PATH:-}}"
libcurl=$("$bin" --version | awk '/^libcurl [0-9]/ {print $2; exit}')
rm -f "$out"*
# shellcheck disable=SC2086 # CALLGRIND_ARGS is a list of options
BENCH_PORT=$port valgrind --tool=callgrind --callgrind-out-file="$out" ${CALLGRIND_ARGS:-} \
    "$bin" serve -c "$conf" >"$out.log" 2>&1 &
vg=$!
trap 'kill -TERM $vg 2>/dev/null || true; wait $vg 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port$path" && break; sleep 0.2; done
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$port$path"; done
callgrind_control -z $vg >/dev/null
requests=$(wrk -c "${CALLGRIND_CONNS:-4}" -t 1 -d "${seconds}s" "http://127.0.0.1:$port$path" | awk '/requests in/ {print $1}')
callgrind_control -d $vg >/dev/null
sleep 1
total=$(grep -h '^summary:' "$out".[0-9]* | awk '{s += $2} END {print s}')
echo "path $path (libcurl $libcurl, $conf): $requests requests, $total instructions, $((total / requests)) instructions per request"
for profile in "$out".[0-9]*; do python3 Benchmarks/callgrind-split.py "$profile" "$requests" "${CALLGRIND_TOP:-0}"; done
