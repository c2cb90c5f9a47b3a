#!/usr/bin/env bash
# The instructions on a request's critical path at low load, from callgrind: what fanout runs between the
# client's request and the upstream call going out, and between the upstream's answer and the client's answer.
#
#   Benchmarks/callgrind-stretches.sh [PATH] [REQUESTS]       default: /proxy/a, 30 requests
#
# For a route with one upstream call (a proxy route): a fan-out's calls each send and receive, and their
# stretches interleave.
#
# Needs valgrind, python3, and the upstream stub of ../shared/bench on 127.0.0.1:19001 (anchors.sh start). Runs
# the binary (CALLGRIND_BIN, default .build/release/fanout with its debug sections stripped into a copy:
# bookworm's valgrind 3.19 cannot read clang's DWARF 5) twice under callgrind with Benchmarks/fanout-bench.conf
# (one worker), sends REQUESTS keep-alive GETs for PATH on one connection each time, and prints the median of
# each stretch:
#
#   client read -> upstream send     --zero-before=read  --dump-before='send*'
#   upstream recv -> client send     --zero-before='recv*' --dump-before='send*'
#
# fanout reads its clients with read(2) and writes them with send(2); libcurl reads partners with recv(2) and
# writes them with send(2). Each dump holds the instructions since the last zeroing or dump; the stretch wanted
# is the dump that contains (or, for the first one, lacks) libcurl's write callback. Other work a request
# causes runs after the client's send, off its critical path at -c1. CALLGRIND_PORT=PORT for another port.
set -uo pipefail  # no -e: lib/harness.sh, like the other scripts that use it, checks what it runs
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
path="${1:-/proxy/a}"
requests="${2:-30}"
port=${CALLGRIND_PORT:-18096}
work=$(mktemp -d "${TMPDIR:-/tmp}/fanout-stretches.XXXXXX")
script=callgrind-stretches.sh
bin=${CALLGRIND_BIN:-}
. "$here/lib/harness.sh"
require_free_ports CALLGRIND_PORT "$port"
curl -sf -o /dev/null http://127.0.0.1:19001/a || { say "the upstream stub on :19001 is not up (../shared/bench/anchors.sh start)"; exit 1; }
if [ -z "$bin" ]; then
    swift build -c release --product fanout >/dev/null || { say "$script: build failed"; exit 1; }
    bin=.build/release/fanout
fi
cp "$bin" "$work/fanout" && strip --strip-debug "$work/fanout" || { say "$script: cannot copy $bin"; exit 1; }

# stretch LABEL FILE ZERO-BEFORE WANT-WRITE-CALLBACK
stretch() {
    BENCH_PORT=$port valgrind --tool=callgrind --callgrind-out-file="$work/$2" --zero-before="$3" \
        --dump-before='send*' "$work/fanout" serve -c Benchmarks/fanout-bench.conf >"$work/$2.log" 2>&1 &
    local vg=$!
    pids+=("$vg")
    wait_port "$port" "$vg" || { say "$script: fanout did not start under valgrind"; cat "$work/$2.log" >&2; exit 1; }
    "$py" - "$port" "$path" "$requests" <<'EOF' || { say "$script: the requests failed"; exit 1; }
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for _ in range(n):
    conn.request("GET", path)
    conn.getresponse().read()
EOF
    sleep 1
    kill -TERM "$vg"; wait "$vg" || true
    "$py" - "$work/$2" "$requests" "$4" "$1" <<'EOF'
import glob, statistics, sys
prefix, n, want = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "yes"
dumps = sorted(glob.glob(prefix + ".*[0-9]"), key=lambda p: int(p.rsplit(".", 1)[1]))
picked = []
for dump in dumps[-2 * (n - 2):]:  # the last requests: warmed up, on one connection
    text = open(dump).read()
    if ("curlWriteCallback" in text) == want:
        picked.append(next(int(l.split()[1]) for l in text.splitlines() if l.startswith("summary:")))
print(f"{sys.argv[4]:32s} median {statistics.median(picked):>8,.0f} instructions  ({len(picked)} requests, "
      f"min {min(picked):,}, max {max(picked):,})")
EOF
}
echo "path $path, $requests keep-alive requests on one connection, $bin"
stretch "client read -> upstream send" head read no
stretch "upstream recv -> client send" tail 'recv*' yes
