#!/usr/bin/env bash
# Bounded soak of a release fanout against a fault-injecting loopback upstream.
#
#   Benchmarks/soak.sh [MINUTES]       load for MINUTES (default 10), then settle and report
#   Benchmarks/soak.sh --minutes 1     a short smoke run (every check but the RSS slope, which needs at least
#                                      5 minutes of samples after the warm-up: runs of 8 minutes and more)
#   --rate R          client requests per second (default 200), half composite, half proxy
#   --conns C         keep-alive client connections (default 64)
#   --workers N|auto  fanout workers (default 2)
#   --warmup SECS     samples before this are left out of the RSS slope (default a third of the run, 20..300 s)
#   --arena-max N     run fanout with MALLOC_ARENA_MAX=N (default: unset, glibc's own arenas)
#
# The upstream (Benchmarks/soak/upstream.py) injects a fixed cycle of faults, exactly 21 per 100 requests:
# 10 hang, 5 reset mid-body, 5 drip past the deadline, 1 giant answer (4 MiB over a 1 MiB cap). fanout runs
# Benchmarks/soak/fanout-soak.conf: one composite route with one required call, one proxy route, timeouts
# of 1 s, so each client request is exactly one upstream call. Benchmarks/soak/driver.py drives the load,
# samples fanout's RSS, fds, threads and CLOSE_WAIT sockets every 5 s, matches every client outcome with the
# fault injected for the same request, and prints the report with PASS/FAIL lines; it is also written to
# Benchmarks/results/soak-latest.md (samples: soak-latest-samples.jsonl). Exit status 0 when every line passes.
#
# Environment: FANOUT_BIN (default .build/release/fanout, built with `swift build -c release --product
# fanout` if missing), SOAK_PORT (18280), SOAK_UPSTREAM_PORT (19280). Loopback only; every process it starts
# is stopped on exit.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bin=${FANOUT_BIN:-$repo/.build/release/fanout}
conf=$here/soak/fanout-soak.conf
port=${SOAK_PORT:-18280}
up_port=${SOAK_UPSTREAM_PORT:-19280}

minutes=10; rate=200; conns=64; workers=2; warmup=""; arena=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) shift; minutes=${1:-} ;;
    --minutes=*) minutes=${1#--minutes=} ;;
    --rate) shift; rate=${1:-} ;;
    --conns) shift; conns=${1:-} ;;
    --workers) shift; workers=${1:-} ;;
    --warmup) shift; warmup=${1:-} ;;
    --arena-max) shift; arena=${1:-} ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) minutes=$1 ;;
    *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
seconds=$(python3 -c "import sys; m=float(sys.argv[1]); assert 0 < m <= 120; print(int(m*60))" "$minutes" 2>/dev/null) \
  || { echo "soak.sh: MINUTES must be a number in (0, 120]" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fanout-soak.XXXXXX")
script=soak.sh
. "$here/lib/harness.sh"
require_free_ports "SOAK_PORT / SOAK_UPSTREAM_PORT" "$port" "$up_port"
ensure_fanout_binary
"$py" "$here/soak/upstream.py" --port "$up_port" 2>"$work/upstream.err" &
up_pid=$!; pids+=("$up_pid")
wait_port "$up_port" "$up_pid" || { say "soak.sh: the upstream did not start"; cat "$work/upstream.err" >&2; exit 1; }

env_prefix=()
[ -n "$arena" ] && env_prefix=(env "MALLOC_ARENA_MAX=$arena")
SOAK_PORT=$port SOAK_UPSTREAM_PORT=$up_port SOAK_WORKERS=$workers "${env_prefix[@]}" "$bin" serve -c "$conf" 2>"$work/fanout.err" &
f_pid=$!; pids+=("$f_pid")
wait_port "$port" "$f_pid" || { say "soak.sh: fanout did not start on :$port"; cat "$work/fanout.err" >&2; exit 1; }
sleep 1  # let the workers settle before the start sample
nworkers=$(sed -n 's/.* with \([0-9]*\) worker(s).*/\1/p' "$work/fanout.err" | head -1)
say "$(head -1 "$work/fanout.err")"

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit (+ uncommitted changes)"
{
  echo "# fanout soak: ${minutes} min, fault mix 10 % hang, 5 % reset, 5 % drip, 1 % giant"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- fanout: commit $commit, release build, ${nworkers:-?} worker(s), MALLOC_ARENA_MAX ${arena:-unset}, config Benchmarks/soak/fanout-soak.conf (timeouts 1 s, max_response_body 1m, access_log off)"
  echo "- command: Benchmarks/soak.sh --minutes $minutes --rate $rate --conns $conns --workers $workers${warmup:+ --warmup $warmup}${arena:+ --arena-max $arena}"
} >"$work/header.md"

mkdir -p "$here/results"
warm_args=(); [ -n "$warmup" ] && warm_args=(--warmup "$warmup")
# Every phase of the driver is bounded; the outer limit only guards against a bug in it.
timeout --signal=TERM $((seconds + 300)) python3 "$here/soak/driver.py" --fanout-pid "$f_pid" --upstream-pid "$up_pid" --port "$port" --upstream-port "$up_port" \
  --seconds "$seconds" --rate "$rate" --conns "$conns" --workers "${nworkers:-2}" --max-connections 256 "${warm_args[@]}" \
  --header "$work/header.md" --out "$here/results/soak-latest.md" --samples "$here/results/soak-latest-samples.jsonl" &
child=$!
wait "$child"; status=$?
child=""

kill -0 "$f_pid" 2>/dev/null || { say "soak.sh: fanout died during the soak"; status=1; }
if grep -qv 'listening\|worker' "$work/fanout.err"; then
  say "fanout stderr:"; sed 's/^/  /' "$work/fanout.err" | tail -20 >&2
fi
exit $status
