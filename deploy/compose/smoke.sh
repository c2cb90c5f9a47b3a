#!/usr/bin/env bash
# Runs deploy/compose/fleet.yaml end to end with podman-compose (or docker compose) and checks what the fleet
# promises (docs/operations/fleet.md, "Compose"); not part of `swift test` or .ci/run: the image builds take
# minutes (the fanout image compiles fanout in release mode).
#
#   deploy/compose/smoke.sh        builds the images, brings the fleet up, checks, tears it down
#
#   1. cache: 24 keys of the cacheable GET /cached?k=N, each asked first of one fanout, then of the three others:
#      the partner must count 24 calls for 96 client requests (each answer fetched once across the fleet).
#   2. quota: 5 s of closed-loop GET /quota spread over the four (rate 200/s shared): the partner's rate.
#   3. store stopped (`stop store`) during 6 s of paced requests over the four (cacheable and quota calls): every
#      request must get 200; then the store is started again and the seconds until a replica's answer serves
#      another replica again are measured.
#
# Environment: COMPOSE (default: podman-compose; `docker compose` works too), SMOKE_BUILD_TIMEOUT (seconds for
# the image builds, default 3600). Podman reads CONTAINERS_CONF as usual (a machine that needs runc and
# cgroupfs says so there: `[engine] runtime = "runc"`, `cgroup_manager = "cgroupfs"`). The published ports are
# free loopback ports picked at start; the containers, their network and the temporary files are removed on
# exit (the images are kept, so a second run does not rebuild them). Exit status 0 when every check holds.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
read -r -a compose <<<"${COMPOSE:-podman-compose}"
project=fanout-smoke-$$
work=$(mktemp -d)
failures=0

# Five free loopback ports (bound and released at once; the compose publishes them right after).
read -r FLEET_PORT1 FLEET_PORT2 FLEET_PORT3 FLEET_PORT4 FLEET_PARTNER_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
export FLEET_PORT1 FLEET_PORT2 FLEET_PORT3 FLEET_PORT4 FLEET_PARTNER_PORT
ports=("$FLEET_PORT1" "$FLEET_PORT2" "$FLEET_PORT3" "$FLEET_PORT4")

