#!/usr/bin/env bash
# A fleet of four fanouts sharing one store, side by side with the store off (issue 16, point 8); about 2 minutes.
#
#   Benchmarks/fleet.sh             prints one Markdown table (store off | store on) and the kill/restart line
#   --rate R      the partner quota in calls per second (default 200)
#   --seconds S   seconds per quota run (default 12: ten whole seconds are measured)
#
# Processes, all on 127.0.0.1: four `fanout serve` (one worker each, ports FLEET_PORT..FLEET_PORT+3), one
# redis-server (FLEET_STORE_PORT, no persistence) and Benchmarks/fleet/partner.py (FLEET_PARTNER_PORT), which
# counts calls per path and per second. Benchmarks/fleet/driver.py spreads the load over the four ports.
#   - cache: GET /cached?k=N (N from 200 keys, cache=60s) for 5 s; partner calls per client request.
#   - quota: GET /quota (proxy to an upstream with `rate R/s`, or `rate R/s shared replicas=4` with the store)
#     in a closed loop above the rate; the partner's calls per second over ten whole seconds: mean, max.
#   - latency: p50 of the cache run's requests (mostly first-level hits); then, one request at a time on kept
#     connections, a key fetched through replica 0 asked of replicas 1-3 (a store-level hit when on, a partner
#     call when off) and asked again (a worker-cache hit): the difference is what a store lookup adds.
#   - store killed (SIGKILL) 2 s into a run of 0.5 R/s paced requests, restarted 2 s later: failed client
#     requests, and seconds from the restart until the quota key is back in the store (a replica leased again).
#
# Environment: FANOUT_BIN (default .build/release/fanout), FLEET_PORT (18480), FLEET_PARTNER_PORT (19480),
# FLEET_STORE_PORT (16480), REDIS_SERVER (redis-server; valkey-server works too). Every process it starts is
# stopped on exit.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bin=${FANOUT_BIN:-$repo/.build/release/fanout}
port=${FLEET_PORT:-18480}
partner_port=${FLEET_PARTNER_PORT:-19480}
store_port=${FLEET_STORE_PORT:-16480}
redis=${REDIS_SERVER:-redis-server}
rate=200; seconds=12
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) shift; rate=${1:-} ;;
    --seconds) shift; seconds=${1:-} ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fleet.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$rate" "$seconds"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "fleet.sh: options take positive integers" >&2; exit 2; }
