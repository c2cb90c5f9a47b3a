#!/usr/bin/env bash
# fanout beside the reference systems of ../shared/bench, one side-by-side table with ratios.
#
#   Benchmarks/run.sh                  full run (wrk -d 10, 3 alternating rounds; about 15 minutes), beside
#                                      nginx+lua, Flask and libcurl's floor (Benchmarks/floor/floor.c)
#   Benchmarks/run.sh --quick          smoke test: a few seconds per scenario, only checks that everything runs
#                                      and fanout answers 200 (exit 1 otherwise); timings are not asserted
#   Benchmarks/run.sh --only NAME      one scenario: fanout3 slow proxy wide conns idle cgroup latency workers2
#                                      callgrind owners (or 1..11);
#                                      repeatable, or comma-separated
#   Benchmarks/run.sh --start-anchors  start the reference systems with anchors.sh if they do not answer
#                                      (and stop them at the end)
#   -d SECS, -r ROUNDS                 override wrk duration and rounds
#
# Environment: SHARED_BENCH (default ../shared/bench beside the repository), FANOUT_BIN (default
# .build/release/fanout, brought up to date with `swift build -c release --product fanout` first: a binary left
# from an earlier commit would be measured under this commit's name), BENCH_PORT (18080).
# Loopback only. Everything it starts is stopped on exit. The table is also written to Benchmarks/results/latest.md.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$(cd "$repo/.." && pwd)/shared/bench}
export SHARED_BENCH=$shared
bin=${FANOUT_BIN:-$repo/.build/release/fanout}
conf=$here/fanout-bench.conf
port=${BENCH_PORT:-18080}
idle_port=$((port + 10)); quota_port=$((port + 11)); noquota_port=$((port + 12)); floor_port=$((port + 14))
nginx=${REF_NGINX:-http://127.0.0.1:18081}
flask=${REF_FLASK:-http://127.0.0.1:18082}
upstream=http://127.0.0.1:19001

quick=0; start_anchors=0; only=""; dur=""; rounds=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --start-anchors) start_anchors=1 ;;
    --only) shift; only="$only,${1:-}" ;;
    --only=*) only="$only,${1#--only=}" ;;
    -d) shift; dur=$1 ;;
    -r) shift; rounds=$1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ $quick = 1 ]; then
  dur=${dur:-2}; rounds=${rounds:-1}; wide_reps=3; wide_warm=1; nconns=2000; conns_limit=25; settle=30; idle_secs=3; cg_secs=2; cg_reps=1
else
  dur=${dur:-10}; rounds=${rounds:-3}; wide_reps=20; wide_warm=3; nconns=10000; conns_limit=55; settle=30; idle_secs=10; cg_secs=5; cg_reps=3
fi

want() {  # want NAME NUMBER: is this scenario selected?
  [ -z "$only" ] && return 0
  case ",$only," in *",$1,"*|*",$2,"*) return 0 ;; esac
  return 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/fanout-run.XXXXXX")
rows=$work/rows.jsonl; : >"$rows"
cmds=$work/commands.txt; : >"$cmds"
pids=()            # fanout processes we started
cgroups=()         # cgroup directories we created
anchors_started=0

