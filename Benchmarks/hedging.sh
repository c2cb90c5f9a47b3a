#!/usr/bin/env bash
# What hedging and retries do to tail latency and to the load on the partner: a bounded run (about 1 minute).
#
#   Benchmarks/hedging.sh     six runs of 8 s, one per route, each printing its row of one Markdown table
#   --duration SECS   seconds per run (default 8, at most 60)
#   --conns C         client connections (default 16), closed loop
#   --workers N       fanout workers (default 1; the budget's floor of 3/s is per worker)
#
# The upstream (Benchmarks/hedging/upstream.py) has a deterministic tail, counted per path: /slow answers in
# 5 ms except every 20th request (500 ms), /flaky answers 503 at once on every 10th request, /down always 503.
# fanout runs Benchmarks/hedging/fanout-hedging.conf: one composite route per line of the table, each making
# one call, so "partner/client" (requests the upstream counted ÷ client requests answered) is the load hedges
# and retries add. Benchmarks/hedging/driver.py drives the load and records every answer's latency (wrk 4's
# coordinated-omission correction inflates the percentiles of a closed loop with a 500 ms tail).
#
# Environment: FANOUT_BIN (default .build/release/fanout, built with `swift build -c release --product
# fanout` if missing), HEDGE_PORT (18380), HEDGE_UPSTREAM_PORT (19380). Loopback only; every process it
# starts is stopped on exit.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bin=${FANOUT_BIN:-$repo/.build/release/fanout}
port=${HEDGE_PORT:-18380}
up_port=${HEDGE_UPSTREAM_PORT:-19380}

duration=8; conns=16; workers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) shift; duration=${1:-} ;;
    --conns) shift; conns=${1:-} ;;
    --workers) shift; workers=${1:-} ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "hedging.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$duration" "$conns" "$workers"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "hedging.sh: options take positive integers" >&2; exit 2; }
done
[ "$duration" -le 60 ] && [ "$conns" -le 256 ] || { echo "hedging.sh: at most --duration 60, --conns 256" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fanout-hedging.XXXXXX")
script=hedging.sh
. "$here/lib/harness.sh"
require_free_ports "HEDGE_PORT / HEDGE_UPSTREAM_PORT" "$port" "$up_port"
ensure_fanout_binary
"$py" "$here/hedging/upstream.py" --port "$up_port" 2>"$work/upstream.err" &
pids+=("$!")
wait_port "$up_port" "${pids[0]}" || { say "hedging.sh: the upstream did not start"; cat "$work/upstream.err" >&2; exit 1; }
HEDGE_PORT=$port HEDGE_UPSTREAM_PORT=$up_port HEDGE_WORKERS=$workers "$bin" serve -c "$here/hedging/fanout-hedging.conf" \
  2>"$work/fanout.err" &
pids+=("$!")
wait_port "$port" "${pids[1]}" || { say "hedging.sh: fanout did not start on :$port"; cat "$work/fanout.err" >&2; exit 1; }

# run ROUTE UPSTREAM_PATH LABEL: one driver run against ROUTE, and its row of the table.
run() {
  timeout $((duration + 30)) "$py" "$here/hedging/driver.py" --port "$port" --route "$1" --upstream-port "$up_port" \
    --upstream-path "$2" --label "$3" --conns "$conns" --seconds "$duration" || { say "hedging.sh: the driver failed on $1"; exit 1; }
}

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "fanout $commit, $workers worker(s), $conns connections × ${duration} s per route, $(nproc) CPUs, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| route (upstream path) | req/s | p50 | p90 | p99 | max | non-2xx | partner/client (extra) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
run /slow/plain /slow '`/slow`, no hedge'
run /slow/hedged /slow '`/slow`, `hedge 50ms`'
run /flaky/plain /flaky '`/flaky`, no retry'
run /flaky/retried /flaky '`/flaky`, `retries 1`'
run /down/budget20 /down '`/down`, `retries 1`, budget 20 %'
run /down/budget0 /down '`/down`, `retries 1`, budget 0 %'

kill -0 "${pids[1]}" 2>/dev/null || { say "hedging.sh: fanout died during the run"; exit 1; }
if grep -qv 'listening\|worker' "$work/fanout.err"; then
  say "fanout stderr:"; sed 's/^/  /' "$work/fanout.err" | tail -20 >&2
fi