done
[ "$seconds" -ge 12 ] && [ "$seconds" -le 60 ] || { echo "fleet.sh: --seconds from 12 to 60" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fanout-fleet.XXXXXX")
script=fleet.sh
. "$here/lib/harness.sh"
ports=()
for i in 0 1 2 3; do ports+=($((port + i))); done
require_free_ports "FLEET_PORT / FLEET_PARTNER_PORT / FLEET_STORE_PORT" "${ports[@]}" "$partner_port" "$store_port"
command -v "$redis" >/dev/null || { say "fleet.sh: $redis is missing (apt-get install redis-server)"; exit 1; }
ensure_fanout_binary
port_list=$(IFS=,; echo "${ports[*]}")

"$py" "$here/fleet/partner.py" --port "$partner_port" --delay-ms 2 2>"$work/partner.err" &
pids+=("$!")
wait_port "$partner_port" "$!" || { say "fleet.sh: the partner did not start"; exit 1; }

store_pid=""
start_store() {
  "$redis" --port "$store_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/store.log" 2>&1 &
  store_pid=$!
  pids+=("$store_pid")
  wait_port "$store_port" "$store_pid" || { say "fleet.sh: $redis did not start"; exit 1; }
}

# write_config SHARED: the configuration of the four (store block and shared rate when SHARED is 1).
write_config() {
  {
    echo 'listen 127.0.0.1:${FLEET_LISTEN}'
    echo 'workers 1'
    echo 'access_log off'
    if [ "$1" = 1 ]; then
      echo "store { address 127.0.0.1:$store_port; prefix bench:; }"
      echo "upstream quota { url http://127.0.0.1:$partner_port; timeout 10s; rate $rate/s shared replicas=4; }"
    else
      echo "upstream quota { url http://127.0.0.1:$partner_port; timeout 10s; rate $rate/s; }"
    fi
    echo "upstream partner { url http://127.0.0.1:$partner_port; timeout 5s; }"
    echo 'route GET /cached { call data GET partner /cached?k={query.k} cache=60s }'
    echo 'route GET /quota { proxy quota /quota }'
  } >"$work/fleet.conf"
}

fleet_pids=()
start_fleet() {
  local p
  fleet_pids=()
  for p in "${ports[@]}"; do
    FLEET_LISTEN=$p "$bin" serve -c "$work/fleet.conf" 2>>"$work/fanout-$p.err" &
    fleet_pids+=("$!")
    pids+=("$!")
    wait_port "$p" "$!" || { say "fleet.sh: fanout did not start on :$p"; cat "$work/fanout-$p.err" >&2; exit 1; }
  done
}
stop_fleet() {
  local p
  for p in "${fleet_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${fleet_pids[@]}"; do wait "$p" 2>/dev/null; done
}

stats() { curl -s "http://127.0.0.1:$partner_port/stats"; }
reset() { curl -s "http://127.0.0.1:$partner_port/reset" >/dev/null; }
drive() { timeout 120 "$py" "$here/fleet/driver.py" --ports "$port_list" "$@"; }
field() { "$py" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

# quota_window STATS: "mean max" of /quota calls over the ten whole seconds after the first one.
quota_window() {
  "$py" -c '
import json, sys
per = {int(k): v for k, v in json.loads(sys.argv[1])["seconds"].get("/quota", {}).items()}
if not per: print("0 0"); sys.exit()
start = min(per) + 1
window = [per.get(s, 0) for s in range(start, start + 10)]
print(round(sum(window) / 10, 1), max(window))' "$1"
}

declare -A result
for mode in 0 1; do
  [ "$mode" = 1 ] && start_store
  write_config "$mode"
  start_fleet
  reset
  cache=$(drive --path /cached --keys 200 --seconds 5 --conns 16)
  calls=$("$py" -c 'import json,sys; print(json.loads(sys.argv[1])["counts"].get("/cached", 0))' "$(stats)")
  requests=$(field "$cache" requests)
  result[cache_$mode]=$("$py" -c "print(f'{$calls / $requests:.4f} ($calls / $requests)')")
  result[p50_$mode]=$(field "$cache" p50_ms)
  # A store-level lookup: a new key fetched through replica 0, then asked of replicas 1-3 (their first-level
  # miss: the store when on, the partner when off), then asked of them again (a first-level hit); medians in ms.
  level2=$("$py" - "${ports[@]}" <<'PY'
import http.client, statistics, sys, time
ports = [int(p) for p in sys.argv[1:]]
conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for port in ports]
def get(i, key):
    start = time.perf_counter()
    conns[i].request("GET", f"/cached?k={key}", headers={"Host": "fleet"})
    conns[i].getresponse().read()
    return (time.perf_counter() - start) * 1000
first, again = [], []
for n in range(300):
    key = f"l2-{n}-{time.time_ns()}"
    get(0, key)
    first += [get(i, key) for i in (1, 2, 3)]
    again += [get(i, key) for i in (1, 2, 3)]
print(round(statistics.median(first), 3), round(statistics.median(again), 3))
PY
)
  result[l2_$mode]=$level2
  reset
  quota=$(drive --path /quota --seconds "$seconds" --conns 32)
  read -r mean max <<<"$(quota_window "$(stats)")"
  result[quota_$mode]="$mean/s (max $max in one second)"
  if [ "$mode" = 1 ]; then
    half=$((rate / 2))
    reset
    drive --path /quota --seconds 8 --conns 8 --rate "$half" >"$work/kill.json" &
    driver=$!
    sleep 2
    kill -KILL "$store_pid"; wait "$store_pid" 2>/dev/null
    sleep 2
    start_store
    back=$(date +%s.%N)
    until [ "$(redis-cli -p "$store_port" --raw EXISTS 'bench:{quota}:quota' 2>/dev/null)" = 1 ]; do
      sleep 0.02
      [ "$(echo "$(date +%s.%N) - $back > 10" | bc)" = 1 ] && break
    done
    result[back]=$(echo "$(date +%s.%N) - $back" | bc | xargs printf '%.2f')
    wait "$driver"
    kill_run=$(cat "$work/kill.json")
    result[kill_failed]="$(field "$kill_run" failed) of $(field "$kill_run" requests)"
  fi
  stop_fleet
done

echo "| fleet of 4, partner quota $rate/s | store off | store on |"
echo "| --- | --- | --- |"
echo "| partner calls per client request, cacheable call (200 keys, 5 s) | ${result[cache_0]} | ${result[cache_1]} |"
echo "| partner rate under a $rate/s quota, 10 s window | ${result[quota_0]} | ${result[quota_1]} |"
echo "| p50 of a cached call (mostly first-level hits) | ${result[p50_0]} ms | ${result[p50_1]} ms |"
read -r l2_0 l1_0 <<<"${result[l2_0]}"
read -r l2_1 l1_1 <<<"${result[l2_1]}"
echo "| p50, key another replica fetched: first ask (store level when on) / again (worker cache) | $l2_0 / $l1_0 ms | $l2_1 / $l1_1 ms |"
echo "| latency a store lookup adds to a cached call (p50 store level − p50 worker cache) | | $(echo "$l2_1 - $l1_1" | bc | xargs printf '%.3f') ms |"
echo
echo "store killed 2 s into a paced run ($((rate / 2))/s), restarted 2 s later: failed requests ${result[kill_failed]}; leased from the store again ${result[back]} s after its restart"