child=""          # the helper run() is waiting for
cleanup() {
  local p
  if [ -n "$child" ]; then pkill -TERM -P "$child" 2>/dev/null; kill -TERM "$child" 2>/dev/null; fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  for d in "${cgroups[@]}"; do rmdir "$d" 2>/dev/null; done
  if [ $anchors_started = 1 ]; then "$shared/anchors.sh" stop >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$@" >&2; }
# Result files name paths relative to the repository (., ../shared) and the scratch directory as $WORK,
# never this machine's absolute paths.
relative_paths() {
  local parent; parent=$(cd "$repo/.." && pwd)
  sed -e "s#$work#\$WORK#g" -e "s#$repo/#./#g" -e "s#$repo#.#g" -e "s#$parent/#../#g"
}
run() {  # print the exact command (and keep it for the report), then run it
  local line; line=$(printf '%q ' "$@"); line=${line% }
  printf '%s\n' "$line" >>"$cmds"   # one write: safe with a command run in the background
  say "+ $line"
  "$@" &   # in the background and waited for, so that a signal runs the cleanup at once
  child=$!
  wait "$child"; local rc=$?
  child=""
  return $rc
}
answers() { [ "$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = 200 ]; }
wait_port() {  # wait_port PORT PID: until something listens (up to 10 s), or the process died
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ------------------------------------------------------------------ prerequisites
command -v wrk >/dev/null || { say "run.sh: wrk is not installed (apt-get install wrk, or anchors.sh start)"; exit 1; }
if [ -z "${FANOUT_BIN:-}" ]; then
  (cd "$repo" && run swift build -c release --product fanout) >&2 || { say "run.sh: build failed"; exit 1; }
elif [ ! -x "$bin" ]; then
  say "run.sh: FANOUT_BIN=$bin is not an executable"; exit 1
fi
if ! answers "$upstream/a"; then
  if [ $start_anchors = 1 ]; then
    run "$shared/anchors.sh" start >&2 && anchors_started=1
  fi
fi
answers "$upstream/a" || { say "run.sh: the upstream stub on :19001 does not answer (use --start-anchors, or $shared/anchors.sh start)"; exit 1; }
have_nginx=0; answers "$nginx/overview" && have_nginx=1
have_flask=0; answers "$flask/overview" && have_flask=1
for p in "$port" "$idle_port" "$quota_port" "$noquota_port" "$floor_port"; do
  listening "$p" && { say "run.sh: port $p is already in use (set BENCH_PORT)"; exit 1; }
done

# 10,000 client connections: fanout inherits this limit (the client raises its own with setrlimit).
ulimit -Hn 65536 2>/dev/null; ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

start_fanout() {  # start_fanout PORT WORKERS LOG [BUSY_POLL]: sets $fpid
  BENCH_PORT=$1 BENCH_WORKERS=$2 BENCH_BUSY_POLL=${4:-off} "$bin" serve -c "$conf" 2>"$3" &
  fpid=$!; pids+=("$fpid")
  printf 'BENCH_PORT=%s BENCH_WORKERS=%s BENCH_BUSY_POLL=%s %s serve -c %s\n' "$1" "$2" "${4:-off}" "$bin" "$conf" >>"$cmds"
  wait_port "$1" "$fpid" || { say "run.sh: fanout did not start on :$1"; cat "$3" >&2; return 1; }
}
stop_fanout() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# ------------------------------------------------------------------ header
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit (+ uncommitted changes)"
{
  echo "# fanout benchmark$([ $quick = 1 ] && echo ' (--quick: smoke test, timings not asserted)')"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "- fanout: commit $commit, $bin ($(stat -c %y "$bin" | cut -d. -f1))"
  echo "- load: wrk -t1, -d ${dur}s, ${rounds} round(s) alternating targets, medians; ulimit -n $(ulimit -n)"
  echo "- references: nginx+lua $nginx $([ $have_nginx = 1 ] && echo up || echo 'ABSENT (no ratios)'), Flask $flask $([ $have_flask = 1 ] && echo up || echo absent), upstream stub $upstream up"
} >"$work/header.md"
cat "$work/header.md" >&2
echo >&2

bench() { run python3 "$here/bench.py" "$@" --out "$rows"; }
refs_overview=(); [ $have_nginx = 1 ] && refs_overview+=("openresty=$nginx/overview")
refs_flask=();    [ $have_flask = 1 ] && refs_flask+=("flask=$flask/overview")

start_fanout "$port" 1 "$work/fanout.err" || exit 1
main_pid=$fpid
say "$(head -1 "$work/fanout.err")"

# libcurl's floor: Benchmarks/floor/floor.c serves /overview and /proxy/a with libcurl driven the cheapest way
# and no work of its own. Scenarios 1, 3 and 8 load it in the same rounds as fanout and nginx+lua: what it costs
# above nginx is libcurl's, what fanout costs above it is fanout's own.
have_floor=0
if cc -O2 -o "$work/floor" "$here/floor/floor.c" -lcurl 2>"$work/floor-build.log"; then
  printf 'cc -O2 -o $WORK/floor ./Benchmarks/floor/floor.c -lcurl\n' >>"$cmds"
  "$work/floor" "$floor_port" 19001 2>"$work/floor.err" &
  pids+=("$!")
  printf '$WORK/floor %s 19001\n' "$floor_port" >>"$cmds"
  wait_port "$floor_port" "$!" && answers "http://127.0.0.1:$floor_port/overview" && have_floor=1
fi
[ $have_floor = 1 ] || { say "run.sh: the floor server did not build or start (needs cc and libcurl4-openssl-dev):"; cat "$work/floor-build.log" "$work/floor.err" >&2 2>/dev/null; }
floor_target() { [ $have_floor = 1 ] && echo "floor=http://127.0.0.1:$floor_port$1"; }

# ------------------------------------------------------------------ 1. fan-out of 3
if want fanout3 1; then
  say; say "== 1. fan-out of 3, wrk -c64"
  fl=(); [ $have_flask = 1 ] && fl=(--flask)
  bench load --scenario 1 -c 64 -d "$dur" -r "$rounds" "${fl[@]}" \
    "fanout=http://127.0.0.1:$port/overview" "${refs_overview[@]}" "${refs_flask[@]}" $(floor_target /overview)
fi

# ------------------------------------------------------------------ 2. slow partners
if want slow 2; then
  say; say "== 2. slow partners (50/100/20 ms), wrk -c256"
  r=(); [ $have_nginx = 1 ] && r=("openresty=$nginx/slow/overview")
  # with fanout's default settings (the bench config sets no max_connections for the stub)
  bench load --scenario 2 -c 256 -d "$dur" -r "$rounds" "fanout=http://127.0.0.1:$port/slow/overview" "${r[@]}"
fi

# ------------------------------------------------------------------ 3. plain proxy
if want proxy 3; then
  say; say "== 3. plain proxy of one call, wrk -c64"
  r=(); [ $have_nginx = 1 ] && r=("openresty=$nginx/proxy/a")
  bench load --scenario 3 -c 64 -d "$dur" -r "$rounds" "fanout=http://127.0.0.1:$port/proxy/a" "${r[@]}" $(floor_target /proxy/a)
fi

# ------------------------------------------------------------------ 8. latency at low load
if want latency 8; then
  say; say "== 8. latency at low load: wrk -c1, /overview and /proxy/a"
  # In the same rounds, for information: a second fanout with busy_poll 100us (polls before it sleeps; the
  # references do not, so it is not judged).
  bp_pid=""
  if start_fanout "$idle_port" 1 "$work/fanout-busy-poll.err" 100us; then bp_pid=$fpid; fi
  for path in /overview /proxy/a; do
    r=(); [ $have_nginx = 1 ] && r=("openresty=$nginx$path")
    [ -n "$bp_pid" ] && r+=("fanout:busy_poll 100us=http://127.0.0.1:$idle_port$path")
    bench load --scenario 8 --label "$path" -c 1 -d "$dur" -r "$rounds" "fanout=http://127.0.0.1:$port$path" "${r[@]}" $(floor_target "$path")
  done
  [ -n "$bp_pid" ] && stop_fanout "$bp_pid"
fi

# ------------------------------------------------------------------ 9. fan-out of 3 with two workers
if want workers2 9; then
  say; say "== 9. fan-out of 3 on a fanout with workers 2, wrk -c64"
  r=(); [ $have_nginx = 1 ] && r=("openresty=$nginx/overview")
  if start_fanout "$idle_port" 2 "$work/fanout-w2.err"; then
    w2_pid=$fpid
    bench load --scenario 9 -c 64 -d "$dur" -r "$rounds" "fanout=http://127.0.0.1:$idle_port/overview" "${r[@]}"
    stop_fanout "$w2_pid"
  fi
fi

# ------------------------------------------------------------------ 4. wide fan-out
if want wide 4; then
  say; say "== 4. wide fan-out: one request, N calls of /slow/c (20 ms), sequential requests"
  r=(); [ $have_nginx = 1 ] && r+=("openresty=$nginx/wide"); [ $have_flask = 1 ] && r+=("flask=$flask/wide")
  bench wide -n 100,1000 --reps "$wide_reps" --warmup "$wide_warm" "fanout=http://127.0.0.1:$port/wide" "${r[@]}"
fi

# ------------------------------------------------------------------ 5. many keep-alive connections
if want conns 5; then
  say; say "== 5. $nconns keep-alive connections held open, then one GET /overview each, then RSS after they leave"
  bench conns --port "$port" --conns "$nconns" --path /overview --limit "$conns_limit" --settle "$settle"
  answers "http://127.0.0.1:$port/overview" || say "fanout no longer answers after scenario 5"
fi

# ------------------------------------------------------------------ 6. idle cost
if want idle 6; then
  say; say "== 6. idle cost: a fresh fanout (workers auto) and the benchmarked one (workers 1), ${idle_secs} s each, at once"
  if start_fanout "$idle_port" auto "$work/idle.err"; then
    idle_pid=$fpid
    sleep 0.5
    bench idle --pid "$idle_pid" --secs "$idle_secs" --label "fresh, workers auto" &
    b1=$!
    bench idle --pid "$main_pid" --secs "$idle_secs" --label "after the load, workers 1"
    wait $b1
    stop_fanout "$idle_pid"
  fi
fi

# ------------------------------------------------------------------ 7. workers auto under a CPU quota
workers_of() { sed -n 's/.* with \([0-9]*\) worker(s).*/\1/p' "$1" | head -1; }
run_quota() {  # run_quota LOG PREFIX...: start fanout (workers auto) through PREFIX, print its worker count
  local log=$1; shift
  BENCH_PORT=$quota_port BENCH_WORKERS=auto "$@" "$bin" serve -c "$conf" 2>"$log" &
  local p=$!; pids+=("$p")
  printf 'BENCH_PORT=%s BENCH_WORKERS=auto %s %s serve -c %s\n' "$quota_port" "$*" "$bin" "$conf" >>"$cmds"
  wait_port "$quota_port" "$p"
  say "  its cgroups: $(grep -E ':cpu[,:]|^0::' "/proc/$p/cgroup" 2>/dev/null | tr '\n' ' ')"
  stop_fanout "$p"
  withq=$(workers_of "$log"); withq=${withq:-?}
}
emit_row() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); open(sys.argv[2],"a").write(json.dumps(r)+"\n")' "$1" "$rows"; }
if want cgroup 7; then
  say; say "== 7. workers auto under a CPU quota of 0.5 CPU"
  BENCH_PORT=$noquota_port BENCH_WORKERS=auto "$bin" serve -c "$conf" 2>"$work/noquota.err" &
  p=$!; pids+=("$p"); wait_port "$noquota_port" "$p"; stop_fanout "$p"
  printf 'BENCH_PORT=%s BENCH_WORKERS=auto %s serve -c %s\n' "$noquota_port" "$bin" "$conf" >>"$cmds"
  noquota=$(workers_of "$work/noquota.err"); say "without a quota: ${noquota:-?} worker(s) (nproc $(nproc))"
  how=""; withq=""; why=""; ns=""
  if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
    cg=/sys/fs/cgroup/fanout-bench
    echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
    if mkdir -p "$cg" 2>/dev/null && echo "50000 100000" >"$cg/cpu.max" 2>/dev/null; then
      cgroups+=("$cg"); how="cgroup v2 cpu.max 50000 100000"
      run_quota "$work/quota.err" "$here/cgexec.sh" "$cg"
    else why="cannot create $cg with cpu.max"; fi
  elif [ -w /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    cg=/sys/fs/cgroup/cpu/fanout-bench
    if mkdir -p "$cg" 2>/dev/null && echo 100000 >"$cg/cpu.cfs_period_us" && echo 50000 >"$cg/cpu.cfs_quota_us"; then
      cgroups+=("$cg"); how="cgroup v1 cpu.cfs_quota_us 50000, period 100000"
      run_quota "$work/quota.err" "$here/cgexec.sh" "$cg"
      say "placed in $cg directly: $withq worker(s)"
      if command -v unshare >/dev/null; then  # the same quota as a container sees it
        direct=$withq
        run_quota "$work/quota-ns.err" "$here/cgexec.sh" "$cg" --ns
        ns=$withq; withq=$direct
        say "same cgroup bind-mounted at /sys/fs/cgroup/cpu (container view): $ns worker(s)"
      fi
    else why="cannot create $cg with a CFS quota"; fi
  elif command -v systemd-run >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    how="systemd-run --scope -p CPUQuota=50%"
    run_quota "$work/quota.err" systemd-run --quiet --scope -p CPUQuota=50%
  else
    why="no writable cgroup cpu controller (v2 or v1) and no running systemd"
  fi
  if [ -n "$withq" ]; then
    say "under the quota ($how): $withq worker(s)"
    emit_row "$(printf '{"scn":"7","metric":"workers auto, quota 0.5 CPU (%s)","fanout":"%s worker(s)","ref":"%s worker(s) without quota","ratio":null,"goal":"1 worker","ok":%s}' \
      "$how" "$withq" "${noquota:-?}" "$([ "$withq" = 1 ] && echo true || echo false)")"
    if [ -n "${ns:-}" ]; then
      emit_row "$(printf '{"scn":"7","metric":"same quota, cgroup dir bind-mounted at /sys/fs/cgroup/cpu (container view)","fanout":"%s worker(s)","ref":"","ratio":null,"goal":"1 worker","ok":%s}' \
        "$ns" "$([ "$ns" = 1 ] && echo true || echo false)")"
    fi
  else
    say "n/a: $why"
    emit_row "$(printf '{"scn":"7","metric":"workers auto, quota 0.5 CPU","fanout":"n/a: %s","ref":"%s worker(s) without quota","ratio":null,"goal":"1 worker","ok":null}' "$why" "${noquota:-?}")"
  fi
fi

# ------------------------------------------------------------------ 10. instructions per request
# Issue 15's targets: /overview ≤ 300k instructions per request with fanout's own part ≤ 70k; /proxy/a ≤ 110k.
# Judged on the benchmark configuration, whose upstreams send what the reference systems send (no context
# headers, no Accept-Encoding); the "defaults" rows show the same paths with fanout's defaults, for information.
if want callgrind 10; then
  say; say "== 10. instructions per request under callgrind (stable on a noisy machine)"
  if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
    defaults_conf=$work/fanout-bench-defaults.conf
    sed -e '/^ *context_headers off$/d' -e '/^ *accept_encoding off$/d' "$conf" >"$defaults_conf"
    printf "sed -e '/^ *context_headers off\$/d' -e '/^ *accept_encoding off\$/d' %s >%s\n" "$conf" "$defaults_conf" >>"$cmds"
    for spec in "/overview 300000 70000 like-for-like $conf" "/proxy/a 110000 - like-for-like $conf" \
      "/overview - - defaults $defaults_conf" "/proxy/a - - defaults $defaults_conf"; do
      set -- $spec
      limits=(); [ "$2" = - ] || limits+=(--total-max "$2"); [ "$3" = - ] || limits+=(--own-max "$3")
      mkdir -p "$work/cg"
      # A rule's row is the median of cg_reps runs: one run's figures move by about ±1.5k with where libcurl
      # finishes its transfers (its timer or a socket event), as much as a target's margin
      reps=1; [ ${#limits[@]} -gt 0 ] && reps=$cg_reps
      : >"$work/cg.log"
      for _ in $(seq 1 "$reps"); do
        # callgrind.sh builds its own release binary with DWARF 4 debug info in .build-prof (bookworm's valgrind
        # cannot read the DWARF 5 of a plain release build), unless CALLGRIND_BIN names one
        run env ${CALLGRIND_BIN:+CALLGRIND_BIN="$CALLGRIND_BIN"} CALLGRIND_PORT=$((port + 13)) CALLGRIND_OUT="$work/cg/callgrind.out" \
          CALLGRIND_CONF="$5" "$here/callgrind.sh" "$1" "$cg_secs" >"$work/cg-run.log" 2>&1
        cat "$work/cg-run.log" >&2; cat "$work/cg-run.log" >>"$work/cg.log"
      done
      bench callgrind --path "$1" --label "$4" --log "$work/cg.log" "${limits[@]}"
    done
  else
    say "n/a: valgrind is not installed"
    emit_row '{"scn":"10","metric":"instructions per request","fanout":"n/a: valgrind is not installed","ref":"","ratio":null,"goal":"≤ 300,000 (/overview)","ok":null}'
  fi
fi

# ------------------------------------------------------------------ 11. where fanout's CPU goes
# Issue 15's CPU targets (≤ 1.5× the reference) against libcurl's cost: perf samples, each given to the
# innermost of libcurl and fanout on its stack, turned into µs with the CPU per request measured without perf.
if want owners 11; then
  say; say "== 11. where fanout's CPU goes: perf, libcurl's part against fanout's own"
  if command -v perf >/dev/null && [ $have_nginx = 1 ]; then
    bench owner --label /overview -c 64 -d "$dur" -r "$rounds" "fanout=http://127.0.0.1:$port/overview" "ref=$nginx/overview"
    bench owner --label /proxy/a -c 64 -d "$dur" -r "$rounds" "fanout=http://127.0.0.1:$port/proxy/a" "ref=$nginx/proxy/a"
    # target 6 at -c1: one request at a time on one loop thread, so fanout's CPU per request is the latency it
    # adds; its budget is the reference's CPU + 25 µs
    bench owner --label "/overview -c1" --budget 1 --plus 25 -c 1 -d "$dur" -r "$rounds" "fanout=http://127.0.0.1:$port/overview" "ref=$nginx/overview"
  else
    say "n/a: perf (apt-get install linux-perf) or the nginx+lua reference is missing"
    emit_row '{"scn":"11","metric":"CPU owners","fanout":"n/a: perf or the nginx+lua reference is missing","ref":"","ratio":null,"goal":"info","ok":null}'
  fi
fi

# fanout itself still answers, and exits cleanly on SIGTERM
answers "http://127.0.0.1:$port/overview" || say "WARNING: fanout stopped answering"

# ------------------------------------------------------------------ table
say
table=$work/table.md
python3 "$here/bench.py" table --out "$rows" $([ $quick = 1 ] && echo --quick) >"$table"; status=$?
mkdir -p "$here/results"
{
  cat "$work/header.md"
  echo
  cat "$table"
  echo
  echo "Ratios are fanout / nginx+lua (same run). Commands:"
  echo
  echo '```'
  cat "$cmds"
  echo '```'
} | relative_paths >"$here/results/latest.md"
cat "$here/results/latest.md"
[ $status = 0 ] || say "run.sh: fanout did not answer 200 everywhere (see the 'answered 200' rows)"
exit $status
