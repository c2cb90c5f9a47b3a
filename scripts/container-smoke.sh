#!/usr/bin/env bash
# Container smoke test: build the fanout image, run it, check it answers, stop it, check it stopped cleanly;
# then run it with a configuration of one's own (no admin_listen) and check the HEALTHCHECK still works.
#
#   scripts/container-smoke.sh
#
# Uses docker when `docker info` works, else podman. On a machine with the local base-image stand-ins
# (/tmp/local-base-images/containers.conf, made by shared/tools/local-base-images.sh) podman runs with
# that containers.conf, runc, cgroupfs and --pull=never.
#
# Environment (all optional):
#   PORT=18180          port fanout listens on (host network, so it must be free on this machine)
#   ADMIN_PORT=PORT+1   port of its admin listener (/readyz, /metrics)
#   IMAGE=fanout:dev    tag to build and run
#   CONTEXT=<repo root> build context;  DOCKERFILE=$CONTEXT/Dockerfile
#   ENGINE=docker|podman  skip the detection
#   SKIP_BUILD=1        run an image that is already built
#   BUILD_TIMEOUT=1800  seconds the image build may take
#
# Every wait is bounded; any failed check exits non-zero. The container is removed on exit; the image is kept.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PORT=${PORT:-18180}
IMAGE=${IMAGE:-fanout:dev}
CONTEXT=${CONTEXT:-$(dirname "$here")}
DOCKERFILE=${DOCKERFILE:-$CONTEXT/Dockerfile}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}
NAME=fanout-smoke-$$
OWN=fanout-smoke-own-$$
LOCAL_CONF=/tmp/local-base-images/containers.conf