fc() { timeout 300 "${compose[@]}" -p "$project" -f "$here/fleet.yaml" "$@"; }
cleanup() {
  fc down -t 2 >"$work/down.log" 2>&1 || cat "$work/down.log" >&2
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check() {  # check NAME CONDITION-STATUS
  if [ "$2" -eq 0 ]; then echo "ok    $1"; else echo "FAIL  $1"; failures=$((failures + 1)); fi
}
# The partner's count for a path (0 when it has none).
partner_count() {
  curl -fsS "http://127.0.0.1:$FLEET_PARTNER_PORT/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get(sys.argv[1], 0))' "$1"
}
# The status of one GET, with the fleet's one Host (part of the call cache's key, as behind a load balancer).
status_of() { curl -s -o /dev/null -m 10 -H 'Host: fleet' -w '%{http_code}' "http://127.0.0.1:$1$2"; }

echo "== build (at most ${SMOKE_BUILD_TIMEOUT:-3600} s)"
start=$(date +%s)
# fanout2..4 use fanout1's image: building them too would run four identical release builds at once.
if ! timeout "${SMOKE_BUILD_TIMEOUT:-3600}" "${compose[@]}" -p "$project" -f "$here/fleet.yaml" build \
  store partner fanout1 >"$work/build.log" 2>&1; then
  tail -30 "$work/build.log" >&2
  echo "FAIL  image build" >&2
  exit 1
fi
echo "images built in $(($(date +%s) - start)) s"

echo "== up"
fc up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; echo "FAIL  up" >&2; exit 1; }
# Up: each fanout answers (404 on a path without a route), and has had time to connect to the store.
deadline=$(($(date +%s) + 60))
for port in "${ports[@]}" "$FLEET_PARTNER_PORT"; do
  until [ "$(status_of "$port" /nothing-here)" = 404 ] || [ "$(status_of "$port" /stats)" = 200 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { fc logs >&2; echo "FAIL  port $port not up in 60 s" >&2; exit 1; }
    sleep 0.2
  done
done
sleep 1
curl -fsS "http://127.0.0.1:$FLEET_PARTNER_PORT/reset" >/dev/null

echo "== 1. cache: 24 keys, each asked of all four fanouts"
bad=0
for k in $(seq 1 24); do
  s=$(status_of "${ports[$((k % 4))]}" "/cached?k=$k"); [ "$s" = 200 ] || bad=$((bad + 1))
done
sleep 0.2   # the store write of the last answer
for k in $(seq 1 24); do
  for i in 1 2 3; do
    s=$(status_of "${ports[$(((k + i) % 4))]}" "/cached?k=$k"); [ "$s" = 200 ] || bad=$((bad + 1))
  done
done
calls=$(partner_count /cached)
echo "96 client requests (not 200: $bad), partner calls: $calls ($(python3 -c "print(round($calls / 96, 3))") per request; unshared: 4 per key, 1.0)"
[ "$bad" -eq 0 ] && [ "$calls" -eq 24 ]; check "each cacheable answer fetched once across the fleet" $?

echo "== 2. quota: 5 s above the shared 200/s"
ports_csv=$(IFS=,; echo "${ports[*]}")
python3 "$repo/Benchmarks/fleet/driver.py" --ports "$ports_csv" --path /quota --seconds 5 --conns 16 >"$work/quota.json"
curl -fsS "http://127.0.0.1:$FLEET_PARTNER_PORT/stats" >"$work/stats.json"
python3 - "$work/quota.json" "$work/stats.json" <<'EOF' | tee "$work/quota.txt"
import json, sys
load = json.load(open(sys.argv[1])); stats = json.load(open(sys.argv[2]))
per = {int(k): v for k, v in stats["seconds"].get("/quota", {}).items()}
whole = [per[s] for s in sorted(per)[1:-1]]   # whole seconds only
mean = sum(whole) / len(whole) if whole else 0
print(f"client requests {load['requests']} (statuses {load['statuses']}), partner /quota calls {sum(per.values())}, "
      f"whole seconds {whole}: mean {mean:.1f}/s, max {max(whole or [0])}")
print("QUOTA_OK" if whole and max(whole) <= 220 and mean >= 150 else "QUOTA_BAD")
EOF
grep -q QUOTA_OK "$work/quota.txt"; check "the fleet holds the shared quota (mean 150..200/s, no second above 220)" $?

echo "== 3. store stopped during 6 s of paced requests, then started again"
python3 "$repo/Benchmarks/fleet/driver.py" --ports "$ports_csv" --path /cached --keys 5000 --seconds 6 --conns 8 \
  --rate 100 >"$work/down-cached.json" &
cached_load=$!
python3 "$repo/Benchmarks/fleet/driver.py" --ports "$ports_csv" --path /quota --seconds 6 --conns 4 --rate 40 \
  >"$work/down-quota.json" &
quota_load=$!
sleep 1.5
fc stop -t 0 store >"$work/stop.log" 2>&1 || cat "$work/stop.log" >&2
wait "$cached_load" "$quota_load"
for f in down-cached down-quota; do echo "$f: $(cat "$work/$f.json")"; done
failed=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["failed"] for f in sys.argv[1:]))' \
  "$work/down-cached.json" "$work/down-quota.json")
[ "$failed" -eq 0 ]; check "no request failed while the store was stopped (failed: $failed)" $?
# Still down: a key asked of two fanouts is fetched twice (each has only its own cache).
before=$(partner_count /cached)
status_of "${ports[0]}" "/cached?k=down" >/dev/null; status_of "${ports[1]}" "/cached?k=down" >/dev/null
echo "store down: a new key asked of two fanouts, partner calls $(($(partner_count /cached) - before))"

fc start store >"$work/start.log" 2>&1 || cat "$work/start.log" >&2
started=$(date +%s.%N)
used=""
for n in $(seq 1 100); do   # at most about 10 s
  before=$(partner_count /cached)
  status_of "${ports[0]}" "/cached?k=back$n" >/dev/null
  sleep 0.05
  status_of "${ports[1]}" "/cached?k=back$n" >/dev/null
  if [ $(($(partner_count /cached) - before)) -eq 1 ]; then
    used=$(python3 -c "print(round($(date +%s.%N) - $started, 2))"); break
  fi
  sleep 0.05
done
echo "store started again: one fanout's answer served another ${used:-never} s after \`start store\` returned"
[ -n "$used" ]; check "the store is used again after its restart" $?

echo "== logs: store state changes"
for i in 1 2 3 4; do fc logs "fanout$i" 2>&1 | grep -E '^store|store [0-9]' | head -4 | sed "s/^/fanout$i: /"; done

[ "$failures" -eq 0 ] && echo "smoke: all checks hold" || echo "smoke: $failures check(s) failed"
[ "$failures" -eq 0 ]