say() { printf -- '--- %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed"; }
need curl

# --- engine ---------------------------------------------------------------------------------------------
engine_args=()
build_args=()
run_args=()
if [ -z "${ENGINE:-}" ]; then
    if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then ENGINE=docker
    elif command -v podman >/dev/null 2>&1; then ENGINE=podman
    else fail "neither a working docker nor podman"; fi
fi
need "$ENGINE"
if [ "$ENGINE" = podman ]; then
    if [ -f "$LOCAL_CONF" ]; then
        # this workplace: local stand-ins for the base images, runc + cgroupfs, no default ulimits
        export CONTAINERS_CONF=$LOCAL_CONF
        engine_args+=(--runtime runc --cgroup-manager cgroupfs)
        build_args+=(--pull=never)
    fi
    # podman's default OCI image format drops HEALTHCHECK; docker format keeps it, as docker would.
    build_args+=(--format docker)
    # no systemd timer for the periodic healthcheck; this script runs it itself
    run_args+=(--health-interval disable)
fi
eng() { "$ENGINE" "${engine_args[@]}" "$@"; }
say "engine: $ENGINE ${engine_args[*]}"

logdir=$(mktemp -d)
cleanup() {
    local rc=$?
    for container in "$NAME" "$OWN"; do
        eng container inspect "$container" >/dev/null 2>&1 || continue
        if [ "$rc" -ne 0 ]; then
            echo "--- container logs ($container)" >&2
            timeout 20 "$ENGINE" "${engine_args[@]}" logs "$container" 2>&1 | tail -n 40 >&2 || true
        fi
        timeout 30 "$ENGINE" "${engine_args[@]}" rm -f "$container" >/dev/null 2>&1 || true
    done
    rm -rf "$logdir"
    [ "$rc" -eq 0 ] && echo "PASS: container smoke test" || echo "FAIL: container smoke test (exit $rc)" >&2
}
trap cleanup EXIT

# --- build ----------------------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    [ -f "$DOCKERFILE" ] || fail "no Dockerfile at $DOCKERFILE"
    say "build $IMAGE from $CONTEXT ($DOCKERFILE)"
    start=$SECONDS
    if ! timeout "$BUILD_TIMEOUT" "$ENGINE" "${engine_args[@]}" build "${build_args[@]}" \
            -f "$DOCKERFILE" -t "$IMAGE" "$CONTEXT" >"$logdir/build.log" 2>&1; then
        tail -n 40 "$logdir/build.log" >&2
        fail "image build failed (or took over ${BUILD_TIMEOUT}s)"
    fi
    say "built in $((SECONDS - start)) s"
fi
eng image inspect "$IMAGE" >/dev/null 2>&1 || fail "no image $IMAGE"

# --- run ------------------------------------------------------------------------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then fail "port $PORT is already in use; set PORT"; fi
say "run $NAME on host network, port $PORT, read-only root, no capabilities"
ADMIN_PORT=${ADMIN_PORT:-$((PORT + 1))}
if (exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT") 2>/dev/null; then fail "port $ADMIN_PORT is already in use; set ADMIN_PORT"; fi
if ! eng run -d --name "$NAME" --network host -e "FANOUT_PORT=$PORT" -e "FANOUT_ADMIN=127.0.0.1:$ADMIN_PORT" \
        --read-only --cap-drop ALL --security-opt no-new-privileges "${run_args[@]}" \
        "$IMAGE" >"$logdir/run.log" 2>&1; then
    cat "$logdir/run.log" >&2
    fail "container did not start"
fi

# /healthz on the admin listener, as the HEALTHCHECK and Kubernetes probes use it.
wait_healthz() {
    local container=$1 deadline=$((SECONDS + 30))
    say "wait for /healthz on the admin listener, port $ADMIN_PORT (at most 30 s)"
    until curl -fsS --max-time 2 "http://127.0.0.1:$ADMIN_PORT/healthz" >"$logdir/healthz" 2>/dev/null; do
        [ "$(eng inspect "$container" --format '{{.State.Running}}' 2>/dev/null)" = true ] \
            || fail "$container exited before /healthz answered"
        [ "$SECONDS" -lt "$deadline" ] || fail "/healthz did not answer within 30 s"
        sleep 0.5
    done
    grep -q '^ok' "$logdir/healthz" || fail "/healthz body: $(cat "$logdir/healthz")"
    echo "healthz: $(cat "$logdir/healthz")"
}
# The image's HEALTHCHECK, where the engine kept it.
run_healthcheck() {
    local container=$1
    if [ "$(eng image inspect "$IMAGE" --format '{{if .Config.Healthcheck}}yes{{end}}' 2>/dev/null)" != yes ]; then
        echo "healthcheck: none in the image (skipped)"
    elif [ "$ENGINE" = podman ]; then
        timeout 20 podman "${engine_args[@]}" healthcheck run "$container" || fail "HEALTHCHECK failed in $container"
        echo "healthcheck: healthy"
    else
        say "wait for the HEALTHCHECK to report healthy (at most 30 s)"
        local deadline=$((SECONDS + 30))
        until [ "$(eng inspect "$container" --format '{{.State.Health.Status}}')" = healthy ]; do
            [ "$SECONDS" -lt "$deadline" ] || fail "HEALTHCHECK not healthy within 30 s: $(eng inspect "$container" --format '{{json .State.Health}}')"
            sleep 1
        done
        echo "healthcheck: healthy"
    fi
}
wait_healthz "$NAME"

say "admin listener on $ADMIN_PORT: /readyz"
readyz=$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/readyz") || fail "/readyz failed"
[ "$readyz" = 200 ] || fail "/readyz answered $readyz"
echo "readyz: $readyz"

uid=$(timeout 20 "$ENGINE" "${engine_args[@]}" exec "$NAME" id -u) || fail "exec id failed"
[ "$uid" = 10001 ] || fail "container runs as uid $uid, expected 10001"
echo "uid: $uid"

say "GET /demo"
code=$(curl -sS --max-time 5 -D "$logdir/demo.h" -o "$logdir/demo.body" \
    -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT/demo") || fail "GET /demo failed"
echo "status, seconds: $code"
echo "body: $(cat "$logdir/demo.body")"
[ "${code%% *}" = 200 ] || fail "/demo answered ${code%% *}"
for member in profile orders score; do
    grep -q "\"$member\":" "$logdir/demo.body" || fail "/demo body has no \"$member\""
done
grep -qi '^X-Fanout-Complete: *true' "$logdir/demo.h" || fail "/demo lacks X-Fanout-Complete: true"
grep -i '^X-Fanout-Complete' "$logdir/demo.h" | tr -d '\r'

say "GET /metrics on the admin listener"
curl -fsS --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$logdir/metrics" || fail "/metrics failed"
grep -q '^fanout_requests_total{route="GET /demo",status="200"} ' "$logdir/metrics" \
    || fail "/metrics does not count the /demo request"
grep -E '^fanout_requests_total\{route="GET /demo"' "$logdir/metrics"

run_healthcheck "$NAME"

# --- stop: SIGTERM with a request in flight ----------------------------------------------------------------
say "SIGTERM with a /demo request in flight"
curl -sS --max-time 15 -o "$logdir/inflight.body" -w '%{http_code}' "http://127.0.0.1:$PORT/demo" \
    >"$logdir/inflight.code" 2>&1 &
inflight=$!
sleep 0.15
start_ns=$(date +%s%N)
eng kill --signal TERM "$NAME" >/dev/null || fail "could not send SIGTERM"
# fanout drains for at most shutdown_timeout (10 s by default): allow 15 s
if ! exit_code=$(timeout 15 "$ENGINE" "${engine_args[@]}" wait "$NAME"); then
    fail "container still running 15 s after SIGTERM"
fi
stop_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
exit_code=$(eng inspect "$NAME" --format '{{.State.ExitCode}}')
echo "stopped in ${stop_ms} ms, exit code $exit_code"
wait "$inflight" || true
echo "in-flight request: $(cat "$logdir/inflight.code")"
[ "$exit_code" = 0 ] || fail "exit code $exit_code after SIGTERM, expected 0"
[ "$(cat "$logdir/inflight.code")" = 200 ] || fail "in-flight /demo was not answered 200 during the drain"
timeout 20 "$ENGINE" "${engine_args[@]}" logs "$NAME" >"$logdir/logs" 2>&1 || true
grep -q draining "$logdir/logs" || fail "logs do not show draining"
grep -q stopped "$logdir/logs" || fail "logs do not show stopped"
grep -E 'draining|stopped' "$logdir/logs"

# --- a configuration of one's own, without admin_listen: FANOUT_ADMIN still serves the probes -------------
say "run $OWN with a mounted configuration that has no admin_listen"
printf 'listen 127.0.0.1:%s\nroute GET /hello {\n    respond 200 `{"hello": "world"}`\n}\n' "$PORT" >"$logdir/own.conf"
chmod 644 "$logdir/own.conf"
if ! eng run -d --name "$OWN" --network host -e "FANOUT_ADMIN=127.0.0.1:$ADMIN_PORT" \
        -v "$logdir/own.conf:/etc/fanout/proxy.conf:ro" \
        --read-only --cap-drop ALL --security-opt no-new-privileges "${run_args[@]}" \
        "$IMAGE" >"$logdir/run-own.log" 2>&1; then
    cat "$logdir/run-own.log" >&2
    fail "container $OWN did not start"
fi
wait_healthz "$OWN"
run_healthcheck "$OWN"
hello=$(curl -sS --max-time 2 "http://127.0.0.1:$PORT/hello") || fail "GET /hello failed"
[ "$hello" = '{"hello": "world"}' ] || fail "/hello answered $hello"
echo "own route: $hello"
timeout 30 "$ENGINE" "${engine_args[@]}" rm -f "$OWN" >/dev/null

# --- size -----------------------------------------------------------------------------------------------
size=$(eng image inspect "$IMAGE" --format '{{.Size}}')
echo "image $IMAGE: $size bytes ($((size / 1000000)) MB)"
